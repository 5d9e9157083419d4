// handoff-agent-go: the Go agent of handoff (docs/protocol.md, version 2).
//
// It reads one request at a time from its control channel, performs exactly that operation with Go's
// syscall package and answers with the outcome. It imports neither os nor net nor fmt: package os's
// init raises RLIMIT_NOFILE to the hard limit (Go 1.19) and wraps descriptors 0-2 in *os.File, which
// registers a non-blocking one with the netpoller (an epoll descriptor and a pipe in the table), and net
// needs the netpoller for every socket. Between requests the table holds exactly the scenario's
// descriptors plus the channel (README.md, "What the agent keeps out of its table").
package main

import (
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// The process's argv, which the runtime hands to package os; read here without importing os.
//
//go:linkname runtimeArgs os.runtime_args
func runtimeArgs() []string

func init() {
	// The main goroutine stays on the main thread: the parent-death signal, unshare(CLONE_FILES) and
	// ForkExec's parent-death bookkeeping are per thread, and /proc/PID/fd is the main thread's table.
	runtime.LockOSThread()
}

type agent struct {
	control  int32
	args     []string // argv of the current image, argv[0] included
	hidden   []int32  // other agents' channels in a table shared with this one (this request)
	slots    []int32  // loop slots
	keepData bool     // read and recv copy their bytes into the answer (not inside loops)
	packet   []byte
	io       []byte
	oob      []byte
}

func main() {
	a := start()
	a.serve()
}

func start() *agent {
	// A write to a broken pipe must fail with EPIPE. Go's runtime already turns SIGPIPE from raw
	// syscalls into EPIPE; SIG_IGN (what signal.Ignore sets) also reaches exec'd images, as with the
	// Swift agent.
	ignoreSIGPIPE()
	a := &agent{args: runtimeArgs(), keepData: true, packet: make([]byte, maximumPacketSize),
		io: make([]byte, maximumTransfer), oob: make([]byte, syscall.CmsgSpace(maximumRoom*4))}
	if forked, ok := syscall.Getenv(envForked); ok {
		// The stand-in for a forked child (fork.go): CHANNEL,POSITION,PARENT[,CLOEXEC...].
		syscall.Unsetenv(envForked)
		parts := strings.Split(forked, ",")
		if len(parts) < 3 {
			fatal("malformed "+envForked, nil)
		}
		for _, number := range parts[3:] {
			if fd, ok := atoi(number); ok {
				fcntl(fd, syscall.F_SETFD, syscall.FD_CLOEXEC) // diagnostic build only (restore_on.go)
			}
		}
		channel, _ := atoi(parts[0])
		position, _ := atoi(parts[1])
		parent, _ := atoi(parts[2])
		setParentDeathSignal()
		if syscall.Getppid() != parent {
			syscall.Exit(0)
		}
		a.control = int32(placeChildControl(channel, position))
		a.sendHello()
		return a
	}
	inherited := 3
	if value, ok := syscall.Getenv(envControlFD); ok {
		inherited, _ = atoi(value)
	}
	if value, ok := syscall.Getenv(envParent); ok {
		setParentDeathSignal()
		if parent, _ := atoi(value); syscall.Getppid() != parent {
			syscall.Exit(70)
		}
	} else if path, ok := syscall.Getenv(envControlSocket); ok {
		// Started by a program handoff does not control (a launcher under test): call the runner back.
		setParentDeathSignal()
		inherited = connectToRunner(path)
	}
	a.control = int32(placeControl(inherited, reservedNumber()))
	a.sendHello()
	return a
}

func connectToRunner(path string) int {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err == nil {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
	}
	if err != nil {
		fatal("cannot reach the runner at "+path, err)
	}
	return fd
}

func (a *agent) sendHello() {
	m := &message{verb: "hello"}
	m.setInt("version", protocolVersion)
	m.setInt("pid", int64(syscall.Getpid()))
	m.setInt("ppid", int64(syscall.Getppid()))
	m.setInt("ctl", int64(a.control))
	m.setUint("nofile", softNofile())
	var arguments []string
	if len(a.args) > 1 {
		arguments = a.args[1:]
	}
	m.setTexts("argv", arguments)
	m.setTexts("env", syscall.Environ())
	m.setBytes("impl", []byte(implementation))
	// README.md: clone(CLONE_FILES) has no Go counterpart that keeps the table shared.
	m.set("unsupported", "clone_files")
	a.reply(m)
}

func (a *agent) serve() {
	for {
		n, err := syscall.Read(int(a.control), a.packet)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			syscall.Exit(0) // the runner is gone
		}
		request, ok := decodeMessage(a.packet[:n])
		if !ok {
			a.reply(badAnswer("unparsable request"))
			continue
		}
		a.handle(&request)
	}
}

func (a *agent) handle(m *message) {
	r := &fields{m: m}
	a.hidden = r.ints("hidden", true)
	if r.problem != "" {
		a.reply(badAnswer(m.verb + ": " + r.problem))
		return
	}
	switch m.verb {
	case "loop":
		count, steps, problem := decodeLoop(m)
		if problem != "" {
			a.reply(badAnswer(problem))
			return
		}
		a.reply(a.runLoop(count, steps))
	case "release":
		fds := r.ints("fds", false)
		if r.problem != "" {
			a.reply(badAnswer("release: " + r.problem))
			return
		}
		for _, fd := range fds {
			if fd == a.control {
				a.reply(badAnswer("release names the agent's own channel"))
				return
			}
		}
		for _, fd := range fds {
			syscall.Close(int(fd))
		}
		a.reply((&answer{}).encode())
	case "argument":
		index := int(r.int64("index"))
		if r.problem != "" {
			a.reply(badAnswer("argument: " + r.problem))
			return
		}
		if index < 1 || index >= len(a.args) {
			a.reply(badAnswer("no argv[" + itoa(index) + "]"))
			return
		}
		number, err := strconv.ParseInt(a.args[index], 10, 32)
		if err != nil {
			a.reply(badAnswer("argv[" + itoa(index) + "] is not a number"))
			return
		}
		a.reply((&answer{result: number}).encode())
	case "hello", "ok", "bad", "channel":
		a.reply(badAnswer(m.verb + " is sent by agents, not to them"))
	default:
		perform, problem := decodeOperation(m, false)
		if problem != "" {
			a.reply(badAnswer(problem))
			return
		}
		a.slots = nil
		var ans answer
		perform(a, &ans)
		switch {
		case ans.refusal != "":
			a.reply(badAnswer(ans.refusal))
		case !ans.noAnswer:
			a.reply(ans.encode())
		}
	}
}

func (a *agent) reply(m *message) {
	if err := syscall.Sendmsg(int(a.control), m.encode(), nil, nil, msgNosignal); err != nil {
		syscall.Exit(0) // the runner is gone
	}
}

// replyPassing sends a message carrying one descriptor (a fork's `channel` message).
func (a *agent) replyPassing(m *message, fd int) {
	if err := syscall.Sendmsg(int(a.control), m.encode(), syscall.UnixRights(fd), nil, msgNosignal); err != nil {
		syscall.Exit(0)
	}
}

func setParentDeathSignal() {
	syscall.Syscall(sysPrctl, prSetPdeathsig, uintptr(syscall.SIGKILL), 0)
}

// ignoreSIGPIPE is rt_sigaction(SIGPIPE, SIG_IGN): signal.Ignore without package os/signal (which
// imports os).
func ignoreSIGPIPE() {
	action := struct {
		handler, flags, restorer, mask uintptr
	}{handler: 1} // SIG_IGN
	syscall.RawSyscall6(sysRtSigaction, uintptr(syscall.SIGPIPE), uintptr(unsafe.Pointer(&action)), 0, 8, 0, 0)
}

func fatal(what string, err error) {
	line := "handoff-agent-go: " + what
	if err != nil {
		line += " (" + err.Error() + ")"
	}
	syscall.Write(2, []byte(line+"\n"))
	syscall.Exit(70)
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil
}
