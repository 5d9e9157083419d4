// netprobe: why the agent uses the syscall package and not net, os or os/exec. Run `make probe`; it
// prints, in an ordinary Go program:
//   - RLIMIT_NOFILE after package os's init (Go 1.19 raises the soft limit to the hard one);
//   - the table after the first *os.File use (the netpoller's epoll descriptor and pipe appear);
//   - net.FileConn: a dup of the socket, and O_NONBLOCK set on the shared open file description;
//   - net.UnixConn.ReadMsgUnix: received descriptors are close-on-exec whatever the caller wants;
//   - os/exec ExtraFiles: (*os.File).Fd() puts a non-blocking description back into blocking mode.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
)

func table(label string) {
	entries, _ := os.ReadDir("/proc/self/fd")
	fmt.Print(label, ":")
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Print(" ", e.Name(), "->", target)
	}
	fmt.Println()
}

func flags(fd int) string {
	fl, _, _ := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	fdf, _, _ := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	return fmt.Sprintf("nonblock=%v cloexec=%v", fl&syscall.O_NONBLOCK != 0, fdf&syscall.FD_CLOEXEC != 0)
}

func main() {
	var limit syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit)
	fmt.Println("RLIMIT_NOFILE after package os's init: soft", limit.Cur, "hard", limit.Max)
	pair, _ := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0) // blocking, inheritable
	table("table after os.ReadDir (the netpoller starts)")
	fmt.Println("socket", pair[0], flags(pair[0]))
	conn, err := net.FileConn(os.NewFile(uintptr(pair[0]), "s"))
	if err != nil {
		panic(err)
	}
	table("table after net.FileConn")
	fmt.Println("original socket", pair[0], flags(pair[0]), "(the dup shares its description)")

	devnull, _ := os.Open("/dev/null")
	syscall.Sendmsg(pair[1], []byte("x"), syscall.UnixRights(int(devnull.Fd())), nil, 0)
	oob := make([]byte, syscall.CmsgSpace(4))
	_, oobn, _, _, _ := conn.(*net.UnixConn).ReadMsgUnix(make([]byte, 1), oob)
	messages, _ := syscall.ParseSocketControlMessage(oob[:oobn])
	fds, _ := syscall.ParseUnixRights(&messages[0])
	fmt.Println("ReadMsgUnix received", fds[0], flags(fds[0]))

	syscall.SetNonblock(pair[1], true)
	file := os.NewFile(uintptr(pair[1]), "nb")
	fmt.Println("before exec.Cmd.Run:", pair[1], flags(pair[1]))
	command := exec.Command("/bin/true")
	command.ExtraFiles = []*os.File{file}
	command.Run()
	fmt.Println("after exec.Cmd.Run with it in ExtraFiles:", pair[1], flags(pair[1]))
}
