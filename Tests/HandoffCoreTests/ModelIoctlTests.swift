// Reference model tests: ioctl (FIOCLEX, FIONCLEX, FIONBIO, FIONREAD) and a pipe's size (F_GETPIPE_SZ,
// F_SETPIPE_SZ).

@testable import HandoffCore
import Glibc
import HandoffProtocol
import Testing

extension ReferenceModelTests {
    @Test func fioclexMarksTheDescriptorNotTheDescription() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let copy = m.ok(.dup(fd: r)).fds[0]
        #expect(m.ok(.ioctl(fd: copy, request: .fioclex)) == Outcome(result: 0))
        #expect(m.cloexec("main", copy) == true && m.cloexec("main", r) == false)
        m.ok(.ioctl(fd: copy, request: .fionclex))
        #expect(m.cloexec("main", copy) == false)
        m.ok(.ioctl(fd: w, request: .fioclex))
        #expect(m.ok(.fcntl(fd: w, command: .getfd)) == Outcome(result: 1))
        m.ok(.close(fd: w))
        m.fails(.ioctl(fd: w, request: .fioclex), EBADF)
    }

    @Test func fionbioSetsTheSharedStatusFlag() {
        var m = makeModel()
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let copy = m.ok(.dup(fd: r)).fds[0]
        #expect(m.apply(.read(fd: r, count: 1), by: "main") == Outcome(blocks: true))
        m.ok(.ioctl(fd: copy, request: .fionbio(true)))
        #expect(m.description(m.desc("main", r)!).statusFlags == [.nonblock])
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.ioctl(fd: r, request: .fionbio(false)))
        #expect(m.description(m.desc("main", copy)!).statusFlags == [])
    }

    @Test func fionreadAnswersAsEachFileDoes() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.write(fd: w, data: bytes("hello")))
        #expect(m.ok(.ioctl(fd: r, request: .fionread)) == Outcome(result: 5))
        #expect(m.ok(.ioctl(fd: w, request: .fionread)) == Outcome(result: 5))
        let file = m.ok(.open(path: "f", flags: [.rdwr, .creat], mode: 0o644)).fds[0]
        m.ok(.write(fd: file, data: bytes("0123456789")))
        #expect(m.ok(.ioctl(fd: file, request: .fionread)) == Outcome(result: 0))
        m.ok(.lseek(fd: file, offset: 4, whence: .set))
        #expect(m.ok(.ioctl(fd: file, request: .fionread)) == Outcome(result: 6))
        // An int: past the end it is negative, and a difference past 32 bits is cut.
        m.ok(.lseek(fd: file, offset: 12, whence: .set))
        #expect(m.ok(.ioctl(fd: file, request: .fionread)) == Outcome(result: -2))
        let memfd = m.ok(.memfd(name: "m", closeOnExec: false)).fds[0]
        m.ok(.write(fd: memfd, data: bytes("0123456789")))
        m.ok(.lseek(fd: memfd, offset: 1 << 32, whence: .set))
        #expect(m.ok(.ioctl(fd: memfd, request: .fionread)) == Outcome(result: 10))
        let (s, t) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: s, fds: [], data: bytes("abc"), flags: []))
        m.ok(.send(socket: s, fds: [r], data: bytes("de"), flags: []))
        #expect(m.ok(.ioctl(fd: t, request: .fionread)) == Outcome(result: 5))
        let (d, e) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: d, fds: [], data: bytes("xyz"), flags: []))
        m.ok(.send(socket: d, fds: [], data: bytes("longer"), flags: []))
        #expect(m.ok(.ioctl(fd: e, request: .fionread)) == Outcome(result: 3))
        let event = m.ok(.eventfd(initial: 1, closeOnExec: false, nonBlocking: false, semaphore: false)).fds[0]
        m.fails(.ioctl(fd: event, request: .fionread), ENOTTY)
        let path = m.ok(.open(path: "f", flags: [.path], mode: 0o644)).fds[0]
        m.fails(.ioctl(fd: path, request: .fionread), EBADF)
        m.fails(.ioctl(fd: path, request: .fioclex), EBADF)
        // A pidfd: an anonymous inode before pidfs (ENOTTY); on pidfs 6.12 and 6.18 answer differently.
        let pidfd = m.fd(.pidfdOpen(target: "main"))
        m.pidfdsReopen = false
        m.fails(.ioctl(fd: pidfd, request: .fionread), ENOTTY)
        m.pidfdsReopen = true
        #expect(m.apply(.ioctl(fd: pidfd, request: .fionread), by: "main").beyondModel != nil)
        m.epollIoctl = false
        let epoll = m.ok(.epollCreate(closeOnExec: false)).fds[0]
        m.fails(.ioctl(fd: epoll, request: .fionread), ENOTTY)
        m.epollIoctl = true
        m.fails(.ioctl(fd: epoll, request: .fionread), EINVAL)
    }

    @Test func pipeSizeIsRoundedAndSharedByBothEnds() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        #expect(m.ok(.fcntl(fd: r, command: .getPipeSize)) == Outcome(result: 65536))
        #expect(m.ok(.fcntl(fd: w, command: .setPipeSize(bytes: 0))) == Outcome(result: 4096))
        #expect(m.ok(.fcntl(fd: r, command: .getPipeSize)) == Outcome(result: 4096))
        #expect(m.ok(.fcntl(fd: w, command: .setPipeSize(bytes: 5000))) == Outcome(result: 8192))
        m.fails(.fcntl(fd: w, command: .setPipeSize(bytes: (1 << 31) + 1)), EINVAL)
        // Two slots: a third page does not fit, whatever its bytes.
        m.ok(.write(fd: w, data: [1]))
        m.ok(.write(fd: w, data: [UInt8](repeating: 2, count: 4096)))
        m.fails(.write(fd: w, data: [3]), EAGAIN)
        // Fewer slots than are in use: EBUSY, and the size stays.
        m.fails(.fcntl(fd: w, command: .setPipeSize(bytes: 4096)), EBUSY)
        #expect(m.ok(.fcntl(fd: w, command: .getPipeSize)) == Outcome(result: 8192))
        let file = m.ok(.open(path: "f", flags: [.rdwr, .creat], mode: 0o644)).fds[0]
        m.fails(.fcntl(fd: file, command: .getPipeSize), EBADF)
        m.fails(.fcntl(fd: file, command: .setPipeSize(bytes: 4096)), EBADF)
    }

    @Test func growingPastPipeMaxSizeNeedsCapSysResourceInTheInitialNamespace() {
        var m = makeModel()
        let (_, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.pipeMaxSize = 1 << 20
        #expect(m.ok(.fcntl(fd: w, command: .setPipeSize(bytes: 1 << 20))) == Outcome(result: 1 << 20))
        m.initialUserNamespace = false
        m.fails(.fcntl(fd: w, command: .setPipeSize(bytes: 1 << 21)), EPERM)
        // Shrinking needs nothing.
        #expect(m.ok(.fcntl(fd: w, command: .setPipeSize(bytes: 4096))) == Outcome(result: 4096))
        m.initialUserNamespace = true
        m.ok(.dropCapability(name: "CAP_SYS_RESOURCE"))
        m.fails(.fcntl(fd: w, command: .setPipeSize(bytes: 1 << 21)), EPERM)
    }
}

extension ReferenceModelTests {
    @Test func seekDataAndHoleInAFileWrittenFromItsStart() {
        var m = makeModel()
        let f = m.ok(.open(path: "f", flags: [.rdwr, .creat], mode: 0o644)).fds[0]
        m.fails(.lseek(fd: f, offset: 0, whence: .data), ENXIO)
        m.ok(.write(fd: f, data: bytes("0123456789")))
        let copy = m.ok(.dup(fd: f)).fds[0]
        #expect(m.ok(.lseek(fd: f, offset: 3, whence: .data)) == Outcome(result: 3))
        #expect(m.ok(.lseek(fd: copy, offset: 4, whence: .hole)) == Outcome(result: 10))
        #expect(m.description(m.desc("main", f)!).offset == 10)
        m.fails(.lseek(fd: f, offset: 10, whence: .data), ENXIO)
        // Before 0: btrfs starts from 0 in a file that is not empty; everything else says ENXIO.
        #expect(m.apply(.lseek(fd: f, offset: -1, whence: .hole), by: "main").beyondModel != nil)
        let mem = m.ok(.memfd(name: "m", closeOnExec: false)).fds[0]
        m.ok(.write(fd: mem, data: bytes("x")))
        m.fails(.lseek(fd: mem, offset: -1, whence: .hole), ENXIO)
        #expect(m.description(m.desc("main", f)!).offset == 10)
    }

    @Test func aGapMakesHolesTheFilesystemsButDataBelowItStaysData() {
        var m = makeModel()
        let f = m.ok(.open(path: "f", flags: [.rdwr, .creat], mode: 0o644)).fds[0]
        m.ok(.write(fd: f, data: bytes("ab")))
        m.ok(.pwrite(fd: f, data: bytes("z"), offset: 8192))
        #expect(m.ok(.lseek(fd: f, offset: 1, whence: .data)) == Outcome(result: 1))
        #expect(m.apply(.lseek(fd: f, offset: 0, whence: .hole), by: "main").beyondModel != nil)
        #expect(m.apply(.lseek(fd: f, offset: 2, whence: .data), by: "main").beyondModel != nil)
        // Cut at the gap: no hole is left.
        m.ok(.ftruncate(fd: f, length: 2))
        #expect(m.ok(.lseek(fd: f, offset: 0, whence: .hole)) == Outcome(result: 2))
        // A memfd grown by ftruncate has a gap from its old end.
        let mem = m.ok(.memfd(name: "m", closeOnExec: false)).fds[0]
        m.ok(.write(fd: mem, data: bytes("abc")))
        m.ok(.ftruncate(fd: mem, length: 4096))
        #expect(m.apply(.lseek(fd: mem, offset: 0, whence: .hole), by: "main").beyondModel != nil)
        #expect(m.ok(.lseek(fd: mem, offset: 2, whence: .data)) == Outcome(result: 2))
        // O_TRUNC empties the file, gap and all.
        m.ok(.pwrite(fd: f, data: bytes("q"), offset: 100))
        // (Written through the new description, at 0: `f` is still at 2, and a write there would leave a gap.)
        let truncated = m.ok(.open(path: "f", flags: [.wronly, .trunc], mode: 0o644)).fds[0]
        m.ok(.write(fd: truncated, data: bytes("xyz")))
        #expect(m.ok(.lseek(fd: f, offset: 0, whence: .hole)) == Outcome(result: 3))
    }
}
