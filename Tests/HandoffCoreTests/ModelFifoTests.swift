// Reference model tests: FIFOs (mkfifo, fifo_open's partners and O_NONBLOCK rules, the pipe's life).

@testable import HandoffCore
import Glibc
import HandoffProtocol
import Testing

extension ReferenceModelTests {
    /// do_mknodat: EEXIST for any existing name, ENOENT for a trailing '/', ENOTDIR below a file,
    /// ENAMETOOLONG; the mode loses the umask; a FIFO is a name that open, bind and O_PATH then find.
    @Test func mkfifoMakesANameAndRefusesExistingOnes() {
        var m = makeModel()
        m.umask = 0o022
        #expect(m.ok(.mkfifo(path: "ff", mode: 0o666)) == Outcome(result: 0))
        #expect(m.fileModes[FileName("ff")] == 0o644)
        m.fails(.mkfifo(path: "ff", mode: 0o644), EEXIST)
        m.ok(.open(path: "plain", flags: [.creat, .wronly], mode: 0o644))
        m.fails(.mkfifo(path: "plain", mode: 0o644), EEXIST)
        m.fails(.mkfifo(path: "other/", mode: 0o644), ENOENT)
        m.fails(.mkfifo(path: "plain/under", mode: 0o644), ENOTDIR)
        m.fails(.mkfifo(path: String(repeating: "x", count: 256), mode: 0o644), ENAMETOOLONG)
        m.fails(.open(path: "ff", flags: [.creat, .excl, .rdwr], mode: 0o644), EEXIST)
        let p = m.fd(.open(path: "ff", flags: [.path], mode: 0))
        #expect(m.description(m.desc("main", p)!).kind == .file(path: "ff"))
        let rw = m.fd(.open(path: "ff", flags: [.rdwr], mode: 0))
        #expect(m.description(m.desc("main", rw)!).kind == .fifo(path: "ff"))
        m.fails(.lseek(fd: rw, offset: 0, whence: .set), ESPIPE)
    }

    /// fifo_open with O_NONBLOCK: a reader opens alone, a writer alone is ENXIO; O_RDWR never waits; without
    /// O_NONBLOCK the lone opener sleeps (a background call) counted as a reader or writer.
    @Test func fifoOpensWithAndWithoutAPartner() {
        var m = makeModel()
        m.ok(.mkfifo(path: "ff", mode: 0o644))
        m.fails(.open(path: "ff", flags: [.wronly, .nonblock], mode: 0), ENXIO)
        let alone = m.apply(.open(path: "ff", flags: [.wronly], mode: 0), by: "main")
        #expect(alone.blocks && alone.changedBeforeBlocking)
        m.ok(.fork(child: "kid"))
        // The sleeping writer counts: a reader's open does not wait, and wakes it.
        let r = m.fd(.open(path: "ff", flags: [.rdonly], mode: 0), by: "kid")
        let w = m.fd(.open(path: "ff", flags: [.wronly], mode: 0))
        m.ok(.write(fd: w, data: bytes("hi")))
        #expect(m.ok(.read(fd: r, count: 8), by: "kid") == readOutcome("hi"))
        #expect(m.desc("main", w) != m.desc("kid", r))
        let rw = m.fd(.open(path: "ff", flags: [.rdwr, .nonblock], mode: 0), by: "kid")
        #expect(m.description(m.desc("kid", rw)!).kind == .fifo(path: "ff"))
        #expect(m.referencesAreConsistent())
    }

    /// A reader asleep in open returns once a writer has opened, even if that writer closed again since; a
    /// process killed while asleep there gives its count back.
    @Test func aSleepingOpenerWaitsForThePartnersCount() {
        var m = makeModel()
        m.ok(.mkfifo(path: "ff", mode: 0o644))
        m.ok(.fork(child: "kid"))
        #expect(m.apply(.open(path: "ff", flags: [.rdonly], mode: 0), by: "kid").blocks)
        // Asked again with nothing changed: still asleep.
        #expect(m.apply(.open(path: "ff", flags: [.rdonly], mode: 0), by: "kid") == Outcome(blocks: true))
        let w = m.fd(.open(path: "ff", flags: [.wronly, .nonblock], mode: 0))
        m.ok(.close(fd: w))
        let r = m.fd(.open(path: "ff", flags: [.rdonly], mode: 0), by: "kid")
        #expect(m.ok(.read(fd: r, count: 4), by: "kid") == eof)
        // A writer asleep and then killed: nobody writes, a reader's nonblocking open sees no writer.
        m.ok(.close(fd: r), by: "kid")
        m.ok(.fork(child: "writer"))
        let pidfd = m.fd(.pidfdOpen(target: "writer"))
        #expect(m.apply(.open(path: "ff", flags: [.wronly], mode: 0), by: "writer").blocks)
        m.ok(.pidfdSendSignal(pidfd: pidfd, signal: .kill))
        #expect(m.fifoSleepers.isEmpty)
        m.fails(.open(path: "ff", flags: [.wronly, .nonblock], mode: 0), ENXIO)
        let late = m.fd(.open(path: "ff", flags: [.rdonly, .nonblock], mode: 0))
        #expect(m.ok(.read(fd: late, count: 4)) == eof)
    }

    /// pipe_poll: a reader opened O_NONBLOCK before any writer is not hung up until a writer has come and gone;
    /// the pipe and its data go with the last opener.
    @Test func fifoHangupAndTheEndOfItsPipe() {
        var m = makeModel()
        m.ok(.mkfifo(path: "ff", mode: 0o644))
        let early = m.fd(.open(path: "ff", flags: [.rdonly, .nonblock], mode: 0))
        #expect(m.ok(.poll(fd: early, events: [.in], timeout: 0)).result == 0)
        let w = m.fd(.open(path: "ff", flags: [.wronly], mode: 0))
        m.ok(.write(fd: w, data: bytes("data")))
        m.ok(.close(fd: w))
        #expect(m.ok(.poll(fd: early, events: [.in], timeout: 0)).result == Int64(Linux.POLLIN | Linux.POLLHUP))
        m.ok(.close(fd: early))
        let again = m.fd(.open(path: "ff", flags: [.rdwr, .nonblock], mode: 0))
        m.fails(.read(fd: again, count: 4), EAGAIN)
        // An anonymous pipe's reopened reader is hung up whenever no writer is left.
        let (r, pw) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        let r2 = m.fd(.reopen(target: "main", fd: r, flags: [.rdonly, .nonblock]))
        m.ok(.close(fd: pw))
        #expect(m.ok(.poll(fd: r2, events: [.in], timeout: 0)).result == Int64(Linux.POLLHUP))
        #expect(m.referencesAreConsistent())
    }

    /// Reopening through /proc: a FIFO's descriptor (or an O_PATH one) opens as the FIFO does; an O_PATH
    /// descriptor of a socket file does not open (ENXIO).
    @Test func reopenOfAFifoIsFifoOpen() {
        var m = makeModel()
        m.ok(.mkfifo(path: "ff", mode: 0o644))
        let p = m.fd(.open(path: "ff", flags: [.path], mode: 0))
        m.fails(.reopen(target: "main", fd: p, flags: [.wronly, .nonblock]), ENXIO)
        let r = m.fd(.reopen(target: "main", fd: p, flags: [.rdonly, .nonblock]))
        let w = m.fd(.reopen(target: "main", fd: r, flags: [.wronly, .nonblock]))
        #expect(m.description(m.desc("main", w)!).kind == .fifo(path: "ff"))
        m.ok(.close(fd: r))
        m.fails(.reopen(target: "main", fd: w, flags: [.wronly, .nonblock]), ENXIO)
        let s = m.fd(.socket(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.bind(socket: s, address: .unix(path: "sock")))
        let sp = m.fd(.open(path: "sock", flags: [.path], mode: 0))
        m.fails(.reopen(target: "main", fd: sp, flags: [.rdwr]), ENXIO)
    }
}
