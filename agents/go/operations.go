// decodeOperation: one request (or one loop step) -> the closure that performs it. Decoding mirrors
// OperationCoding.swift (which fields, which are optional, which values are malformed); performing is
// one call into Go's syscall package per operation, timed, as the Swift agent's Perform.swift does with
// libc. Single requests and loop steps share these closures, so a loop performs exactly what a request
// performs.
package main

import (
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

type performer func(a *agent, ans *answer)

// onDescriptor is the performer of an operation on the descriptor fd: the agent's own channel is EBADF (it is
// not in the scenario's table); any other number goes to perform.
func onDescriptor(fd operand, perform func(a *agent, n int32, ans *answer)) performer {
	return func(a *agent, ans *answer) {
		n := fd.value(a.slots)
		if a.isChannel(n) {
			ans.fail(syscall.EBADF)
			return
		}
		perform(a, n, ans)
	}
}

// atPosition is onDescriptor for pread and pwrite: a negative offset is EINVAL before the descriptor is looked
// at (ksys_pread64, ksys_pwrite64), so the call is made even on the agent's channel and the kernel answers it.
func atPosition(fd operand, offset int64, perform func(a *agent, n int32, ans *answer)) performer {
	return func(a *agent, ans *answer) {
		n := fd.value(a.slots)
		if a.isChannel(n) && offset >= 0 {
			ans.fail(syscall.EBADF)
			return
		}
		perform(a, n, ans)
	}
}

// decodeOperation returns the performer, or why the request is malformed.
func decodeOperation(m *message, inLoop bool) (performer, string) {
	r := &fields{m: m}
	var p performer
	switch m.verb {
	case "open":
		path, flags, mode := r.text("path"), r.int32("flags"), uint32(r.int64("mode"))
		if flags&^openFlagsKnown != 0 {
			r.malformed("flags")
		}
		p = func(a *agent, ans *answer) {
			ans.record(timed(func() (int, error) { return syscall.Open(path, int(flags), mode) }), true)
		}
	case "mkfifo":
		path, mode := r.text("path"), uint32(r.int64("mode"))
		p = func(a *agent, ans *answer) {
			ans.record(timed(func() (int, error) { return 0, syscall.Mkfifo(path, mode) }), false)
		}
	case "pipe":
		flags := int(r.int32("flags")) & (syscall.O_CLOEXEC | syscall.O_NONBLOCK)
		p = func(a *agent, ans *answer) {
			ends := make([]int, 2)
			ans.recordPair(timed(func() (int, error) { return 0, syscall.Pipe2(ends, flags) }), ends)
		}
	case "socketpair":
		kind, flags := socketType(r, "type")
		p = func(a *agent, ans *answer) {
			var ends [2]int
			ans.recordPair(timed(func() (int, error) {
				var err error
				ends, err = syscall.Socketpair(syscall.AF_UNIX, kind|flags, 0)
				return 0, err
			}), ends[:])
		}
	case "memfd":
		name := r.text("name")
		flags := uintptr(r.int64("flags")) & (mfdCloexec | mfdAllowSealing)
		p = func(a *agent, ans *answer) {
			cname, _ := syscall.BytePtrFromString(name)
			ans.record(rawTimed(sysMemfdCreate, uintptr(unsafe.Pointer(cname)), flags, 0), true)
		}
	case "eventfd":
		initial := uintptr(uint32(r.int64("initial")))
		flags := uintptr(r.int32("flags")) & (syscall.O_CLOEXEC | syscall.O_NONBLOCK | efdSemaphore)
		p = func(a *agent, ans *answer) { ans.record(rawTimed(sysEventfd2, initial, flags, 0), true) }
	case "epoll_create1":
		flags := int(r.int32("flags")) & syscall.EPOLL_CLOEXEC
		p = func(a *agent, ans *answer) {
			ans.record(timed(func() (int, error) { return syscall.EpollCreate1(flags) }), true)
		}
	case "epoll_ctl":
		// op raw: the kernel refuses an op it does not know (EINVAL).
		epfd, op, target := r.fd("epfd", inLoop), int(r.int32("op")), r.fd("fd", inLoop)
		events := uint32(r.int64("events")) & epollEventsKnown
		p = func(a *agent, ans *answer) {
			e, fd := epfd.value(a.slots), target.value(a.slots)
			if a.isChannel(e) || a.isChannel(fd) {
				ans.fail(syscall.EBADF)
				return
			}
			event := syscall.EpollEvent{Events: events, Fd: fd}
			ans.record(timed(func() (int, error) { return 0, syscall.EpollCtl(int(e), op, int(fd), &event) }), false)
		}
	case "dup":
		fd := r.fd("fd", inLoop)
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			ans.record(timed(func() (int, error) { return syscall.Dup(int(n)) }), true)
		})
	case "dup2", "dup3":
		fd, target := r.fd("fd", inLoop), r.fd("target", inLoop)
		var flags *int
		if m.verb == "dup3" {
			f := int(r.int32("flags"))
			flags = &f
		}
		p = func(a *agent, ans *answer) { a.duplicate(fd.value(a.slots), target.value(a.slots), flags, ans) }
	case "fcntl":
		fd, cmd, arg := r.fd("fd", inLoop), int(r.int32("cmd")), int(r.int32Or("arg", 0))
		switch cmd {
		case syscall.F_DUPFD, syscall.F_DUPFD_CLOEXEC, syscall.F_GETFD, syscall.F_GETFL:
		case syscall.F_SETFD:
			arg &= syscall.FD_CLOEXEC
		case syscall.F_SETFL:
			arg &= syscall.O_APPEND | syscall.O_NONBLOCK
		case fAddSeals:
			arg &= sealsKnown
		case fGetSeals, fGetpipeSz, fSetpipeSz:
		default:
			r.malformed("cmd")
		}
		if cmd == syscall.F_GETFD || cmd == syscall.F_GETFL || cmd == fGetSeals || cmd == fGetpipeSz {
			arg = 0
		}
		duplicates := cmd == syscall.F_DUPFD || cmd == syscall.F_DUPFD_CLOEXEC
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			ans.record(rawTimed(syscall.SYS_FCNTL, uintptr(n), uintptr(cmd), uintptr(arg)), duplicates)
		})
	case "ioctl":
		fd, request, arg := r.fd("fd", inLoop), uintptr(r.int64("request")), int32(r.int32Or("arg", 0))
		switch request {
		case fioclex, fionclex, fionread:
			arg = 0
		case fionbio:
			if arg != 0 {
				arg = 1
			}
		default:
			r.malformed("request")
		}
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			value := arg
			ans.record(rawTimed(syscall.SYS_IOCTL, uintptr(n), request, uintptr(unsafe.Pointer(&value))), false)
			// FIONREAD's answer is the int the kernel wrote back.
			if ans.errno == 0 && request == fionread {
				ans.result = int64(value)
			}
		})
	case "close":
		fd := r.fd("fd", inLoop)
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			ans.record(timed(func() (int, error) { return 0, syscall.Close(int(n)) }), false)
		})
	case "close_range":
		first, last := uint32(r.int64("first")), uint32(r.int64("last"))
		flags := uint32(r.int64("flags"))
		p = func(a *agent, ans *answer) {
			result := a.closeRangeAroundChannels(first, last, flags)
			// CLOSE_RANGE_UNSHARE leaves a private table that still holds the other agents' channels.
			if flags&closeRangeUnshare != 0 && result.errno == 0 {
				a.closeHidden()
			}
			ans.record(result, false)
		}
	case "lseek":
		// whence raw: the kernel refuses past SEEK_HOLE (EINVAL).
		fd, offset, whence := r.fd("fd", inLoop), r.int64("offset"), int(r.int32("whence"))
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			ans.record(timed(func() (int, error) {
				position, err := syscall.Seek(int(n), offset, whence)
				return int(position), err
			}), false)
		})
	case "read":
		fd, count := r.fd("fd", inLoop), r.count("count")
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			buffer := a.io[:count]
			result := timed(func() (int, error) { return syscall.Read(int(n), buffer) })
			ans.recordRead(result, buffer, a.keepData)
		})
	case "pread":
		fd, count, offset := r.fd("fd", inLoop), r.count("count"), r.int64("offset")
		p = atPosition(fd, offset, func(a *agent, n int32, ans *answer) {
			buffer := a.io[:count]
			ans.recordRead(timed(func() (int, error) { return syscall.Pread(int(n), buffer, offset) }), buffer, a.keepData)
		})
	case "write":
		fd, data := r.fd("fd", inLoop), r.bytes("data")
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			ans.record(timed(func() (int, error) { return syscall.Write(int(n), data) }), false)
		})
	case "pwrite":
		fd, data, offset := r.fd("fd", inLoop), r.bytes("data"), r.int64("offset")
		p = atPosition(fd, offset, func(a *agent, n int32, ans *answer) {
			ans.record(timed(func() (int, error) { return syscall.Pwrite(int(n), data, offset) }), false)
		})
	case "shutdown":
		// how raw: the kernel refuses past SHUT_RDWR (EINVAL).
		fd, how := r.fd("fd", inLoop), int(r.int32("how"))
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			ans.record(timed(func() (int, error) { return 0, syscall.Shutdown(int(n), how) }), false)
		})
	case "send_headers":
		socket, data := r.fd("fd", inLoop), r.bytes("data")
		passing := r.operands("fds", inLoop)
		var headers []int
		total := 0
		if list, ok := r.require("headers"); ok && list != "" {
			for _, part := range strings.Split(list, ",") {
				n, err := strconv.Atoi(part)
				if err != nil || n < 0 || n > maximumHeaderFDs {
					r.malformed("headers")
					break
				}
				headers = append(headers, n)
				total += n
			}
		}
		if len(headers) > maximumHeaders || total != len(passing) {
			r.malformed("headers")
		}
		cmsgLen := int(r.int32("cmsglen"))
		if cmsgLen < -1 || cmsgLen > maximumControl || (cmsgLen >= 0 && len(headers) != 1) {
			r.malformed("cmsglen")
		}
		p = func(a *agent, ans *answer) { a.sendHeaders(socket, passing, headers, cmsgLen, data, ans) }
	case "send":
		socket, data := r.fd("fd", inLoop), r.bytes("data")
		passing := r.operands("fds", inLoop)
		// send's own flags (MSG_OOB); absent from older runners: 0.
		flags := int(r.int32Or("flags", 0))
		if flags&^msgOob != 0 {
			r.malformed("flags")
		}
		p = func(a *agent, ans *answer) { a.send(socket, nil, passing, data, flags, ans) }
	case "recv":
		socket, count := r.fd("fd", inLoop), r.count("count")
		room := int(r.int32("room"))
		if room < 0 || room > maximumRoom {
			r.malformed("room")
		}
		flags := int(r.int32("flags")) & (msgCmsgCloexec | msgDontwait | msgPeek | msgTrunc | msgWaitall | msgOob)
		// `control`: the control buffer's exact size in bytes (-1: sized from room).
		control := int(r.int32Or("control", -1))
		if control < -1 || control > maximumControl {
			r.malformed("control")
		}
		p = func(a *agent, ans *answer) { a.recv(socket, count, room, control, flags, false, ans) }
	case "setsockopt", "getsockopt":
		socket, option := r.fd("fd", inLoop), int(r.int32("opt"))
		if !knownSocketOptions[option] {
			r.malformed("opt")
		}
		if m.verb == "setsockopt" {
			value := int(r.int32("value"))
			p = func(a *agent, ans *answer) { a.setsockopt(socket, option, value, ans) }
		} else {
			p = func(a *agent, ans *answer) { a.getsockopt(socket, option, ans) }
		}
	case "fork":
		p = func(a *agent, ans *answer) { a.fork(ans) }
	case "clone_files":
		// Declared unsupported in the hello (README.md): the runner never sends it; refuse if it does.
		p = func(a *agent, ans *answer) {
			ans.refusal = "clone_files: Go cannot clone(CLONE_FILES) (the runtime is multithreaded; ForkExec's exec unshares the table)"
		}
	case "epoll_wait":
		// The raw call, so that maxevents 0 and -1 reach the kernel (EINVAL) as they are. The result is the
		// count; `ready` each event's data (the number epoll_ctl registered) and events.
		epfd, max, timeout := r.fd("epfd", inLoop), r.int32("max"), r.int32("timeout")
		if max > maxReady {
			r.malformed("max")
		}
		p = func(a *agent, ans *answer) {
			e := epfd.value(a.slots)
			if a.isChannel(e) {
				ans.fail(syscall.EBADF)
				return
			}
			var events [maxReady]syscall.EpollEvent
			start := monotonic()
			n, _, errno := syscall.Syscall6(syscall.SYS_EPOLL_WAIT, uintptr(e), uintptr(unsafe.Pointer(&events[0])),
				uintptr(max), uintptr(timeout), 0, 0)
			ans.record(outcome{int(n), errno, monotonic() - start}, false)
			if ans.errno == 0 {
				ans.hasReady = true
				ans.ready = ans.ready[:0]
				for _, event := range events[:int(n)] {
					ans.ready = append(ans.ready, event.Fd, int32(event.Events))
				}
			}
		}
	case "poll":
		// The syscall package has no poll(2): the raw call with struct pollfd. The answer's result is the
		// descriptor's revents.
		fd, events, timeout := r.fd("fd", inLoop), int16(r.int32("events"))&pollEventsKnown, r.int32("timeout")
		p = func(a *agent, ans *answer) {
			n := fd.value(a.slots)
			if a.isChannel(n) {
				ans.result, ans.errno = pollNval, 0
				return
			}
			entry := pollFd{fd: n, events: events}
			ans.record(rawTimed(syscall.SYS_POLL, uintptr(unsafe.Pointer(&entry)), 1, uintptr(timeout)), false)
			if ans.errno == 0 {
				ans.result = int64(entry.revents)
			}
		}
	case "unix_gc":
		// Releasing a fresh AF_UNIX pair schedules the garbage collector (unix_release_sock -> unix_gc).
		p = func(a *agent, ans *answer) {
			var ends [2]int
			ans.record(timed(func() (int, error) {
				pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
				ends = pair
				return 0, err
			}), false)
			if ans.errno == 0 {
				syscall.Close(ends[0])
				syscall.Close(ends[1])
			}
		}
	case "unshare_files":
		p = func(a *agent, ans *answer) {
			ans.record(timed(func() (int, error) { return 0, syscall.Unshare(syscall.CLONE_FILES) }), false)
			if ans.errno == 0 {
				a.closeHidden()
			}
		}
	case "unshare_net":
		// On the locked main thread, like unshare_files: namespaces are per thread, and the agent's later
		// sockets and ForkExec children come from this thread.
		p = func(a *agent, ans *answer) {
			ans.record(timed(func() (int, error) { return 0, syscall.Unshare(syscall.CLONE_NEWNET) }), false)
		}
	case "exec":
		args, env := r.texts("args", false), r.texts("env", true)
		p = func(a *agent, ans *answer) { a.exec(args, env, ans) }
	case "launch":
		path, args, env := r.text("path"), r.texts("args", false), r.texts("env", true)
		p = func(a *agent, ans *answer) { a.launch(path, args, env, ans) }
	case "exit":
		status := int(r.int32("status"))
		p = func(a *agent, ans *answer) { syscall.Exit(status) }
	case "wait":
		pid := int(r.int32("pid"))
		p = func(a *agent, ans *answer) {
			var status syscall.WaitStatus
			ans.record(timed(func() (int, error) { return syscall.Wait4(pid, &status, 0, nil) }), false)
			if ans.errno == 0 && ans.result > 0 {
				ans.status, ans.hasSt = int32(status), true
			}
		}
	case "pidfd_open":
		pid, flags := uintptr(r.int32("pid")), uintptr(uint32(r.int64Or("flags", 0)))
		p = func(a *agent, ans *answer) { ans.record(rawTimed(sysPidfdOpen, pid, flags, 0), true) }
	case "pidfd_send_signal":
		fd, sig := r.fd("fd", inLoop), r.int32("sig")
		if sig != 0 && sig != int32(syscall.SIGKILL) && sig != int32(syscall.SIGTERM) {
			r.malformed("sig")
		}
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			ans.record(rawTimed(sysPidfdSendSignal, uintptr(n), uintptr(sig), 0), false)
		})
	case "waitid":
		// Go's syscall package has no waitid: the raw call with a siginfo_t of our own (linux.go).
		fd, flags := r.fd("fd", inLoop), int(r.int32("flags"))&wNohang
		p = onDescriptor(fd, func(a *agent, n int32, ans *answer) {
			var info sigInfo
			start := monotonic()
			_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPidfd, uintptr(n), uintptr(unsafe.Pointer(&info)),
				uintptr(wExited|flags), 0, 0)
			ans.record(outcome{0, errno, monotonic() - start}, false)
			if errno == 0 && info.pid != 0 {
				// The status travels as waitpid's would.
				if info.code == cldExited {
					ans.status = (info.status & 0xff) << 8
				} else {
					ans.status = info.status & 0x7f
				}
				ans.hasSt = true
			}
		})
	case "pidfd_getfd":
		pid, fd := int(r.int32("pid")), r.fd("fd", inLoop)
		flags, targetChannel := uint32(r.int64("flags")), r.int32Or("tctl", -1)
		if _, through := r.m.get("pidfd"); through {
			// Through the scenario's own pidfd: no transient one.
			pidfd := r.fd("pidfd", inLoop)
			p = func(a *agent, ans *answer) {
				n, number := pidfd.value(a.slots), fd.value(a.slots)
				if (a.isChannel(n) || number == targetChannel || a.isHidden(number)) && flags == 0 {
					ans.fail(syscall.EBADF)
					return
				}
				ans.record(rawTimed(sysPidfdGetfd, uintptr(n), uintptr(number), uintptr(flags)), true)
			}
			break
		}
		p = func(a *agent, ans *answer) { a.pidfdGetfd(pid, fd.value(a.slots), flags, targetChannel, ans) }
	case "reopen":
		pid, fd := r.int32("pid"), r.fd("fd", inLoop)
		flags := int(r.int32("flags"))
		targetChannel := r.int32Or("tctl", -1)
		if flags&^openFlagsKnown != 0 {
			r.malformed("flags")
		}
		p = func(a *agent, ans *answer) {
			n := fd.value(a.slots)
			// The target's channel is invisible: /proc/PID/fd/N of it must look like a free number.
			if n == targetChannel || a.isHidden(n) {
				ans.fail(syscall.ENOENT)
				return
			}
			path := "/proc/" + strconv.Itoa(int(pid)) + "/fd/" + strconv.Itoa(int(n))
			ans.record(timed(func() (int, error) { return syscall.Open(path, flags, 0) }), true)
		}
	case "socket":
		kind, flags := socketType(r, "type")
		p = func(a *agent, ans *answer) {
			ans.record(timed(func() (int, error) { return syscall.Socket(syscall.AF_UNIX, kind|flags, 0) }), true)
		}
	case "bind", "sendto":
		socket := r.fd("fd", inLoop)
		addr, _ := r.require("addr")
		address, ok := parseAddress(addr)
		if !ok {
			r.malformed("addr")
		}
		if m.verb == "bind" {
			p = func(a *agent, ans *answer) { a.bind(socket, address, ans) }
			break
		}
		data := r.bytes("data")
		passing := r.operands("fds", inLoop)
		p = func(a *agent, ans *answer) {
			_, to := address.sockaddr()
			a.send(socket, to, passing, data, 0, ans)
		}
	case "recvfrom":
		socket, count := r.fd("fd", inLoop), r.count("count")
		room := int(r.int32("room"))
		if room < 0 || room > maximumRoom {
			r.malformed("room")
		}
		flags := int(r.int32("flags")) & (msgCmsgCloexec | msgDontwait)
		p = func(a *agent, ans *answer) { a.recv(socket, count, room, -1, flags, true, ans) }
	case "listen", "connect":
		addr, _ := r.require("addr")
		address, ok := parseAddress(addr)
		if !ok {
			r.malformed("addr")
		}
		kind, flags := socketType(r, "type")
		if m.verb == "listen" {
			backlog := int(r.int32Or("backlog", 16))
			p = func(a *agent, ans *answer) { listen(address, kind, flags, backlog, ans) }
		} else {
			p = func(a *agent, ans *answer) { connect(address, kind, flags, ans) }
		}
	case "accept":
		socket := r.fd("fd", inLoop)
		flags := int(r.int32("flags")) & socketFlags
		p = onDescriptor(socket, func(a *agent, n int32, ans *answer) {
			ans.record(timed(func() (int, error) {
				fd, _, err := syscall.Accept4(int(n), flags)
				return fd, err
			}), true)
		})
	case "setrlimit":
		nofile := uint64(r.int64("nofile"))
		p = func(a *agent, ans *answer) {
			var limit syscall.Rlimit
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit)
			limit.Cur = nofile
			ans.record(timed(func() (int, error) { return 0, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit) }), false)
		}
	case "drop_capability":
		name := r.text("name")
		p = func(a *agent, ans *answer) { dropCapability(name, ans) }
	case "set_dumpable":
		value := uintptr(0)
		if r.int32("value") != 0 {
			value = 1
		}
		p = func(a *agent, ans *answer) { ans.record(rawTimed(sysPrctl, prSetDumpable, value, 0), false) }
	case "attach":
		return nil, "attach is the runner's, never sent to an agent"
	case "ftruncate":
		fd, length := r.fd("fd", inLoop), r.int64("length")
		p = func(a *agent, ans *answer) {
			n := fd.value(a.slots)
			if a.isChannel(n) {
				// do_sys_ftruncate checks the length before the descriptor.
				if length < 0 {
					ans.fail(syscall.EINVAL)
				} else {
					ans.fail(syscall.EBADF)
				}
				return
			}
			ans.record(timed(func() (int, error) { return 0, syscall.Ftruncate(int(n), length) }), false)
		}
	case "signalfd":
		// Bit (signal - 1) per signal: the kernel's sigset_t, passed as is (no wrapper in Go's syscall).
		mask := uint64(r.int64("mask"))
		known := uint64(0)
		for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2,
			syscall.SIGALRM, syscall.SIGTERM} {
			known |= 1 << (uint(s) - 1)
		}
		if mask&^known != 0 {
			r.malformed("mask")
		}
		flags := uintptr(r.int32("flags")) & (syscall.O_CLOEXEC | syscall.O_NONBLOCK)
		p = func(a *agent, ans *answer) {
			set := mask
			start := monotonic()
			fd, _, errno := syscall.Syscall6(sysSignalfd4, ^uintptr(0), uintptr(unsafe.Pointer(&set)), kernelSigsetSize,
				flags, 0, 0)
			ans.record(outcome{int(fd), errno, monotonic() - start}, true)
		}
	case "timerfd_create":
		clock := uintptr(r.int32("clock"))
		if clock != clockRealtime && clock != clockMonotonic && clock != clockBoottime {
			r.malformed("clock")
		}
		flags := uintptr(r.int32("flags")) & (syscall.O_CLOEXEC | syscall.O_NONBLOCK)
		p = func(a *agent, ans *answer) { ans.record(rawTimed(sysTimerfdCreate, clock, flags, 0), true) }
	case "dupfd_query":
		fd, other := r.fd("fd", inLoop), r.fd("other", inLoop)
		p = func(a *agent, ans *answer) {
			n, o := fd.value(a.slots), other.value(a.slots)
			if a.isChannel(n) || a.isChannel(o) {
				ans.fail(syscall.EBADF)
				return
			}
			ans.record(rawTimed(syscall.SYS_FCNTL, uintptr(n), fDupfdQuery, uintptr(o)), false)
		}
	case "inotify_init1":
		flags := int(r.int32("flags")) & (syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
		p = func(a *agent, ans *answer) {
			ans.record(timed(func() (int, error) { return syscall.InotifyInit1(flags) }), true)
		}
	default:
		return nil, "unknown verb " + m.verb
	}
	if r.problem != "" {
		return nil, m.verb + ": " + r.problem
	}
	return p, ""
}

// recordPair stores pipe2's or socketpair's two descriptors when the call succeeded.
// recordRead: read and pread - the call, and the bytes it read into buffer when they are kept (not in a loop).
func (ans *answer) recordRead(o outcome, buffer []byte, keep bool) {
	ans.record(o, false)
	if o.errno == 0 && keep {
		ans.data, ans.hasData = append([]byte(nil), buffer[:o.value]...), true
	}
}

func (ans *answer) recordPair(o outcome, ends []int) {
	ans.record(o, false)
	if o.errno == 0 {
		ans.fds = append(ans.fds, int32(ends[0]), int32(ends[1]))
	}
}

// socketType splits a `type` field into the socket type (stream, dgram or seqpacket) and its flags.
func socketType(r *fields, key string) (int, int) {
	raw := int(r.int32(key))
	kind := raw &^ socketFlags
	if kind != syscall.SOCK_STREAM && kind != syscall.SOCK_DGRAM && kind != syscall.SOCK_SEQPACKET {
		r.malformed(key)
	}
	return kind, raw & socketFlags
}
