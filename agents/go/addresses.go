// bind, sendto and recvfrom on AF_UNIX sockets with the syscall package: syscall.Bind, syscall.SendmsgN with
// a Sockaddr, syscall.Recvmsg's `from` (what Go programs that talk to unbound datagram sockets use).
package main

import (
	"syscall"
)

func (a *agent) bind(socket operand, ad address, ans *answer) {
	s := socket.value(a.slots)
	_, sa := ad.sockaddr()
	if a.isChannel(s) {
		ans.fail(syscall.EBADF)
		return
	}
	ans.record(timed(func() (int, error) { return 0, syscall.Bind(int(s), sa) }), false)
}

func (a *agent) sendto(socket operand, ad address, passing []operand, data []byte, ans *answer) {
	s := socket.value(a.slots)
	_, sa := ad.sockaddr()
	fds := make([]int, len(passing))
	for i, o := range passing {
		fds[i] = int(o.value(a.slots))
		if a.isChannel(int32(fds[i])) {
			ans.fail(syscall.EBADF)
			return
		}
	}
	if a.isChannel(s) {
		ans.fail(syscall.EBADF)
		return
	}
	var rights []byte
	if len(fds) > 0 {
		rights = syscall.UnixRights(fds...)
	}
	ans.record(timed(func() (int, error) { return syscall.SendmsgN(int(s), data, rights, sa, msgNosignal) }), false)
}

func (a *agent) recvfrom(socket operand, count, room, flags int, ans *answer) {
	s := socket.value(a.slots)
	if a.isChannel(s) {
		ans.fail(syscall.EBADF)
		return
	}
	var oob []byte
	if room > 0 {
		oob = a.oob[:syscall.CmsgSpace(room*4)]
	}
	buffer := a.io[:count]
	var oobn, recvflags int
	var from syscall.Sockaddr
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
		if messages, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for i := range messages {
				if fds, err := syscall.ParseUnixRights(&messages[i]); err == nil {
					for _, fd := range fds {
						ans.fds = append(ans.fds, int32(fd))
					}
				} else if ucred, err := syscall.ParseUnixCredentials(&messages[i]); err == nil {
					ans.cred, ans.hasCred = [3]int32{ucred.Pid, int32(ucred.Uid), int32(ucred.Gid)}, true
				}
			}
		}
	}
	if a.keepData {
		n := result.value
		if n > len(buffer) {
			n = len(buffer)
		}
		ans.data, ans.hasData = append([]byte(nil), buffer[:n]...), true
	}
	ans.mf, ans.hasMF = int32(recvflags), true
	// Go spells an abstract name with a leading '@' and reads a path up to its first NUL; no address (an
	// unbound sender) is a nil Sockaddr.
	ans.from, ans.hasFrom = []byte{}, true
	if unix, ok := from.(*syscall.SockaddrUnix); ok && unix.Name != "" {
		if unix.Name[0] == '@' {
			ans.from = append([]byte{0}, unix.Name[1:]...)
		} else {
			ans.from = []byte(unix.Name)
		}
	}
}
