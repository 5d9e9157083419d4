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

// senderAddress is recvfrom's `from`: Go spells an abstract name with a leading '@' and reads a path up to
// its first NUL; no address (an unbound sender) is a nil Sockaddr, an empty `from`. sendto and recvfrom
// themselves are send and recv with an address (sockets.go).
func senderAddress(from syscall.Sockaddr) []byte {
	if unix, ok := from.(*syscall.SockaddrUnix); ok && unix.Name != "" {
		if unix.Name[0] == '@' {
			return append([]byte{0}, unix.Name[1:]...)
		}
		return []byte(unix.Name)
	}
	return []byte{}
}
