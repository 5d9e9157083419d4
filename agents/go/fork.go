// fork, the Go way. Go has no fork(): the runtime is multithreaded, and a forked copy would hold one
// thread of it. What Go programs (and the container runtimes built on them) do instead is
// syscall.ForkExec, under os/exec: a child that execs at once, receiving the descriptors listed in
// ProcAttr.Files (os/exec's Stdin/Stdout/Stderr + ExtraFiles) at the index they are listed at, plus
// whatever the parent holds without close-on-exec.
//
// The agent's `fork` is that: it ForkExecs /proc/self/exe with the parent's argv and environment and
// Files mapping every descriptor of the scenario to its own number, so the child starts with the same
// descriptors sharing the same open file descriptions. What differs from fork(2) is Go's doing, and the
// oracle reports it as findings attributed to this agent (README.md lists them):
//   - ForkExec clears close-on-exec on every descriptor in Files (dup3(fd, i, 0), or F_SETFD 0 when
//     fd == i): the child's copies are all inheritable, whatever the parent's flags;
//   - the child is a fresh image (a new agent), not a copy of the parent's memory.
//
// The child learns where its channel is from HANDOFF_GO_FORKED, which it removes from its environment at
// start, so that it reports the same environment as a forked child would.
package main

import (
	"syscall"
)

func (a *agent) fork(ans *answer) {
	ends, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		ans.fail(errnoOf(err))
		return
	}
	parentEnd := a.moveHigh(ends[0])
	childEnd := a.moveHigh(ends[1])
	defer syscall.Close(parentEnd)
	defer syscall.Close(childEnd)

	open, errno := a.scenarioDescriptors(parentEnd, childEnd)
	if errno != 0 {
		ans.fail(errno)
		return
	}
	highest := -1
	for _, fd := range open {
		if fd > highest {
			highest = fd
		}
	}
	// Files[i] = i for every open descriptor; ^0 (-1) for the gaps, which ForkExec closes in the child.
	files := make([]uintptr, highest+1)
	for i := range files {
		files[i] = ^uintptr(0)
	}
	for _, fd := range open {
		files[fd] = uintptr(fd)
	}
	// The child's end of its new channel: listed when it falls inside Files (a gap would close it),
	// otherwise inherited the way Go lets any descriptor without close-on-exec through.
	if childEnd < len(files) {
		files[childEnd] = uintptr(childEnd)
	} else {
		fcntl(childEnd, syscall.F_SETFD, 0)
	}
	forked := itoa(childEnd) + "," + itoa(int(a.control)) + "," + itoa(syscall.Getpid())
	if restoreCloexec {
		// Diagnostic build only (restore_on.go): which descriptors the child marks close-on-exec again.
		for _, fd := range open {
			if flags, errno := fcntl(fd, syscall.F_GETFD, 0); errno == 0 && flags&syscall.FD_CLOEXEC != 0 {
				forked += "," + itoa(fd)
			}
		}
	}
	env := append(syscall.Environ(), envForked+"="+forked)
	attributes := &syscall.ProcAttr{Env: env, Files: files, Sys: &syscall.SysProcAttr{}}
	result := timed(func() (int, error) { return syscall.ForkExec("/proc/self/exe", a.args, attributes) })
	if result.errno != 0 {
		ans.record(result, false)
		return
	}
	// The runner's end travels in a message of its own and is closed (deferred) before the answer, so
	// that when the runner sees the answer this table holds nothing but the scenario's descriptors.
	a.replyPassing(&message{verb: "channel"}, parentEnd)
	ans.record(result, false)
}

// scenarioDescriptors lists this table's descriptors but the channels and the fork's own socket pair,
// from /proc/self/fd (the directory's descriptor is transient and left out).
func (a *agent) scenarioDescriptors(exclude ...int) ([]int, syscall.Errno) {
	dir, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, errnoOf(err)
	}
	defer syscall.Close(dir)
	var names []string
	buffer := make([]byte, 8192)
	for {
		n, err := syscall.ReadDirent(dir, buffer)
		if err != nil {
			return nil, errnoOf(err)
		}
		if n <= 0 {
			break
		}
		_, _, names = syscall.ParseDirent(buffer[:n], -1, names)
	}
	var open []int
	for _, name := range names {
		fd, ok := atoi(name)
		if !ok || fd == dir || a.isChannel(int32(fd)) {
			continue
		}
		excluded := false
		for _, e := range exclude {
			excluded = excluded || e == fd
		}
		if !excluded {
			open = append(open, fd)
		}
	}
	return open, 0
}
