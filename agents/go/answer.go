// The outcome of one operation (Messages.swift, Answer) and the timing of its system call.
package main

import (
	"syscall"
	"time"
)

type answer struct {
	result   int64
	errno    syscall.Errno
	fds      []int32
	ns       uint64
	data     []byte
	hasData  bool
	mf       int32
	hasMF    bool
	status   int32
	hasSt    bool
	ctl      int32
	hasCtl   bool
	port     int
	hasPort  bool
	cred     [3]int32 // SO_PEERCRED or a whole SCM_CREDENTIALS: pid, uid, gid
	hasCred  bool
	from     []byte // recvfrom: the sender's sun_path bytes (empty: an unbound sender)
	hasFrom  bool
	ready    []int32 // epoll_wait: data.fd, events of each reported event
	hasReady bool
	refusal  string // the agent refuses the request: a `bad` answer, never a kernel outcome
	noAnswer bool   // exit, or the child side of something: nothing to send
}

func (a *answer) reset() {
	fds := a.fds[:0]
	*a = answer{fds: fds}
}

// outcome is one system call's return value, errno (0 on success) and duration.
type outcome struct {
	value int
	errno syscall.Errno
	ns    uint64
}

// record stores a call's outcome; produced: the value is a new descriptor.
func (a *answer) record(o outcome, produced bool) {
	a.ns = o.ns
	if o.errno != 0 {
		a.result, a.errno = -1, o.errno
		return
	}
	a.result, a.errno = int64(o.value), 0
	if produced {
		a.fds = append(a.fds, int32(o.value))
	}
}

// fail answers for the kernel without calling it (a control channel must look like a free number).
func (a *answer) fail(errno syscall.Errno) { a.result, a.errno = -1, errno }

func (a *answer) encode() *message {
	m := &message{verb: "ok"}
	m.setInt("r", a.result)
	m.setInt("e", int64(a.errno))
	m.setInts("fds", a.fds)
	m.setUint("ns", a.ns)
	if a.hasData {
		m.setBytes("d", a.data)
	}
	if a.hasMF {
		m.setInt("mf", int64(a.mf))
	}
	if a.hasSt {
		m.setInt("st", int64(a.status))
	}
	if a.hasCtl {
		m.setInt("ctl", int64(a.ctl))
	}
	if a.hasPort {
		m.setInt("port", int64(a.port))
	}
	if a.hasCred {
		m.setInts("cred", a.cred[:])
	}
	if a.hasFrom {
		m.setBytes("from", a.from)
	}
	if a.hasReady {
		m.setInts("ready", a.ready)
	}
	return m
}

// errnoOf turns the error a syscall-package wrapper returns into an errno (0 on success).
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EINVAL
}

// clock is CLOCK_MONOTONIC through the vDSO (time.Now's monotonic reading). Nothing here may create a
// timer: the first timer starts the runtime's netpoller, which opens an epoll descriptor and a pipe.
var clockBase = time.Now()

func monotonic() uint64 { return uint64(time.Since(clockBase)) }

// timed runs one call and returns its result, errno and duration.
func timed(call func() (int, error)) outcome {
	start := monotonic()
	value, err := call()
	elapsed := monotonic() - start
	return outcome{value, errnoOf(err), elapsed}
}

// rawTimed is timed for a raw syscall.Syscall, whose errno is a value, not an error.
func rawTimed(trap, a1, a2, a3 uintptr) outcome {
	start := monotonic()
	r, _, errno := syscall.Syscall(trap, a1, a2, a3)
	elapsed := monotonic() - start
	return outcome{int(r), errno, elapsed}
}
