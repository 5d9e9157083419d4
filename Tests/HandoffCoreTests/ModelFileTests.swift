// Reference model tests: open, memfd, O_PATH and reopen through /proc/PID/fd.

@testable import HandoffCore
import Glibc
import Testing

extension ReferenceModelTests {
    // MARK: open

    @Test func openCreatExclTruncAndAccessModes() {
        var m = makeModel()
        m.fails(.open(path: "f", flags: [.rdonly], mode: 0), ENOENT)
        m.fails(.open(path: "f", flags: [.wronly, .excl], mode: 0), ENOENT)
        let w = m.fd(.open(path: "f", flags: [.creat, .excl, .wronly, .cloexec], mode: 0o644))
        #expect(m.cloexec("main", w) == true)
        #expect(m.description(m.desc("main", w)!) ==
            ModelDescription(id: m.desc("main", w)!, kind: .file(path: "f"), accessMode: .writeOnly,
                             statusFlags: [], offset: 0))
        m.fails(.open(path: "f", flags: [.creat, .excl, .rdwr], mode: 0o644), EEXIST)
        m.ok(.write(fd: w, data: bytes("hello")))
        // creat without excl opens the existing file without emptying it.
        let r = m.fd(.open(path: "f", flags: [.creat, .rdonly, .nonblock], mode: 0o644))
        #expect(m.description(m.desc("main", r)!).statusFlags == [.nonblock])
        #expect(m.description(m.desc("main", r)!).accessMode == .readOnly)
        #expect(m.ok(.read(fd: r, count: 100)) == readOutcome("hello"))
        // O_TRUNC empties the file (Linux does so even with O_RDONLY).
        let t = m.fd(.open(path: "f", flags: [.rdonly, .trunc], mode: 0))
        #expect(m.ok(.lseek(fd: t, offset: 0, whence: .end)) == Outcome(result: 0))
        let rw = m.fd(.open(path: "f", flags: [.rdwr, .append], mode: 0))
        #expect(m.description(m.desc("main", rw)!).accessMode == .readWrite)
        #expect(m.description(m.desc("main", rw)!).statusFlags == [.append])
        #expect(m.cloexec("main", rw) == false)
        m.fails(.open(path: "f/x", flags: [.rdonly], mode: 0), ENOTDIR)
        m.fails(.open(path: "d/x", flags: [.creat, .rdonly], mode: 0), ENOENT)
    }

    /// pread64 (ksys_pread64): EINVAL for a negative position before the descriptor is looked at, then EBADF
    /// (closed, O_PATH), ESPIPE (no FMODE_PREAD: pipes, sockets), EBADF (not open for reading); it reads at the
    /// position given and leaves the shared offset where it was.
    /// ksys_lseek refuses a whence past SEEK_HOLE (or negative: it is unsigned) before vfs_llseek looks at the
    /// object, so a pipe's is EINVAL and not ESPIPE; only fdget's EBADF comes first. The position stays.
    @Test func anUnknownWhenceIsRefusedBeforeTheObject() {
        var m = makeModel()
        let file = m.ok(.open(path: "f", flags: [.rdwr, .creat], mode: 0o644)).fds[0]
        m.ok(.write(fd: file, data: bytes("0123456789")))
        m.ok(.lseek(fd: file, offset: 3, whence: .set))
        for whence: Int32 in [5, -1, .max] { m.fails(.files(.lseek(fd: file, offset: 0, whence: whence)), EINVAL) }
        #expect(m.ok(.lseek(fd: file, offset: 0, whence: .cur)) == Outcome(result: 3))
        #expect(m.ok(.files(.lseek(fd: file, offset: 0, whence: 2))) == Outcome(result: 10), "2 is SEEK_END")
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(.lseek(fd: r, offset: 0, whence: .set), ESPIPE)
        m.fails(.files(.lseek(fd: r, offset: 0, whence: 5)), EINVAL)
        let counter = m.ok(.eventfd(initial: 0, closeOnExec: false, nonBlocking: false, semaphore: false)).fds[0]
        m.fails(.files(.lseek(fd: counter, offset: 0, whence: 5)), EINVAL)
        m.ok(.close(fd: r))
        m.fails(.files(.lseek(fd: r, offset: 0, whence: 5)), EBADF)
    }

    @Test func preadReadsAtItsPositionAndLeavesTheOffset() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.write(fd: f, data: bytes("0123456789")))
        m.ok(.lseek(fd: f, offset: 2, whence: .set))
        #expect(m.ok(.pread(fd: f, count: 4, offset: 5)) == readOutcome("5678"))
        #expect(m.ok(.pread(fd: f, count: 8, offset: 7)) == readOutcome("789"))
        #expect(m.ok(.pread(fd: f, count: 8, offset: 100)) == readOutcome(""))
        #expect(m.description(m.desc("main", f)!).offset == 2, "pread leaves the offset")
        #expect(m.ok(.read(fd: f, count: 3)) == readOutcome("234"))
        m.fails(.pread(fd: f, count: 1, offset: -1), EINVAL)
        m.fails(.pread(fd: 99, count: 1, offset: -1), EINVAL)
        m.fails(.pread(fd: 99, count: 1, offset: 0), EBADF)
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(.pread(fd: r, count: 1, offset: 0), ESPIPE)
        m.fails(.pread(fd: w, count: 1, offset: 0), ESPIPE)
        let writeOnly = m.fd(.open(path: "f", flags: [.wronly], mode: 0))
        m.fails(.pread(fd: writeOnly, count: 1, offset: 0), EBADF)
        let path = m.fd(.open(path: "f", flags: [.path], mode: 0))
        m.fails(.pread(fd: path, count: 1, offset: 0), EBADF)
        let memfd = m.fd(.memfd(name: "m", closeOnExec: false))
        m.ok(.write(fd: memfd, data: bytes("abc")))
        #expect(m.ok(.pread(fd: memfd, count: 2, offset: 1)) == readOutcome("bc"))
        #expect(m.description(m.desc("main", memfd)!).offset == 3)
        // A pidfd: ESPIPE as an anonymous inode, EINVAL on pidfs (FMODE_PREAD, no read_iter; handoff fuzz).
        let pidfd = m.fd(.pidfdOpen(target: "main"))
        m.fails(.pread(fd: pidfd, count: 1, offset: 0), ESPIPE)
        m.pidfdPreadErrno = EINVAL
        m.fails(.pread(fd: pidfd, count: 1, offset: 0), EINVAL)
    }

    /// Paths are walked as fs/namei.c walks them, byte by byte: a trailing '/' asks for a directory (ENOTDIR on
    /// a file, EISDIR for a create), "f/." steps into f (ENOTDIR), NAME_MAX holds for O_PATH too, PATH_MAX is
    /// getname's, and names that differ only in Unicode normalisation are two names.
    @Test func pathsAreWalkedByBytes() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.fails(.open(path: "f/", flags: [.rdonly], mode: 0), ENOTDIR)
        m.fails(.open(path: "f/", flags: [.path], mode: 0), ENOTDIR)
        m.fails(.open(path: "f/", flags: [.creat, .wronly], mode: 0), EISDIR)
        m.fails(.open(path: "g/", flags: [.creat, .wronly], mode: 0), EISDIR)
        m.fails(.open(path: "g/", flags: [.rdonly], mode: 0), ENOENT)
        m.fails(.open(path: "f/.", flags: [.rdonly], mode: 0), ENOTDIR)
        m.fails(.open(path: "f/\u{338}x", flags: [.creat, .rdwr], mode: 0), ENOTDIR)
        m.fails(.open(path: "nod/\u{338}x", flags: [.creat, .rdwr], mode: 0), ENOENT)
        let long = String(repeating: "b", count: 256)
        m.fails(.open(path: long, flags: [.path], mode: 0), ENAMETOOLONG)
        m.fails(.open(path: long, flags: [.creat, .rdwr], mode: 0), ENAMETOOLONG)
        m.fails(.open(path: long + "/x", flags: [.creat, .rdwr], mode: 0), ENAMETOOLONG)
        m.fails(.open(path: "f/" + long, flags: [.rdonly], mode: 0), ENOTDIR)
        let dots = String(repeating: "./", count: 2046)  // 4092 bytes
        #expect(m.ok(.open(path: dots + "./f", flags: [.rdonly], mode: 0)).fds.count == 1, "4095 bytes and the NUL fit")
        m.fails(.open(path: dots + "/./f", flags: [.path], mode: 0), ENAMETOOLONG)
        // Two spellings of é: two files.
        let precomposed = m.fd(.open(path: "\u{E9}", flags: [.creat, .excl, .rdwr], mode: 0o600))
        m.ok(.write(fd: precomposed, data: bytes("one")))
        let decomposed = m.fd(.open(path: "e\u{301}", flags: [.creat, .excl, .rdwr], mode: 0o600))
        #expect(m.ok(.read(fd: decomposed, count: 10)) == readOutcome(""))
        #expect(f != decomposed)
    }

    /// pwrite64 (ksys_pwrite64): pread's order of refusals, then FMODE_WRITE; it writes at the position given
    /// (filling a hole with zeros) and leaves the shared offset where it was, and with O_APPEND it appends, still
    /// without moving the offset.
    @Test func pwriteWritesAtItsPositionAndLeavesTheOffset() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.write(fd: f, data: bytes("0123")))
        m.ok(.lseek(fd: f, offset: 1, whence: .set))
        #expect(m.ok(.pwrite(fd: f, data: bytes("ab"), offset: 2)) == Outcome(result: 2))
        #expect(m.ok(.pwrite(fd: f, data: bytes("z"), offset: 6)) == Outcome(result: 1))
        #expect(m.description(m.desc("main", f)!).offset == 1, "pwrite leaves the offset")
        #expect(m.ok(.pread(fd: f, count: 10, offset: 0)) == readOutcome("01ab\0\0z"))
        #expect(m.ok(.pwrite(fd: f, data: [], offset: 100)) == Outcome(result: 0))
        #expect(m.ok(.lseek(fd: f, offset: 0, whence: .end)) == Outcome(result: 7), "an empty pwrite does not grow the file")
        // O_APPEND: to the end whatever the position; the offset stays.
        let appender = m.fd(.open(path: "f", flags: [.wronly, .append], mode: 0))
        #expect(m.ok(.pwrite(fd: appender, data: bytes("END"), offset: 0)) == Outcome(result: 3))
        #expect(m.description(m.desc("main", appender)!).offset == 0)
        #expect(m.ok(.pread(fd: f, count: 20, offset: 0)) == readOutcome("01ab\0\0zEND"))
        m.fails(.pwrite(fd: appender, data: bytes("x"), offset: .max), EINVAL)
        m.fails(.pwrite(fd: f, data: bytes("x"), offset: -1), EINVAL)
        m.fails(.pwrite(fd: 99, data: bytes("x"), offset: -1), EINVAL)
        m.fails(.pwrite(fd: 99, data: bytes("x"), offset: 0), EBADF)
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(.pwrite(fd: r, data: bytes("x"), offset: 0), ESPIPE)
        m.fails(.pwrite(fd: w, data: bytes("x"), offset: 0), ESPIPE)
        let readOnly = m.fd(.open(path: "f", flags: [.rdonly], mode: 0))
        m.fails(.pwrite(fd: readOnly, data: bytes("x"), offset: 0), EBADF)
        let path = m.fd(.open(path: "f", flags: [.path], mode: 0))
        m.fails(.pwrite(fd: path, data: bytes("x"), offset: 0), EBADF)
        let pidfd = m.fd(.pidfdOpen(target: "main"))
        m.fails(.pwrite(fd: pidfd, data: bytes("x"), offset: 0), ESPIPE)
        m.pidfdPreadErrno = EINVAL
        m.fails(.pwrite(fd: pidfd, data: bytes("x"), offset: 0), EINVAL)
        // A file past what the model keeps is beyond it, not a guess (the filesystem's s_maxbytes decides).
        #expect(m.apply(.pwrite(fd: f, data: bytes("x"), offset: 1 << 40), by: "main").beyondModel != nil)
    }

    /// rw_verify_area: a position plus a count past 2^63 - 1 is EINVAL for read, write and pread; what the
    /// model does not follow (a file past 256 MiB, a file position past 4 GiB - 1) is beyondModel, not a guess.
    @Test func theEndOfThePositionRangeAndTheModelsLimits() {
        var m = makeModel()
        let memfd = m.fd(.memfd(name: "m", closeOnExec: false))
        #expect(m.ok(.lseek(fd: memfd, offset: .max, whence: .set)) == Outcome(result: .max))
        m.fails(.read(fd: memfd, count: 1), EINVAL)
        #expect(m.ok(.read(fd: memfd, count: 0)) == readOutcome(""))
        m.fails(.write(fd: memfd, data: bytes("x")), EINVAL)
        m.fails(.pread(fd: memfd, count: 1, offset: .max), EINVAL)
        // With O_APPEND too: ksys_write gives rw_verify_area the description's position (the kernel's EINVAL
        // where the model appended).
        let appender = m.fd(.memfd(name: "a", closeOnExec: false))
        m.ok(.fcntl(fd: appender, command: .setfl([.append])))
        m.ok(.lseek(fd: appender, offset: .max, whence: .set))
        m.fails(.write(fd: appender, data: bytes("x")), EINVAL)
        #expect(m.ok(.pread(fd: memfd, count: 1, offset: .max - 1)) == readOutcome(""))
        #expect(m.ok(.lseek(fd: memfd, offset: 1 << 40, whence: .set)) == Outcome(result: 1 << 40))
        #expect(m.apply(.write(fd: memfd, data: bytes("ab")), by: "main").beyondModel?.contains("1099511627778") == true)
        let file = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        #expect(m.ok(.lseek(fd: file, offset: 0xFFFF_FFFF, whence: .set)) == Outcome(result: 0xFFFF_FFFF))
        #expect(m.apply(.lseek(fd: file, offset: 1, whence: .cur), by: "main").beyondModel?.contains("s_maxbytes") == true)
        #expect(m.description(m.desc("main", file)!).offset == 0xFFFF_FFFF, "a step beyond the model changes nothing")
    }

    @Test func fileReadWriteAppendAndHoles() {
        var m = makeModel()
        let a = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        #expect(m.ok(.write(fd: a, data: bytes("abc"))) == Outcome(result: 3))
        #expect(m.ok(.lseek(fd: a, offset: 5, whence: .set)) == Outcome(result: 5))
        m.ok(.write(fd: a, data: bytes("Z")))
        #expect(m.ok(.lseek(fd: a, offset: 0, whence: .set)) == Outcome(result: 0))
        #expect(m.ok(.read(fd: a, count: 100)) == Outcome(result: 6, data: [97, 98, 99, 0, 0, 90]))
        #expect(m.ok(.read(fd: a, count: 100)) == eof)
        let b = m.fd(.open(path: "f", flags: [.wronly, .append], mode: 0))
        m.ok(.write(fd: b, data: bytes("!")))
        #expect(m.description(m.desc("main", b)!).offset == 7)
        // Overwrite in the middle keeps the length.
        m.ok(.lseek(fd: a, offset: 1, whence: .set))
        m.ok(.write(fd: a, data: bytes("XY")))
        m.ok(.lseek(fd: a, offset: 0, whence: .set))
        #expect(m.ok(.read(fd: a, count: 3)) == readOutcome("aXY"))
        #expect(m.ok(.lseek(fd: a, offset: 0, whence: .end)) == Outcome(result: 7))
        // A zero-length write changes nothing, even with O_APPEND.
        m.ok(.lseek(fd: b, offset: 2, whence: .set))
        #expect(m.ok(.write(fd: b, data: [])) == Outcome(result: 0))
        #expect(m.description(m.desc("main", b)!).offset == 2)
    }

    @Test func accessModeChecksOnReadAndWrite() {
        var m = makeModel()
        let w = m.fd(.open(path: "f", flags: [.creat, .wronly], mode: 0o600))
        m.fails(.read(fd: w, count: 1), EBADF)
        let r = m.fd(.open(path: "f", flags: [.rdonly], mode: 0))
        m.fails(.write(fd: r, data: [1]), EBADF)
        m.fails(.read(fd: 40, count: 1), EBADF)
        m.fails(.write(fd: 40, data: [1]), EBADF)
        let (pr, pw) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(.write(fd: pr, data: [1]), EBADF)
        m.fails(.read(fd: pw, count: 1), EBADF)
    }

    @Test func memfdIsSeekableReadWrite() {
        var m = makeModel()
        let f = m.fd(.memfd(name: "buf", closeOnExec: true))
        #expect(m.cloexec("main", f) == true)
        #expect(m.description(m.desc("main", f)!) ==
            ModelDescription(id: m.desc("main", f)!, kind: .memfd(name: "buf"), accessMode: .readWrite,
                             statusFlags: [], offset: 0))
        m.ok(.write(fd: f, data: bytes("hello world")))
        #expect(m.ok(.lseek(fd: f, offset: -5, whence: .end)) == Outcome(result: 6))
        #expect(m.ok(.read(fd: f, count: 10)) == readOutcome("world"))
        #expect(m.ok(.fcntl(fd: f, command: .getfl)) == Outcome(result: 2, resultMask: getflMask))
    }

    @Test func pathAndNameLengthChecks() {
        var m = makeModel(limit: 3)
        m.fails(.open(path: "", flags: [.creat, .rdwr], mode: 0o600), ENOENT)  // before EMFILE
        m.fails(.open(path: String(repeating: "x", count: 256), flags: [.creat, .rdwr], mode: 0o600), EMFILE)
        m.fails(.memfd(name: String(repeating: "n", count: 250), closeOnExec: false), EINVAL)
        m.ok(.close(fd: 2))
        m.fails(.open(path: String(repeating: "x", count: 256), flags: [.creat, .rdwr], mode: 0o600), ENAMETOOLONG)
        #expect(m.fd(.open(path: String(repeating: "x", count: 255), flags: [.creat, .rdwr], mode: 0o600)) == 2)
        m.ok(.close(fd: 2))
        #expect(m.fd(.memfd(name: String(repeating: "n", count: 249), closeOnExec: false)) == 2)
    }

    // MARK: reopen through /proc/PID/fd

    @Test func reopenOfAFileIsANewDescription() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: [.creat, .wronly, .append], mode: 0o600))
        m.ok(.write(fd: f, data: bytes("hello")))
        m.ok(.fork(child: "c"))
        #expect(m.ok(.reopen(target: "main", fd: f, flags: [.rdonly, .cloexec]), by: "c") ==
            Outcome(result: 4, fds: [4]))
        let d = m.description(m.desc("c", 4)!)
        #expect(m.desc("c", 4) != m.desc("c", f))
        #expect(d.kind == .file(path: "f"))
        #expect(d.accessMode == .readOnly)
        #expect(d.statusFlags == [])
        #expect(d.offset == 0)
        #expect(m.cloexec("c", 4) == true)
        #expect(m.ok(.read(fd: 4, count: 3), by: "c") == readOutcome("hel"))
        #expect(m.description(m.desc("main", f)!).offset == 5)
        // O_CREAT alone is ignored; O_CREAT|O_EXCL finds the /proc entry itself.
        m.ok(.reopen(target: "main", fd: f, flags: [.rdwr, .creat]))
        m.fails(.reopen(target: "main", fd: f, flags: [.rdwr, .creat, .excl]), EEXIST)
        // O_TRUNC empties the file.
        m.ok(.reopen(target: "main", fd: f, flags: [.rdonly, .trunc]))
        #expect(m.ok(.read(fd: 4, count: 3), by: "c") == eof)
        #expect(m.referencesAreConsistent())
    }

    @Test func reopenOfAMemfdSharesTheContents() {
        var m = makeModel()
        let mf = m.fd(.memfd(name: "m", closeOnExec: false))
        m.ok(.write(fd: mf, data: bytes("abc")))
        let r = m.fd(.reopen(target: "main", fd: mf, flags: [.rdwr, .nonblock]))
        #expect(m.description(m.desc("main", r)!).kind == .memfd(name: "m"))
        #expect(m.description(m.desc("main", r)!).statusFlags == [.nonblock])
        #expect(m.ok(.read(fd: r, count: 9)) == readOutcome("abc"))
        m.ok(.write(fd: r, data: bytes("d")))
        m.ok(.lseek(fd: mf, offset: 0, whence: .set))
        #expect(m.ok(.read(fd: mf, count: 9)) == readOutcome("abcd"))
    }

    @Test func reopenOfAPipeAddsReadersAndWriters() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        let r2 = m.fd(.reopen(target: "main", fd: w, flags: [.rdonly, .nonblock]))
        #expect(m.description(m.desc("main", r2)!).accessMode == .readOnly)
        m.ok(.close(fd: r))
        // r2 is a reader: writing still works.
        m.ok(.write(fd: w, data: bytes("x")))
        #expect(m.ok(.read(fd: r2, count: 4)) == readOutcome("x"))
        let w2 = m.fd(.reopen(target: "main", fd: r2, flags: [.wronly]))
        m.ok(.close(fd: w))
        m.fails(.read(fd: r2, count: 4), EAGAIN)
        m.ok(.close(fd: w2))
        #expect(m.ok(.read(fd: r2, count: 4)) == eof)
        // O_RDWR counts as reader and writer.
        let rw = m.fd(.reopen(target: "main", fd: r2, flags: [.rdwr, .nonblock]))
        m.ok(.close(fd: r2))
        m.ok(.write(fd: rw, data: bytes("y")))
        #expect(m.ok(.read(fd: rw, count: 4)) == readOutcome("y"))
        m.fails(.read(fd: rw, count: 4), EAGAIN)
        #expect(m.description(m.desc("main", rw)!).kind == .pipe)
        #expect(m.referencesAreConsistent())
    }

    @Test func reopenErrors() {
        var m = makeModel(limit: 8)
        let (a, _) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let p = m.fd(.pidfdOpen(target: "main"))
        let l = m.fd(listenOp(.unix(path: "s")))
        m.fails(.reopen(target: "main", fd: a, flags: [.rdwr]), ENXIO)
        m.fails(.reopen(target: "main", fd: l, flags: [.rdwr]), ENXIO)
        m.fails(.reopen(target: "main", fd: p, flags: [.rdonly]), ENXIO)
        m.fails(.reopen(target: "main", fd: 7, flags: [.rdonly]), ENOENT)
        m.fails(.reopen(target: "nobody", fd: 0, flags: [.rdonly]), ENOENT)
        m.ok(.fork(child: "c"))
        m.ok(.exit(status: 0), by: "c")
        m.fails(.reopen(target: "c", fd: 0, flags: [.rdonly]), ENOENT)
        m.ok(.wait(child: "c"))
        m.fails(.reopen(target: "c", fd: 0, flags: [.rdonly]), ENOENT)
        m.ok(.dup(fd: 0))
        // A full table: EMFILE before everything.
        m.fails(.reopen(target: "nobody", fd: 0, flags: [.rdonly]), EMFILE)
    }

    @Test func reopenNeedsPtraceAccessToANonDumpableTarget() {
        var m = makeModel()
        m.ok(.dropCapability(name: "CAP_SYS_PTRACE"))
        m.ok(.fork(child: "c"))
        m.ok(.reopen(target: "main", fd: 0, flags: [.rdonly]), by: "c")
        m.ok(.setDumpable(false))
        m.fails(.reopen(target: "main", fd: 0, flags: [.rdonly]), EACCES, by: "c")
        // The missing descriptor is found before the link is followed.
        m.fails(.reopen(target: "main", fd: 40, flags: [.rdonly]), ENOENT, by: "c")
        m.ok(.reopen(target: "main", fd: 0, flags: [.rdonly]))
    }

    @Test func reopenOfInheritedStdio() {
        var m = makeModel()
        let n = m.fd(.reopen(target: "main", fd: 1, flags: [.rdwr, .nonblock]))
        let d = m.description(m.desc("main", n)!)
        #expect(d.kind == m.description(m.desc("main", 1)!).kind)
        #expect(d.accessMode == .readWrite)
        #expect(d.statusFlags == [.nonblock])
        #expect(m.desc("main", n) != m.desc("main", 1))
        #expect(m.ok(.read(fd: n, count: 3)) == eof)
    }
}

@Suite struct PathDescriptorModelTests {
    @Test func anOPathDescriptorNamesAFileButCannotDoIO() {
        var model = ReferenceModel(nofileLimit: 64)
        #expect(model.apply(.open(path: "f", flags: [.path], mode: 0), by: "main").errno == ENOENT, "O_PATH creates nothing")
        _ = model.apply(.open(path: "f", flags: [.wronly, .creat], mode: 0o644), by: "main")
        let opened = model.apply(.open(path: "f", flags: [.path, .creat, .cloexec], mode: 0), by: "main")
        #expect(opened.fds == [4])
        #expect(model.table(of: "main")[4]?.closeOnExec == true)
        #expect(model.apply(.read(fd: 4, count: 1), by: "main").errno == EBADF)
        #expect(model.apply(.write(fd: 4, data: [1]), by: "main").errno == EBADF)
        #expect(model.apply(.lseek(fd: 4, offset: 0, whence: .set), by: "main").errno == EBADF)
        #expect(model.apply(.fcntl(fd: 4, command: .setfl([.nonblock])), by: "main").errno == EBADF)
        #expect(model.apply(.fcntl(fd: 4, command: .getfd), by: "main").result == 1)
        #expect(model.apply(.dup(fd: 4), by: "main").fds == [5])
        #expect(model.apply(.read(fd: 5, count: 1), by: "main").errno == EBADF, "a dup is O_PATH too")
        _ = model.apply(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false), by: "main")
        #expect(model.apply(.send(socket: 6, fds: [4], data: [1]), by: "main").result == 1, "it can be passed")
        #expect(model.apply(.send(socket: 4, fds: [], data: [1]), by: "main").errno == EBADF)
    }
}
