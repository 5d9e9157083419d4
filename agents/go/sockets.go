// Descriptor passing and sockets, the way Go programs that pass descriptors do it without the
// netpoller: syscall.UnixRights + syscall.SendmsgN, syscall.Recvmsg + syscall.ParseSocketControlMessage
// + syscall.ParseUnixRights (what runc's libcontainer/utils and containerd's fd passing use, through
// golang.org/x/sys/unix, whose functions are the same code). net.UnixConn.WriteMsgUnix/ReadMsgUnix are
// thin wrappers over these two calls; the agent cannot use them (README.md): they need the netpoller's
// descriptors, dup the socket and set O_NONBLOCK on its shared open file description.
package main

import (
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// sending resolves the socket and the descriptors to pass; the agent's channels are EBADF (false: the
// answer says so already). What send, sendto and send_headers share.
func (a *agent) sending(socket operand, passing []operand, ans *answer) (int32, []int, bool) {
	s := socket.value(a.slots)
	fds := make([]int, len(passing))
	for i, o := range passing {
		fds[i] = int(o.value(a.slots))
		if a.isChannel(int32(fds[i])) {
			ans.fail(syscall.EBADF)
			return s, nil, false
		}
	}
	if a.isChannel(s) {
		ans.fail(syscall.EBADF)
		return s, nil, false
	}
	return s, fds, true
}

// send is sendto with a destination (`to`, a Sockaddr as syscall.SendmsgN takes it) and send without (nil).
func (a *agent) send(socket operand, to syscall.Sockaddr, passing []operand, data []byte, flags int, ans *answer) {
	s, fds, ok := a.sending(socket, passing, ans)
	if !ok {
		return
	}
	var rights []byte
	if len(fds) > 0 {
		// One SCM_RIGHTS message carrying all of them, as UnixRights builds it.
		rights = syscall.UnixRights(fds...)
	}
	// SendmsgN, Go's own behaviour included: with rights and no data on a socket that is not
	// SOCK_DGRAM it sends one zero byte ("send at least one normal byte") and reports 0.
	ans.record(timed(func() (int, error) { return syscall.SendmsgN(int(s), data, rights, to, msgNosignal|flags) }), false)
}

// sendHeaders: one syscall.UnixRights message per header, appended (each is CmsgSpace long, so they lie
// back to back as the kernel walks them); a raw cmsg_len is written with Cmsghdr.SetLen, as a Go program
// building its own header would. No header: no control buffer. SendmsgN as in `send` (Go's dummy byte
// included when there is no data).
func (a *agent) sendHeaders(socket operand, passing []operand, headers []int, cmsgLen int, data []byte, ans *answer) {
	s, fds, ok := a.sending(socket, passing, ans)
	if !ok {
		return
	}
	var control []byte
	next := 0
	for _, n := range headers {
		control = append(control, syscall.UnixRights(fds[next:next+n]...)...)
		next += n
	}
	if cmsgLen >= 0 && len(control) >= syscall.SizeofCmsghdr {
		(*syscall.Cmsghdr)(unsafe.Pointer(&control[0])).SetLen(cmsgLen)
	}
	ans.record(timed(func() (int, error) { return syscall.SendmsgN(int(s), data, control, nil, msgNosignal) }), false)
}

// recv is recvfrom when withSender is set: the answer then carries the sender's address (`from`).
func (a *agent) recv(socket operand, count, room, control, flags int, withSender bool, ans *answer) {
	s := socket.value(a.slots)
	if a.isChannel(s) {
		ans.fail(syscall.EBADF)
		return
	}
	var oob []byte
	if control >= 0 {
		oob = a.oob[:control]
	} else if room > 0 {
		oob = a.oob[:syscall.CmsgSpace(room*4)]
	}
	buffer := a.io[:count]
	var oobn, recvflags int
	var from syscall.Sockaddr
	// Recvmsg, Go's own behaviour included: with a control buffer and count 0 on a socket that is not
	// SOCK_DGRAM it reads into a one-byte dummy ("receive at least one normal byte").
	result := timed(func() (int, error) {
		n, on, rf, sa, err := syscall.Recvmsg(int(s), buffer, oob, flags)
		oobn, recvflags, from = on, rf, sa
		return n, err
	})
	ans.record(result, false)
	if result.errno != 0 {
		return
	}
	if oobn > 0 {
		// Parsing failures lose the descriptors the kernel installed, as they would in a Go program.
		if messages, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for i := range messages {
				if fds, err := syscall.ParseUnixRights(&messages[i]); err == nil {
					for _, fd := range fds {
						ans.fds = append(ans.fds, int32(fd))
					}
				} else if ucred, err := syscall.ParseUnixCredentials(&messages[i]); err == nil {
					// A cut SCM_CREDENTIALS (MSG_CTRUNC) does not parse: no credentials.
					ans.cred, ans.hasCred = [3]int32{ucred.Pid, int32(ucred.Uid), int32(ucred.Gid)}, true
				} else if h := messages[i].Header; h.Level == syscall.SOL_SOCKET && h.Type == scmPidfd && len(messages[i].Data) >= 4 {
					// SCM_PIDFD: one int, negative when the kernel could not make the pidfd.
					if pidfd := *(*int32)(unsafe.Pointer(&messages[i].Data[0])); pidfd >= 0 {
						ans.fds = append(ans.fds, pidfd)
					}
				}
			}
		}
	}
	if a.keepData {
		n := result.value
		if n > len(buffer) {
			n = len(buffer) // the dummy byte Recvmsg read when count is 0; MSG_TRUNC's real length
		}
		ans.data, ans.hasData = append([]byte(nil), buffer[:n]...), true
	}
	ans.mf, ans.hasMF = int32(recvflags), true
	if withSender {
		ans.from, ans.hasFrom = senderAddress(from), true
	}
}

// address is a decoded `addr` field: unix:HEX, abstract:HEX or tcp:PORT.
type address struct {
	kind string
	name string
	port int
}

func parseAddress(text string) (address, bool) {
	colon := strings.IndexByte(text, ':')
	if colon < 0 {
		return address{}, false
	}
	kind, value := text[:colon], text[colon+1:]
	switch kind {
	case "unix", "abstract":
		name, ok := hexDecode(value)
		return address{kind: kind, name: string(name)}, ok
	case "tcp":
		port, err := strconv.ParseUint(value, 10, 16)
		return address{kind: kind, port: int(port)}, err == nil
	}
	return address{}, false
}

// sockaddr is the syscall package's address: a leading '@' in SockaddrUnix.Name is Go's spelling of the
// abstract namespace (so a filesystem path starting with '@' cannot be expressed, a Go limitation).
func (ad address) sockaddr() (int, syscall.Sockaddr) {
	switch ad.kind {
	case "tcp":
		return syscall.AF_INET, &syscall.SockaddrInet4{Port: ad.port, Addr: [4]byte{127, 0, 0, 1}}
	case "abstract":
		return syscall.AF_UNIX, &syscall.SockaddrUnix{Name: "@" + ad.name}
	}
	return syscall.AF_UNIX, &syscall.SockaddrUnix{Name: ad.name}
}

// listen: socket + bind + listen, one timed unit like the C shim's handoff_listen.
func listen(ad address, kind, flags, backlog int, ans *answer) {
	family, sa := ad.sockaddr()
	port := 0
	ans.record(timed(func() (int, error) {
		fd, err := syscall.Socket(family, kind|flags, 0)
		if err != nil {
			return -1, err
		}
		if family == syscall.AF_INET {
			syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		}
		if err = syscall.Bind(fd, sa); err == nil {
			err = syscall.Listen(fd, backlog)
		}
		if err != nil {
			syscall.Close(fd)
			return -1, err
		}
		if family == syscall.AF_INET {
			if bound, err := syscall.Getsockname(fd); err == nil {
				port = bound.(*syscall.SockaddrInet4).Port
			}
		}
		return fd, nil
	}), true)
	if ans.errno == 0 && family == syscall.AF_INET {
		ans.port, ans.hasPort = port, true
	}
}

// connect: socket + connect, non-blocking only once connected (as the C shim does).
func connect(ad address, kind, flags int, ans *answer) {
	family, sa := ad.sockaddr()
	ans.record(timed(func() (int, error) {
		fd, err := syscall.Socket(family, kind|(flags&syscall.SOCK_CLOEXEC), 0)
		if err != nil {
			return -1, err
		}
		for {
			err = syscall.Connect(fd, sa)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			syscall.Close(fd)
			return -1, err
		}
		if flags&syscall.SOCK_NONBLOCK != 0 {
			syscall.SetNonblock(fd, true)
		}
		return fd, nil
	}), true)
}

// pidfdGetfd: a transient pidfd (moved above the scenario's numbers, closed before the answer) and the
// measured pidfd_getfd. Go 1.19's syscall package has neither call: raw syscalls, as Go programs do.
func (a *agent) pidfdGetfd(pid int, fd int32, flags uint32, targetChannel int32, ans *answer) {
	opened, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno != 0 {
		ans.fail(errno)
		return
	}
	// The channels in the target's table (its own, and the request's hidden list) are as invisible as ours,
	// once the pidfd exists (the kernel looks at the number only then).
	if (fd == targetChannel || a.isHidden(fd)) && flags == 0 {
		syscall.Close(int(opened))
		ans.fail(syscall.EBADF)
		return
	}
	pidfd := a.moveHigh(int(opened))
	if int32(pidfd) == fd {
		// Below a low limit the top number may be the very one asked for (found by `handoff fuzz`): the
		// pidfd steps down to the next free number (above 2) rather than be what gets copied.
		candidate := pidfd - 1
		for candidate > 2 {
			if _, errno := fcntl(candidate, syscall.F_GETFD, 0); errno != 0 {
				break
			}
			candidate--
		}
		if candidate > 2 && syscall.Dup3(pidfd, candidate, syscall.O_CLOEXEC) == nil {
			syscall.Close(pidfd)
			pidfd = candidate
		}
	}
	ans.record(rawTimed(sysPidfdGetfd, uintptr(pidfd), uintptr(fd), uintptr(flags)), true)
	syscall.Close(pidfd)
}

// knownSocketOptions are the SOL_SOCKET options the protocol names (SocketOption in Vocabulary.swift).
var knownSocketOptions = map[int]bool{
	syscall.SO_PASSCRED: true, soPasspidfd: true, soPassrights: true, soPeekOff: true,
	syscall.SO_ERROR: true, syscall.SO_TYPE: true, syscall.SO_DOMAIN: true, syscall.SO_ACCEPTCONN: true,
	syscall.SO_PEERCRED: true, soPeerpidfd: true, soInq: true,
}

// setsockopt is setsockopt(SOL_SOCKET, option, &value, sizeof(int)): syscall.SetsockoptInt.
func (a *agent) setsockopt(socket operand, option, value int, ans *answer) {
	s := socket.value(a.slots)
	if a.isChannel(s) {
		ans.fail(syscall.EBADF)
		return
	}
	ans.record(timed(func() (int, error) { return 0, syscall.SetsockoptInt(int(s), syscall.SOL_SOCKET, option, value) }), false)
}

// getsockopt answers the option's value: syscall.GetsockoptInt, or GetsockoptUcred for SO_PEERCRED
// (the answer's `cred`); SO_PEERPIDFD's value is a new descriptor.
func (a *agent) getsockopt(socket operand, option int, ans *answer) {
	s := socket.value(a.slots)
	if a.isChannel(s) {
		ans.fail(syscall.EBADF)
		return
	}
	if option == syscall.SO_PEERCRED {
		var ucred *syscall.Ucred
		ans.record(timed(func() (int, error) {
			var err error
			ucred, err = syscall.GetsockoptUcred(int(s), syscall.SOL_SOCKET, option)
			return 0, err
		}), false)
		if ans.errno == 0 && ucred != nil {
			ans.cred, ans.hasCred = [3]int32{ucred.Pid, int32(ucred.Uid), int32(ucred.Gid)}, true
		}
		return
	}
	ans.record(timed(func() (int, error) { return syscall.GetsockoptInt(int(s), syscall.SOL_SOCKET, option) }),
		option == soPeerpidfd)
}
