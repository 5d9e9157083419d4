// The control channel and the operations that change which process or image the agent is. The channel
// sits at a reserved high number with close-on-exec, moves out of the way of a scenario's dup2, survives
// the agent's own exec, and is replaced by a fresh one in a child (Channel.swift).
package main

import (
	"syscall"
)

func fcntl(fd, cmd, arg int) (int, syscall.Errno) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	return int(r), errno
}

func softNofile() uint64 {
	var limit syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit)
	return limit.Cur
}

func reservedNumber() int {
	limit := softNofile()
	if limit-1 < preferredControl {
		return int(limit - 1)
	}
	return preferredControl
}

// placeControl moves the inherited channel to the reserved number `at` (close-on-exec) and frees the old
// number. It stays where it is when it is there already, or when `at` holds another descriptor (a
// scenario's, after an exec below a lowered limit: found by `handoff fuzz`); the hello says where.
func placeControl(inherited, at int) int {
	if _, errno := fcntl(at, syscall.F_GETFD, 0); inherited == at || errno == 0 {
		fcntl(inherited, syscall.F_SETFD, syscall.FD_CLOEXEC)
		return inherited
	}
	if err := syscall.Dup3(inherited, at, syscall.O_CLOEXEC); err != nil {
		fatal("cannot place control channel", err)
	}
	syscall.Close(inherited)
	return at
}

// placeChildControl: a fork's child puts its channel on the parent's channel number `at`, as a forked
// child's would replace the inherited copy there; when a lowered RLIMIT_NOFILE no longer reaches that
// number, the channel stays where it is (and any copy at `at` goes). The hello says where.
func placeChildControl(channel, at int) int {
	if channel == at {
		fcntl(at, syscall.F_SETFD, syscall.FD_CLOEXEC)
		return at
	}
	if syscall.Dup3(channel, at, syscall.O_CLOEXEC) == nil {
		syscall.Close(channel)
		return at
	}
	syscall.Close(at) // ForkExec closed the parent's close-on-exec channel already; nothing else is there
	fcntl(channel, syscall.F_SETFD, syscall.FD_CLOEXEC)
	return channel
}

func (a *agent) isChannel(fd int32) bool {
	if fd == a.control {
		return true
	}
	for _, h := range a.hidden {
		if h == fd {
			return true
		}
	}
	return false
}

// isHidden: one of the other agents' channels the runner listed for this request (in a shared table, or in
// the table a pidfd_getfd or reopen reaches into).
func (a *agent) isHidden(fd int32) bool {
	for _, h := range a.hidden {
		if h == fd {
			return true
		}
	}
	return false
}

func (a *agent) closeHidden() {
	for _, h := range a.hidden {
		syscall.Close(int(h))
	}
}

// moveHigh copies a transient descriptor out of the scenario's way (close-on-exec) and closes the
// original, so that it never takes the lowest free number the scenario's next descriptor would get.
//
// When the channel is below the limit, it first tries the free numbers just below the channel, unlike
// the Swift agent (which goes above it): the table already spans them. Growing the table (a number above
// 1023 when it holds 1024 entries) makes the kernel wait for an RCU grace period (expand_fdtable's
// synchronize_rcu, ~10 ms here) whenever the table is shared, and a Go process's threads always share it.
// Then above the channel. When the channel is not below the limit (control+1 >= RLIMIT_NOFILE), the
// highest free number below the limit, scanning down from limit-1: the top of the range, where the
// runner's model knows the channels are (ReferenceModel.harnessNumbers). The number is transient either
// way: closed before the answer, as docs/protocol.md requires.
func (a *agent) moveHigh(fd int) int {
	limit := softNofile()
	if limit > 1<<31-1 {
		limit = 1<<31 - 1
	}
	moved := -1
	if uint64(a.control)+1 < limit {
		for candidate := int(a.control) - 1; candidate > fd && candidate >= int(a.control)-16; candidate-- {
			if _, errno := fcntl(candidate, syscall.F_GETFD, 0); errno == syscall.EBADF {
				if syscall.Dup3(fd, candidate, syscall.O_CLOEXEC) == nil {
					moved = candidate
				}
				break
			}
		}
		if moved < 0 {
			if n, errno := fcntl(fd, syscall.F_DUPFD_CLOEXEC, int(a.control)+1); errno == 0 {
				moved = n
			}
		}
	}
	if moved < 0 {
		candidate := int(limit) - 1
		for candidate > fd {
			if _, errno := fcntl(candidate, syscall.F_GETFD, 0); errno != 0 {
				break
			}
			candidate--
		}
		if candidate > fd && syscall.Dup3(fd, candidate, syscall.O_CLOEXEC) == nil {
			moved = candidate
		}
	}
	if moved < 0 {
		return fd
	}
	syscall.Close(fd)
	return moved
}

// moveControl: a scenario dup2()s onto the channel's number, so the channel moves first (above it when
// the limit allows, else to the highest free number below it) and the runner is told in `ctl`.
func (a *agent) moveControl() int32 {
	moved, errno := fcntl(int(a.control), syscall.F_DUPFD_CLOEXEC, int(a.control)+1)
	if errno != 0 {
		candidate := int(a.control) - 1
		for candidate >= 0 {
			if _, e := fcntl(candidate, syscall.F_GETFD, 0); e != 0 {
				break
			}
			candidate--
		}
		if candidate < 0 || syscall.Dup3(int(a.control), candidate, syscall.O_CLOEXEC) != nil {
			fatal("cannot move control channel", errno)
		}
		moved = candidate
	}
	a.control = int32(moved) // the dup2 onto the old number closes the old copy
	return a.control
}

// duplicate is dup2 (flags nil) or dup3, moving the control channel first when the target is its number.
func (a *agent) duplicate(fd, target int32, flags *int, ans *answer) {
	invalidFlags := flags != nil && *flags&^syscall.O_CLOEXEC != 0
	// dup3 checks its flags and old == new before the descriptor: those errors win over EBADF.
	if a.isChannel(fd) && !invalidFlags && !(flags != nil && fd == target) {
		ans.fail(syscall.EBADF)
		return
	}
	for _, h := range a.hidden {
		if h == target {
			ans.refusal = "dup2 onto another agent's control channel is not supported"
			return
		}
	}
	moved := int32(-1)
	if target == a.control && fd != a.control {
		moved = a.moveControl()
	}
	if flags == nil {
		ans.record(timed(func() (int, error) { return int(target), syscall.Dup2(int(fd), int(target)) }), true)
	} else {
		f := *flags
		ans.record(timed(func() (int, error) { return int(target), syscall.Dup3(int(fd), int(target), f) }), true)
	}
	// A call that failed (EBADF: `fd` is not open; EINVAL: bad flags) left the channel's old copy at the
	// target: it goes, as the call would have replaced it (found by `handoff fuzz`: a LEAK of the channel).
	if moved >= 0 && ans.errno != 0 {
		syscall.Close(int(target))
	}
	if moved >= 0 {
		ans.ctl, ans.hasCtl = moved, true
	}
}

// closeRangeAroundChannels: close_range across control channels closes everything in the range but the
// channels, one call per gap. CLOSE_RANGE_CLOEXEC alone needs no split (channels are close-on-exec), nor do
// flags the kernel refuses (one call gets its EINVAL).
func (a *agent) closeRangeAroundChannels(first, last, flags uint32) outcome {
	marksOnly := flags&closeRangeCloexec != 0 && flags&closeRangeUnshare == 0
	var inside []uint32
	for _, c := range append([]int32{a.control}, a.hidden...) {
		if u := uint32(c); u >= first && u <= last {
			inside = append(inside, u)
		}
	}
	closeRange := func(low, high uint32) outcome {
		return rawTimed(sysCloseRange, uintptr(low), uintptr(high), uintptr(flags))
	}
	refused := flags&^(closeRangeCloexec|closeRangeUnshare) != 0
	if marksOnly || refused || first > last || len(inside) == 0 {
		return closeRange(first, last)
	}
	sortUint32(inside)
	// Gaps in 64 bits: `last` may be ~0U, and last + 1 must not wrap.
	type gap struct{ low, high uint32 }
	var gaps []gap
	start := uint64(first)
	for _, c := range inside {
		if uint64(c) > start {
			gaps = append(gaps, gap{uint32(start), c - 1})
		}
		start = uint64(c) + 1
	}
	if start <= uint64(last) {
		gaps = append(gaps, gap{uint32(start), last})
	}
	var total uint64
	for _, g := range gaps {
		part := closeRange(g.low, g.high)
		total += part.ns
		if part.errno != 0 {
			part.ns = total
			return part
		}
	}
	return outcome{0, 0, total}
}

func sortUint32(values []uint32) {
	for i := 1; i < len(values); i++ {
		for j := i; j > 0 && values[j] < values[j-1]; j-- {
			values[j], values[j-1] = values[j-1], values[j]
		}
	}
}

// exec re-executes the agent (/proc/self/exe) keeping the channel; answers only on failure, since the
// new image says hello instead.
func (a *agent) exec(args, env []string, ans *answer) {
	setEnvironment(env)
	// The channel must survive this one exec; the new image sets close-on-exec again at start.
	fcntl(int(a.control), syscall.F_SETFD, 0)
	syscall.Setenv(envControlFD, itoa(int(a.control)))
	syscall.Setenv(envParent, itoa(syscall.Getppid()))
	argv0 := "handoff-agent-go"
	if len(a.args) > 0 {
		argv0 = a.args[0]
	}
	ans.record(timed(func() (int, error) {
		return -1, syscall.Exec("/proc/self/exe", append([]string{argv0}, args...), syscall.Environ())
	}), false)
	fcntl(int(a.control), syscall.F_SETFD, syscall.FD_CLOEXEC)
}

// launch execs a launcher under test. The channel stays close-on-exec, so it closes when exec succeeds.
func (a *agent) launch(path string, args, env []string, ans *answer) {
	setEnvironment(env)
	// What the agent's own exec relies on must not reach the agents the launcher starts.
	syscall.Unsetenv(envControlFD)
	syscall.Unsetenv(envParent)
	ans.record(timed(func() (int, error) {
		return -1, syscall.Exec(path, append([]string{path}, args...), syscall.Environ())
	}), false)
}

func setEnvironment(variables []string) {
	for _, v := range variables {
		for i := 0; i < len(v); i++ {
			if v[i] == '=' {
				syscall.Setenv(v[:i], v[i+1:])
				break
			}
		}
	}
}
