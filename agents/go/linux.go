// Linux numbers the syscall package of Go 1.19 does not export (or exports under other names), written
// once here with the header they come from, and the protocol's limits (Sources/HandoffProtocol).
package main

import "syscall"

const (
	protocolVersion = 2
	// The channel's preferred number: high, so it never disturbs lowest-free numbering (Protocol.swift).
	preferredControl  = 1023
	maximumPacketSize = 256 * 1024
	maximumTransfer   = 65536              // read/recv `count`
	maximumRoom       = 4096               // recv `room`
	maximumControl    = 16 + 4*maximumRoom // recv `control`, in bytes: CmsgSpace(maximumRoom*4)
	maximumHeaders    = 64                 // send_headers `headers`
	maximumHeaderFDs  = 4096               // descriptors in one send_headers header
	loopSlotCount     = 64
	implementation    = "go"

	envControlFD     = "HANDOFF_CONTROL_FD"
	envControlSocket = "HANDOFF_CONTROL_SOCKET"
	envParent        = "HANDOFF_PARENT_PID"
	// Private to this agent: how a ForkExec'd child (the stand-in for a forked one) finds its channel.
	// Removed from the environment at start, so that the child reports its parent's environment.
	envForked = "HANDOFF_GO_FORKED"
)

const (
	// <asm-generic/fcntl.h>; Go's syscall.O_LARGEFILE is 0 on amd64.
	oPath = 0o10000000
	// <uapi/linux/fcntl.h>
	fDupfdQuery = 1027
	fSetpipeSz  = 1031
	fGetpipeSz  = 1032
	// <asm-generic/ioctls.h>: the requests every file answers (IoctlRequest in Vocabulary.swift).
	fionread = 0x541B
	fionbio  = 0x5421
	fionclex = 0x5450
	fioclex  = 0x5451
	// <linux/close_range.h>
	closeRangeUnshare = 1 << 1
	closeRangeCloexec = 1 << 2
	// <linux/eventfd.h>
	efdSemaphore = 1
	// <linux/memfd.h>
	mfdCloexec      = 1
	mfdAllowSealing = 2
	// <uapi/linux/fcntl.h>: file seals
	fAddSeals        = 1033
	fGetSeals        = 1034
	fSealSeal        = 0x1
	fSealShrink      = 0x2
	fSealGrow        = 0x4
	fSealWrite       = 0x8
	fSealFutureWrite = 0x10
	fSealExec        = 0x20
	sealsKnown       = fSealSeal | fSealShrink | fSealGrow | fSealWrite | fSealFutureWrite | fSealExec
	// <linux/time.h>: the clocks timerfd_create is asked for
	clockRealtime  = 0
	clockMonotonic = 1
	clockBoottime  = 7
	// signalfd4's sizemask: the kernel's sigset_t, 64 bits
	kernelSigsetSize = 8
	// <sys/socket.h>
	msgCmsgCloexec = 0x40000000
	msgDontwait    = 0x40
	msgOob         = 0x01
	msgPeek        = 0x02
	msgTrunc       = 0x20
	msgWaitall     = 0x100
	msgNosignal    = 0x4000
	// <asm-generic/socket.h>: SOL_SOCKET options and a control message newer than Go 1.19's syscall package
	soPeekOff    = 42
	soPasspidfd  = 76
	soPeerpidfd  = 77
	soPassrights = 83
	soInq        = 84
	scmPidfd     = 4
	// <linux/prctl.h>
	prSetPdeathsig = 1
	prSetDumpable  = 4
	// <asm/unistd_64.h>
	sysMemfdCreate   = 319
	sysEventfd2      = 290
	sysSignalfd4     = 289
	sysTimerfdCreate = 283
	sysPidfdOpen     = 434
	sysPidfdGetfd    = 438
	// pidfd_send_signal(2) (Linux 5.1)
	sysPidfdSendSignal = 424
	sysCloseRange    = 436
	sysCapget        = 125
	sysCapset        = 126
	sysPrctl         = 157
	sysRtSigaction   = 13
)

// The flags each operation's decoder keeps: the Swift decoder turns flag fields into booleans
// (OperationCoding.swift), so bits it does not know are dropped the same way here.
const (
	openFlagsKnown = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_CREAT | syscall.O_EXCL | syscall.O_TRUNC |
		syscall.O_APPEND | syscall.O_NONBLOCK | syscall.O_CLOEXEC | oPath
	socketFlags = syscall.SOCK_CLOEXEC | syscall.SOCK_NONBLOCK
	// EPOLLIN | EPOLLOUT | EPOLLET (Go's syscall.EPOLLET is a negative int)
	epollEventsKnown uint32 = 0x1 | 0x4 | 0x2000 | 1<<30 | 1<<31
	// The most events an epoll_wait step asks for (ReadyRegistration.maximumReported).
	maxReady = 1024
	// <asm-generic/poll.h>: POLLIN | POLLOUT | POLLRDHUP, and POLLNVAL
	pollEventsKnown int16 = 0x1 | 0x4 | 0x2000
	pollNval              = 0x20
)

// waitid(2): <linux/wait.h> and <asm-generic/siginfo.h>
const (
	pPidfd    = 3
	wNohang   = 1
	wExited   = 4
	cldExited = 1
)

// siginfo_t as waitid fills it for SIGCHLD (x86_64: 128 bytes; si_pid at 16, si_status at 24).
type sigInfo struct {
	signo, errno, code, _ int32
	pid, uid, status      int32
	_                     [100]byte
}

// struct pollfd (<asm-generic/poll.h>); the syscall package has none.
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}
