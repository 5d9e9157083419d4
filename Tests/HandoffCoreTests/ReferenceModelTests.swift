@testable import HandoffCore
import Glibc
import Testing

// Helpers ----------------------------------------------------------------------------------------------------

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private let getflMask: Int64 = 3 | 0o2000 | 0o4000

extension ReferenceModel {
    /// Applies an operation that must succeed and returns its outcome.
    @discardableResult
    fileprivate mutating func ok(_ operation: Operation, by process: String = "main",
                                 sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Outcome {
        let outcome = apply(operation, by: process)
        #expect(outcome.errno == 0, "\(operation) failed with errno \(outcome.errno)", sourceLocation: sourceLocation)
        #expect(!outcome.blocks, "\(operation) blocks", sourceLocation: sourceLocation)
        return outcome
    }

    /// Applies an operation that must fail with `errno`.
    fileprivate mutating func fails(_ operation: Operation, _ errno: Int32, by process: String = "main",
                                    sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let outcome = apply(operation, by: process)
        #expect(outcome == .failure(errno), "\(operation) -> \(outcome)", sourceLocation: sourceLocation)
    }

    fileprivate mutating func fd(_ operation: Operation, by process: String = "main",
                                 sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Int32 {
        let outcome = ok(operation, by: process, sourceLocation: sourceLocation)
        return outcome.fds.first ?? -1
    }

    fileprivate mutating func pair(_ operation: Operation, by process: String = "main") -> (Int32, Int32) {
        let outcome = ok(operation, by: process)
        return (outcome.fds[0], outcome.fds[1])
    }

    fileprivate func desc(_ process: String, _ fd: Int32) -> DescriptionID? { table(of: process)[fd]?.description }

    fileprivate func cloexec(_ process: String, _ fd: Int32) -> Bool? { table(of: process)[fd]?.closeOnExec }

    fileprivate func numbers(_ process: String = "main") -> [Int32] { table(of: process).keys.sorted() }
}

private func makeModel(limit: Int32 = 64) -> ReferenceModel { ReferenceModel(nofileLimit: limit) }

private let eof = Outcome(result: 0, data: [])

private func readOutcome(_ text: String) -> Outcome { Outcome(result: Int64(text.utf8.count), data: bytes(text)) }

private func recvOutcome(_ data: [UInt8], fds: [Int32] = [], flags: Int32 = 0) -> Outcome {
    Outcome(result: Int64(data.count), fds: fds, data: data, messageFlags: flags)
}

private let creatRW: Set<OpenFlag> = [.creat, .rdwr]

// Tests ------------------------------------------------------------------------------------------------------

@Suite struct ReferenceModelTests {

    // MARK: Initial state and numbering

    @Test func rootStartsWithStandardDescriptors() {
        let m = makeModel()
        #expect(m.processNames == ["main"])
        #expect(m.state(of: "main") == .running)
        #expect(m.parent(of: "main") == nil)
        #expect(m.numbers() == [0, 1, 2])
        let t = m.table(of: "main")
        #expect(t[1]!.description == t[2]!.description)
        #expect(t[0]!.description != t[1]!.description)
        #expect(t.values.allSatisfy { !$0.closeOnExec })
        #expect(m.description(t[0]!.description).accessMode == .readOnly)
        #expect(m.description(t[1]!.description).accessMode == .writeOnly)
        #expect(m.description(t[1]!.description).statusFlags == [.append])
        #expect(m.description(t[1]!.description).offset == nil)
        #expect(m.nofileLimit(of: "main") == 64)
    }

    @Test func stdioReadsEOFAndWritesSucceed() {
        var m = makeModel()
        #expect(m.ok(.read(fd: 0, count: 10)) == eof)
        #expect(m.ok(.write(fd: 1, data: bytes("hello"))) == Outcome(result: 5))
        m.fails(.read(fd: 1, count: 1), EBADF)
        m.fails(.write(fd: 0, data: [1]), EBADF)
    }

    @Test func newDescriptorsTakeTheLowestFreeNumber() {
        var m = makeModel()
        #expect(m.ok(.open(path: "a", flags: creatRW, mode: 0o600)) == Outcome(result: 3, fds: [3]))
        #expect(m.fd(.open(path: "b", flags: creatRW, mode: 0o600)) == 4)
        m.ok(.close(fd: 0))
        m.ok(.close(fd: 3))
        #expect(m.ok(.pipe(closeOnExec: false, nonBlocking: false)) == Outcome(result: 0, fds: [0, 3]))
        #expect(m.ok(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false)) == Outcome(result: 0, fds: [5, 6]))
        #expect(m.ok(.memfd(name: "m", closeOnExec: false)) == Outcome(result: 7, fds: [7]))
    }

    @Test func emfileAtTheLimit() {
        var m = makeModel(limit: 5)
        #expect(m.fd(.open(path: "a", flags: creatRW, mode: 0o600)) == 3)
        #expect(m.fd(.dup(fd: 3)) == 4)
        m.fails(.dup(fd: 3), EMFILE)
        m.fails(.open(path: "a", flags: [.rdonly], mode: 0), EMFILE)
        // The number is reserved before the path is looked up: EMFILE wins and nothing is created.
        m.fails(.open(path: "new", flags: [.creat, .wronly], mode: 0o600), EMFILE)
        m.fails(.open(path: "missing", flags: [.rdonly], mode: 0), EMFILE)
        m.fails(.memfd(name: "m", closeOnExec: false), EMFILE)
        m.fails(.pidfdOpen(target: "main"), EMFILE)
        m.ok(.close(fd: 4))
        // pipe needs two numbers: one free is not enough, and nothing is installed.
        m.fails(.pipe(closeOnExec: false, nonBlocking: false), EMFILE)
        m.fails(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false), EMFILE)
        #expect(m.numbers() == [0, 1, 2, 3])
        m.fails(.open(path: "new", flags: [.rdonly], mode: 0), ENOENT)
        #expect(m.referencesAreConsistent())
    }

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

    // MARK: dup family

    @Test func dupSharesDescriptionAndClearsCloexec() {
        var m = makeModel()
        let (r, _) = m.pair(.pipe(closeOnExec: true, nonBlocking: false))
        let d = m.fd(.dup(fd: r))
        #expect(d == 5)
        #expect(m.desc("main", d) == m.desc("main", r))
        #expect(m.cloexec("main", d) == false)
        #expect(m.cloexec("main", r) == true)
        #expect(m.references(m.desc("main", r)!) == 2)
        m.fails(.dup(fd: 99), EBADF)
        m.fails(.dup(fd: -1), EBADF)
    }

    @Test func dup2ClosesTargetAndReaderSeesEOF() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.fcntl(fd: w, command: .setfd(closeOnExec: true)))
        #expect(m.apply(.read(fd: r, count: 1), by: "main").blocks)
        // Replacing the only write end with the file closes it: the pipe now has no writers.
        #expect(m.ok(.dup2(fd: f, target: w)) == Outcome(result: Int64(w), fds: [w]))
        #expect(m.desc("main", w) == m.desc("main", f))
        #expect(m.cloexec("main", w) == false)
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        #expect(m.referencesAreConsistent())
    }

    @Test func dup2OntoItselfAndOntoSameDescription() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: true, nonBlocking: true))
        #expect(m.ok(.dup2(fd: w, target: w)) == Outcome(result: Int64(w), fds: [w]))
        #expect(m.cloexec("main", w) == true)  // nothing changed
        m.fails(.dup2(fd: 50, target: 50), EBADF)
        // dup2 onto a number already sharing the description must not release it in between.
        let d = m.fd(.dup(fd: w))
        m.ok(.dup2(fd: w, target: d))
        m.ok(.close(fd: w))
        m.ok(.write(fd: d, data: [1]))
        #expect(m.ok(.read(fd: r, count: 5)) == Outcome(result: 1, data: [1]))
        #expect(m.referencesAreConsistent())
    }

    @Test func dup2TargetRangeAndLimit() {
        var m = makeModel(limit: 10)
        m.fails(.dup2(fd: 0, target: 10), EBADF)
        m.fails(.dup2(fd: 0, target: -1), EBADF)
        m.fails(.dup2(fd: 7, target: 8), EBADF)
        #expect(m.ok(.dup2(fd: 0, target: 9)) == Outcome(result: 9, fds: [9]))
        #expect(m.numbers() == [0, 1, 2, 9])
        // A number above the lowest free one is fine; the next dup still takes the lowest.
        #expect(m.fd(.dup(fd: 9)) == 3)
    }

    @Test func dup3ValidatesInOrder() {
        var m = makeModel(limit: 10)
        // flags first
        m.fails(.dup3(fd: 50, target: 50, flags: 1), EINVAL)
        m.fails(.dup3(fd: 0, target: 5, flags: 0o2000000 | 0o4000), EINVAL)
        // then fd == target (even for a closed fd)
        m.fails(.dup3(fd: 50, target: 50, flags: 0), EINVAL)
        m.fails(.dup3(fd: 0, target: 0, flags: 0o2000000), EINVAL)
        // then the target range (before the fd's validity)
        m.fails(.dup3(fd: 50, target: 10, flags: 0), EBADF)
        m.fails(.dup3(fd: 0, target: -3, flags: 0), EBADF)
        // then fd validity
        m.fails(.dup3(fd: 7, target: 8, flags: 0), EBADF)
        #expect(m.numbers() == [0, 1, 2])
    }

    @Test func dup3SetsCloexecFromFlags() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: [.creat, .rdwr, .cloexec], mode: 0o600))
        #expect(m.ok(.dup3(fd: f, target: 7, flags: 0o2000000)) == Outcome(result: 7, fds: [7]))
        #expect(m.cloexec("main", 7) == true)
        m.ok(.dup3(fd: f, target: 8, flags: 0))
        #expect(m.cloexec("main", 8) == false)
        // dup3 onto an open target closes it.
        m.ok(.dup3(fd: 0, target: 7, flags: 0))
        #expect(m.desc("main", 7) == m.desc("main", 0))
        #expect(m.references(m.desc("main", f)!) == 2)
    }

    // MARK: fcntl

    @Test func fcntlDupfdVariants() {
        var m = makeModel(limit: 12)
        #expect(m.ok(.fcntl(fd: 1, command: .dupfd(minimum: 5))) == Outcome(result: 5, fds: [5]))
        #expect(m.cloexec("main", 5) == false)
        #expect(m.ok(.fcntl(fd: 1, command: .dupfdCloexec(minimum: 5))) == Outcome(result: 6, fds: [6]))
        #expect(m.cloexec("main", 6) == true)
        #expect(m.ok(.fcntl(fd: 1, command: .dupfd(minimum: 0))) == Outcome(result: 3, fds: [3]))
        m.fails(.fcntl(fd: 1, command: .dupfd(minimum: -1)), EINVAL)
        m.fails(.fcntl(fd: 1, command: .dupfd(minimum: 12)), EINVAL)
        m.fails(.fcntl(fd: 20, command: .dupfd(minimum: 3)), EBADF)
        m.ok(.fcntl(fd: 1, command: .dupfd(minimum: 11)))
        m.fails(.fcntl(fd: 1, command: .dupfdCloexec(minimum: 11)), EMFILE)
        #expect(m.desc("main", 11) == m.desc("main", 1))
    }

    @Test func fcntlGetfdSetfd() {
        var m = makeModel()
        let f = m.fd(.memfd(name: "x", closeOnExec: false))
        #expect(m.ok(.fcntl(fd: f, command: .getfd)) == Outcome(result: 0))
        #expect(m.ok(.fcntl(fd: f, command: .setfd(closeOnExec: true))) == Outcome(result: 0))
        #expect(m.ok(.fcntl(fd: f, command: .getfd)) == Outcome(result: 1))
        #expect(m.cloexec("main", f) == true)
        m.ok(.fcntl(fd: f, command: .setfd(closeOnExec: false)))
        #expect(m.cloexec("main", f) == false)
        m.fails(.fcntl(fd: 30, command: .getfd), EBADF)
    }

    @Test func fcntlGetflReportsAccessModeAndStatusFlags() {
        var m = makeModel()
        let w = m.fd(.open(path: "f", flags: [.creat, .wronly, .append], mode: 0o600))
        #expect(m.ok(.fcntl(fd: w, command: .getfl)) == Outcome(result: 1 | 0o2000, resultMask: getflMask))
        let (r, pw) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        #expect(m.ok(.fcntl(fd: r, command: .getfl)) == Outcome(result: 0o4000, resultMask: getflMask))
        #expect(m.ok(.fcntl(fd: pw, command: .getfl)) == Outcome(result: 1 | 0o4000, resultMask: getflMask))
        let (s, _) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        #expect(m.ok(.fcntl(fd: s, command: .getfl)) == Outcome(result: 2, resultMask: getflMask))
        #expect(m.ok(.fcntl(fd: 0, command: .getfl)) == Outcome(result: 0, resultMask: getflMask))
        m.fails(.fcntl(fd: 33, command: .getfl), EBADF)
    }

    @Test func setflChangesTheSharedDescriptionInEveryProcess() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.fork(child: "kid"))
        #expect(m.ok(.fcntl(fd: r, command: .setfl([.nonblock])), by: "kid") == Outcome(result: 0))
        // The parent's descriptor shares the description: it is now non-blocking too.
        #expect(m.description(m.desc("main", r)!).statusFlags == [.nonblock])
        #expect(m.ok(.fcntl(fd: r, command: .getfl)) == Outcome(result: 0o4000, resultMask: getflMask))
        m.fails(.read(fd: r, count: 1), EAGAIN)
        // setfl replaces: append only clears nonblock.
        m.ok(.fcntl(fd: r, command: .setfl([.append])), by: "main")
        #expect(m.description(m.desc("kid", r)!).statusFlags == [.append])
        #expect(m.apply(.read(fd: r, count: 1), by: "kid").blocks)
        // The write end was not affected.
        #expect(m.description(m.desc("main", w)!).statusFlags == [])
    }

    // MARK: close / close_range

    @Test func closeAndCloseRange() {
        var m = makeModel()
        for _ in 0..<5 { m.ok(.open(path: "f", flags: [.creat, .rdonly], mode: 0o600)) }  // 3...7
        #expect(m.ok(.close(fd: 3)) == Outcome(result: 0))
        m.fails(.close(fd: 3), EBADF)
        m.fails(.close(fd: -1), EBADF)
        m.fails(.closeRange(first: 6, last: 5, closeOnExec: false, unshare: false), EINVAL)
        #expect(m.ok(.closeRange(first: 5, last: UInt32.max, closeOnExec: true, unshare: false)) == Outcome(result: 0))
        #expect(m.numbers() == [0, 1, 2, 4, 5, 6, 7])
        #expect(m.cloexec("main", 4) == false)
        #expect([5, 6, 7].allSatisfy { m.cloexec("main", $0) == true })
        m.ok(.closeRange(first: 2, last: 5, closeOnExec: false, unshare: true))
        #expect(m.numbers() == [0, 1, 6, 7])
        m.ok(.closeRange(first: 100, last: 200, closeOnExec: false, unshare: false))
        #expect(m.numbers() == [0, 1, 6, 7])
        #expect(m.referencesAreConsistent())
    }

    // MARK: lseek and offsets

    @Test func lseekWhenceAndErrors() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.write(fd: f, data: bytes("0123456789")))
        #expect(m.ok(.lseek(fd: f, offset: 3, whence: .set)) == Outcome(result: 3))
        #expect(m.ok(.lseek(fd: f, offset: 2, whence: .cur)) == Outcome(result: 5))
        #expect(m.ok(.lseek(fd: f, offset: -1, whence: .end)) == Outcome(result: 9))
        #expect(m.ok(.lseek(fd: f, offset: 100, whence: .end)) == Outcome(result: 110))
        m.fails(.lseek(fd: f, offset: -11, whence: .end), EINVAL)
        m.fails(.lseek(fd: f, offset: -1, whence: .set), EINVAL)
        #expect(m.description(m.desc("main", f)!).offset == 110)  // failed seeks leave it
        m.fails(.lseek(fd: 44, offset: 0, whence: .set), EBADF)
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(.lseek(fd: r, offset: 0, whence: .cur), ESPIPE)
        m.fails(.lseek(fd: w, offset: 0, whence: .set), ESPIPE)
        let (s, _) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.fails(.lseek(fd: s, offset: 0, whence: .set), ESPIPE)
        let p = m.fd(.pidfdOpen(target: "main"))
        m.fails(.lseek(fd: p, offset: 0, whence: .set), ESPIPE)
    }

    @Test func offsetIsSharedAfterDupAndFork() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.write(fd: f, data: bytes("abcdef")))
        m.ok(.lseek(fd: f, offset: 0, whence: .set))
        let d = m.fd(.dup(fd: f))
        #expect(m.ok(.read(fd: d, count: 2)) == readOutcome("ab"))
        m.ok(.fork(child: "kid"))
        #expect(m.ok(.read(fd: f, count: 2), by: "kid") == readOutcome("cd"))
        #expect(m.ok(.lseek(fd: f, offset: 0, whence: .cur)) == Outcome(result: 4))
        // A separate open has its own offset.
        let other = m.fd(.open(path: "f", flags: [.rdonly], mode: 0))
        #expect(m.ok(.read(fd: other, count: 1)) == readOutcome("a"))
        #expect(m.description(m.desc("kid", d)!).offset == 4)
    }

    // MARK: pipes

    @Test func pipeReadSemantics() {
        var m = makeModel()
        let out = m.ok(.pipe(closeOnExec: true, nonBlocking: false))
        #expect(out == Outcome(result: 0, fds: [3, 4]))
        let (r, w) = (out.fds[0], out.fds[1])
        #expect(m.cloexec("main", r) == true && m.cloexec("main", w) == true)
        #expect(m.description(m.desc("main", r)!).kind == .pipe)
        #expect(m.description(m.desc("main", r)!).accessMode == .readOnly)
        #expect(m.description(m.desc("main", w)!).accessMode == .writeOnly)
        #expect(m.apply(.read(fd: r, count: 4), by: "main") == Outcome(blocks: true))
        #expect(m.ok(.write(fd: w, data: bytes("hello"))) == Outcome(result: 5))
        #expect(m.ok(.read(fd: r, count: 2)) == readOutcome("he"))
        m.ok(.write(fd: w, data: bytes("!")))
        #expect(m.ok(.read(fd: r, count: 100)) == readOutcome("llo!"))
        #expect(m.ok(.read(fd: r, count: 0)) == eof)
        m.ok(.close(fd: w))
        #expect(m.ok(.read(fd: r, count: 10)) == eof)
    }

    @Test func pipeNonBlockingAndEOFAfterDataDrained() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        #expect(m.description(m.desc("main", r)!).statusFlags == [.nonblock])
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.write(fd: w, data: bytes("xy")))
        m.ok(.close(fd: w))
        // Data first, then EOF (not EAGAIN) once no writer is left.
        #expect(m.ok(.read(fd: r, count: 10)) == readOutcome("xy"))
        #expect(m.ok(.read(fd: r, count: 10)) == eof)
    }

    @Test func pipeWriteWithoutReadersIsEPIPE() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.close(fd: r))
        m.fails(.write(fd: w, data: [1, 2]), EPIPE)
        // A null write succeeds before the readers check.
        #expect(m.ok(.write(fd: w, data: [])) == Outcome(result: 0))
    }

    @Test func pipeCapacityIsSixteenPages() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        let big = [UInt8](repeating: 7, count: 70000)
        #expect(m.ok(.write(fd: w, data: big)) == Outcome(result: 65536))
        m.fails(.write(fd: w, data: [1]), EAGAIN)
        #expect(m.pipeBytes(m.desc("main", r)!) == 65536)
        // Reading one byte does not free a slot; reading a whole page does.
        m.ok(.read(fd: r, count: 1))
        m.fails(.write(fd: w, data: [1]), EAGAIN)
        m.ok(.read(fd: r, count: 4095))
        #expect(m.ok(.write(fd: w, data: [UInt8](repeating: 1, count: 5000))) == Outcome(result: 4096))
    }

    @Test func pipeCountsPagesNotBytes() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.write(fd: w, data: [UInt8](repeating: 1, count: 100)))
        // 65536 % 4096 == 0: nothing merges into the first page, 15 fresh pages remain.
        #expect(m.ok(.write(fd: w, data: [UInt8](repeating: 2, count: 65536))) == Outcome(result: 61440))
        // A 1-byte write cannot merge into the last page (it is full) and no slot is free.
        m.fails(.write(fd: w, data: [3]), EAGAIN)
        #expect(m.pipeBytes(m.desc("main", r)!) == 61540)
        var n = makeModel()
        let (r2, w2) = n.pair(.pipe(closeOnExec: false, nonBlocking: true))
        for _ in 0..<100 { n.ok(.write(fd: w2, data: [1])) }  // all merge into one page
        #expect(n.ok(.write(fd: w2, data: [UInt8](repeating: 3, count: 10))) == Outcome(result: 10))
        #expect(n.pipeBytes(n.desc("main", r2)!) == 110)
        #expect(n.ok(.write(fd: w2, data: [UInt8](repeating: 2, count: 65536))) == Outcome(result: 61440))
        // The remainder (len % 4096) goes first and only merges if it fits behind the last page's data.
        n.ok(.read(fd: r2, count: 110))
        #expect(n.ok(.write(fd: w2, data: [UInt8](repeating: 4, count: 4096 + 5))) == Outcome(result: 4096))
    }

    @Test func blockingPipeWriteThatDoesNotFitBlocks() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.write(fd: w, data: [UInt8](repeating: 1, count: 65000)))
        let outcome = m.apply(.write(fd: w, data: [UInt8](repeating: 1, count: 1000)), by: "main")
        #expect(outcome == Outcome(blocks: true))
        #expect(m.pipeBytes(m.desc("main", r)!) == 65000)  // unchanged
        #expect(m.ok(.write(fd: w, data: [UInt8](repeating: 1, count: 536))) == Outcome(result: 536))
    }

    // MARK: fork / exec / exit / wait

    @Test func forkCopiesTableAndReferences() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: true, nonBlocking: false))
        #expect(m.ok(.fork(child: "kid")) == Outcome())
        #expect(m.processNames == ["main", "kid"])
        #expect(m.parent(of: "kid") == "main")
        #expect(m.state(of: "kid") == .running)
        #expect(m.table(of: "kid") == m.table(of: "main"))
        #expect(m.references(m.desc("main", w)!) == 2)
        #expect(m.references(m.desc("main", 1)!) == 4)
        #expect(m.nofileLimit(of: "kid") == 64)
        // The child's descriptors are independent entries.
        m.ok(.close(fd: r), by: "kid")
        #expect(m.table(of: "main")[r] != nil)
        #expect(m.referencesAreConsistent())
    }

    @Test func pipeEOFOnlyAfterEveryWriteEndInEveryProcessIsClosed() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        let d = m.fd(.dup(fd: w))
        m.ok(.fork(child: "kid"))
        m.ok(.fork(child: "grandkid"), by: "kid")
        m.ok(.close(fd: w))
        m.ok(.close(fd: d))
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.close(fd: w), by: "kid")
        m.ok(.close(fd: d), by: "kid")
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.close(fd: w), by: "grandkid")
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.close(fd: d), by: "grandkid")
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
    }

    @Test func execClosesOnlyCloseOnExecDescriptors() {
        var m = makeModel()
        let keep = m.fd(.open(path: "f", flags: [.creat, .rdwr], mode: 0o600))
        let (pr, pw) = m.pair(.pipe(closeOnExec: true, nonBlocking: false))
        let mem = m.fd(.memfd(name: "m", closeOnExec: true))
        let keptDesc = m.desc("main", keep)
        m.ok(.fcntl(fd: mem, command: .setfd(closeOnExec: false)))
        #expect(m.ok(.exec(arguments: ["--x"])) == Outcome(result: 0))
        #expect(m.numbers() == [0, 1, 2, keep, mem])
        #expect(m.desc("main", keep) == keptDesc)
        #expect(m.table(of: "main")[pr] == nil && m.table(of: "main")[pw] == nil)
        #expect(m.referencesAreConsistent())
    }

    @Test func exitClosesEverythingAndKillsDescendants() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.fork(child: "kid"))
        m.ok(.close(fd: r), by: "kid")
        m.ok(.fork(child: "grandkid"), by: "kid")
        m.ok(.fork(child: "sibling"))
        m.ok(.close(fd: w))
        m.ok(.close(fd: w), by: "sibling")
        #expect(m.apply(.exit(status: 3), by: "kid") == Outcome())
        #expect(m.state(of: "kid") == .exited(status: 3))
        #expect(m.state(of: "grandkid") == .killed)
        #expect(m.state(of: "sibling") == .running)
        #expect(m.table(of: "kid").isEmpty && m.table(of: "grandkid").isEmpty)
        // The last write ends died with kid and grandkid.
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // Dead processes cannot act.
        m.fails(.close(fd: 0), ESRCH, by: "kid")
        m.fails(.close(fd: 0), ESRCH, by: "grandkid")
        m.fails(.close(fd: 0), ESRCH, by: "nobody")
        #expect(m.referencesAreConsistent())
    }

    @Test func rootExitKillsTheWholeTree() {
        var m = makeModel()
        m.ok(.fork(child: "a"))
        m.ok(.fork(child: "b"), by: "a")
        m.ok(.fork(child: "c"))
        m.ok(.exit(status: 0), by: "c")
        m.ok(.exit(status: 256 + 7))
        #expect(m.state(of: "main") == .exited(status: 7))
        #expect(m.state(of: "a") == .killed)
        #expect(m.state(of: "b") == .killed)
        #expect(m.state(of: "c") == .exited(status: 0))  // already exited: not killed
        #expect(m.processNames == ["main", "a", "b", "c"])
        #expect(m.references(DescriptionID(raw: 1)) == 0)
    }

    @Test func waitReapsChildren() {
        var m = makeModel()
        m.ok(.fork(child: "kid"))
        m.ok(.fork(child: "grandkid"), by: "kid")
        m.fails(.wait(child: "grandkid"), ECHILD)
        m.fails(.wait(child: "nobody"), ECHILD)
        m.fails(.wait(child: "main"), ECHILD, by: "kid")
        #expect(m.apply(.wait(child: "kid"), by: "main") == Outcome(blocks: true))
        m.ok(.exit(status: 42), by: "grandkid")
        #expect(m.ok(.wait(child: "grandkid"), by: "kid") == Outcome(status: 42))
        #expect(m.state(of: "grandkid") == .reaped)
        m.fails(.wait(child: "grandkid"), ECHILD, by: "kid")
        m.ok(.exit(status: 0), by: "kid")
        #expect(m.ok(.wait(child: "kid")) == Outcome(status: 0))
        m.fails(.wait(child: "kid"), ECHILD)
    }

    // MARK: SCM_RIGHTS

    @Test func scmRightsSharesDescriptionAndDropsSenderCloexec() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: [.creat, .rdwr, .cloexec], mode: 0o600))
        m.ok(.fork(child: "peer"))
        m.ok(.close(fd: f), by: "peer")
        #expect(m.ok(.send(socket: a, fds: [f], data: bytes("x"))) == Outcome(result: 1))
        #expect(m.references(m.desc("main", f)!) == 2)  // main's entry + in flight
        let got = m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false), by: "peer")
        #expect(got == recvOutcome(bytes("x"), fds: [f]))  // lowest free in peer is f's old number
        #expect(m.desc("peer", f) == m.desc("main", f))
        #expect(m.cloexec("peer", f) == false)
        #expect(m.references(m.desc("main", f)!) == 2)
        #expect(m.referencesAreConsistent())
    }

    @Test func msgCmsgCloexecSetsCloseOnExec() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.memfd(name: "m", closeOnExec: false))
        m.ok(.send(socket: a, fds: [f, f], data: bytes("two")))
        let got = m.ok(.recv(socket: b, count: 10, room: 2, closeOnExec: true, nonBlocking: false))
        #expect(got == recvOutcome(bytes("two"), fds: [6, 7]))
        #expect(m.cloexec("main", 6) == true && m.cloexec("main", 7) == true)
        #expect(m.desc("main", 6) == m.desc("main", f) && m.desc("main", 7) == m.desc("main", f))
        #expect(m.references(m.desc("main", f)!) == 3)
    }

    @Test func offsetIsSharedAfterSCMRights() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.write(fd: f, data: bytes("abcdef")))
        m.ok(.lseek(fd: f, offset: 1, whence: .set))
        m.ok(.fork(child: "peer"))
        m.ok(.send(socket: a, fds: [f], data: bytes("f")))
        let got = m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false), by: "peer")
        let received = got.fds[0]
        #expect(m.ok(.read(fd: received, count: 2), by: "peer") == readOutcome("bc"))
        #expect(m.ok(.read(fd: f, count: 2)) == readOutcome("de"))
    }

    @Test func capacityRoundsUpToEightBytes() {
        #expect(ReferenceModel.capacity(room: 0) == 0)
        #expect(ReferenceModel.capacity(room: 1) == 2)
        #expect(ReferenceModel.capacity(room: 2) == 2)
        #expect(ReferenceModel.capacity(room: 3) == 4)
        #expect(ReferenceModel.capacity(room: 253) == 254)
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [0, 1], data: bytes("x")))
        // room 1 still installs both descriptors: CMSG_SPACE(4) == CMSG_SPACE(8).
        #expect(m.ok(.recv(socket: b, count: 1, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("x"), fds: [5, 6]))
        m.ok(.send(socket: a, fds: [0, 1, 2], data: bytes("y")))
        #expect(m.ok(.recv(socket: b, count: 1, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("y"), fds: [7, 8], flags: 0x8))
        #expect(m.referencesAreConsistent())
    }

    @Test func ctruncReleasesTheExcessDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.send(socket: a, fds: [f, f, w], data: bytes("m")))
        m.ok(.close(fd: w))
        #expect(m.apply(.read(fd: r, count: 1), by: "main").blocks)  // the write end is in flight
        let got = m.ok(.recv(socket: b, count: 4, room: 2, closeOnExec: false, nonBlocking: false))
        #expect(got == recvOutcome(bytes("m"), fds: [w, 8], flags: 0x8))
        #expect(m.desc("main", w) == m.desc("main", f))
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        #expect(m.referencesAreConsistent())
    }

    @Test func roomZeroReceivesNoDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: a, fds: [w], data: bytes("hi")))
        m.ok(.close(fd: w))
        m.fails(.read(fd: r, count: 1), EAGAIN)
        #expect(m.ok(.recv(socket: b, count: 10, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("hi"), flags: 0x8))
        #expect(m.numbers() == [0, 1, 2, a, b, r])
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // A message without descriptors never sets MSG_CTRUNC.
        m.ok(.send(socket: a, fds: [], data: bytes("plain")))
        #expect(m.ok(.recv(socket: b, count: 10, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("plain")))
    }

    @Test func scmMaxFDLimit() {
        var m = makeModel(limit: 1024)
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.fails(.send(socket: a, fds: Array(repeating: 0, count: 254), data: bytes("x")), EINVAL)
        m.fails(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        #expect(m.ok(.send(socket: a, fds: Array(repeating: 0, count: 253), data: bytes("x"))) == Outcome(result: 1))
        #expect(m.references(m.desc("main", 0)!) == 254)
        let got = m.ok(.recv(socket: b, count: 1, room: 253, closeOnExec: false, nonBlocking: false))
        #expect(got.fds == Array(5..<258))
        #expect(got.messageFlags == 0)
        #expect(m.references(m.desc("main", 0)!) == 254)
        #expect(m.referencesAreConsistent())
    }

    @Test func badDescriptorInListSendsNothing() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.fails(.send(socket: a, fds: [0, 42], data: bytes("x")), EBADF)
        m.fails(.recv(socket: b, count: 10, room: 4, closeOnExec: false, nonBlocking: true), EAGAIN)
        #expect(m.references(m.desc("main", 0)!) == 1)
        m.fails(.send(socket: 42, fds: [], data: bytes("x")), EBADF)
        let f = m.fd(.memfd(name: "m", closeOnExec: false))
        m.fails(.send(socket: f, fds: [], data: bytes("x")), ENOTSOCK)
        m.fails(.recv(socket: f, count: 1, room: 0, closeOnExec: false, nonBlocking: true), ENOTSOCK)
        m.fails(.recv(socket: 42, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EBADF)
        // The fd-count check comes before the fd validity check.
        m.fails(.send(socket: a, fds: Array(repeating: 99, count: 254), data: bytes("x")), EINVAL)
    }

    @Test func senderClosesEverythingBeforeReceiverReceives() {
        var n = makeModel()
        let (c, d) = n.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        n.ok(.fork(child: "sender"))
        n.ok(.close(fd: c))
        n.ok(.close(fd: d), by: "sender")
        let g = n.fd(.open(path: "g", flags: creatRW, mode: 0o600), by: "sender")
        n.ok(.write(fd: g, data: bytes("xyz")), by: "sender")
        n.ok(.send(socket: c, fds: [g], data: bytes("take")), by: "sender")
        n.ok(.exit(status: 0), by: "sender")
        let got = n.ok(.recv(socket: d, count: 10, room: 1, closeOnExec: false, nonBlocking: false))
        #expect(got == recvOutcome(bytes("take"), fds: [3]))
        #expect(n.description(n.desc("main", 3)!).offset == 3)
        n.ok(.lseek(fd: 3, offset: 0, whence: .set))
        #expect(n.ok(.read(fd: 3, count: 10)) == readOutcome("xyz"))
        // The sender is gone: EOF after the queued data.
        #expect(n.ok(.recv(socket: d, count: 10, room: 1, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
        #expect(n.referencesAreConsistent())
    }

    @Test func closingTheReceiverWithAMessageInFlightReleasesIt() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [w], data: bytes("w")))
        m.ok(.close(fd: w))
        #expect(m.apply(.read(fd: r, count: 1), by: "main").blocks)
        m.ok(.close(fd: b))
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // The peer closed with unread data: ECONNRESET once, then EOF; sends fail EPIPE.
        m.fails(.send(socket: a, fds: [], data: bytes("z")), EPIPE)
        m.fails(.recv(socket: a, count: 1, room: 0, closeOnExec: false, nonBlocking: false), ECONNRESET)
        #expect(m.ok(.recv(socket: a, count: 1, room: 0, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
        #expect(m.referencesAreConsistent())
    }

    @Test func purgeCascadesThroughSocketsInFlight() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (c, d) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: c, fds: [w], data: bytes("pipe")))  // w in flight in d's queue
        m.ok(.send(socket: a, fds: [d], data: bytes("sock")))  // d in flight in b's queue
        m.ok(.close(fd: w))
        m.ok(.close(fd: d))
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.close(fd: b))  // purges b: releases d, which purges d's queue: releases w
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // c's dgram peer is dead now.
        m.fails(.send(socket: c, fds: [], data: bytes("?")), ECONNREFUSED)
        m.fails(.send(socket: c, fds: [], data: bytes("?")), ENOTCONN)
        #expect(m.referencesAreConsistent())
    }

    @Test func streamZeroLengthSendTransfersNothing() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        #expect(m.ok(.send(socket: a, fds: [0], data: [])) == Outcome(result: 0))
        #expect(m.references(m.desc("main", 0)!) == 1)
        m.fails(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: true), EAGAIN)
        // A seqpacket (or dgram) zero-length message does carry descriptors.
        let (c, d) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: c, fds: [0], data: []))
        #expect(m.ok(.recv(socket: d, count: 10, room: 1, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome([], fds: [7]))
    }

    @Test func datagramTruncationAndMessageBoundaries() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("hello")))
        m.ok(.send(socket: a, fds: [], data: bytes("world")))
        #expect(m.ok(.recv(socket: b, count: 3, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("hel"), flags: 0x20))
        #expect(m.ok(.recv(socket: b, count: 30, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("world")))
        #expect(m.apply(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: false), by: "main") ==
            Outcome(blocks: true))
        // Both directions work; read() on a socket reports no message flags.
        m.ok(.write(fd: b, data: bytes("back")))
        #expect(m.ok(.read(fd: a, count: 2)) == readOutcome("ba"))
        // The rest of the datagram was discarded; the blocking description would now block.
        #expect(m.apply(.read(fd: a, count: 2), by: "main") == Outcome(blocks: true))
    }

    @Test func streamReadsGlueMessagesAndStopAfterDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("ab")))
        m.ok(.send(socket: a, fds: [0], data: bytes("cd")))
        m.ok(.send(socket: a, fds: [], data: bytes("ef")))
        // Bytes of the first message glue with the next one, whose descriptor ends the read.
        #expect(m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("abcd"), fds: [5]))
        #expect(m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("ef")))
        // A partial read takes the descriptors with the first bytes and leaves the rest.
        m.ok(.send(socket: a, fds: [1], data: bytes("12345")))
        #expect(m.ok(.recv(socket: b, count: 2, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("12"), fds: [6]))
        #expect(m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("345")))
        // Stream reads never report MSG_TRUNC.
        m.ok(.send(socket: a, fds: [], data: bytes("long message")))
        #expect(m.ok(.recv(socket: b, count: 4, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("long")))
    }

    @Test func readOnASocketDiscardsDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: true))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [w], data: bytes("x")))
        m.ok(.close(fd: w))
        #expect(m.ok(.read(fd: b, count: 5)) == readOutcome("x"))
        #expect(m.numbers() == [0, 1, 2, a, b, r])
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // The description is non-blocking: an empty queue with a live peer is EAGAIN.
        m.fails(.read(fd: b, count: 5), EAGAIN)
        #expect(m.ok(.read(fd: b, count: 0)) == eof)
    }

    @Test func recvEmptyQueueRules() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        #expect(m.apply(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: false), by: "main").blocks)
        m.fails(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        m.ok(.close(fd: a))  // closed with an empty queue: plain EOF, no ECONNRESET
        #expect(m.ok(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
        m.fails(.send(socket: b, fds: [], data: bytes("x")), EPIPE)
        m.fails(.write(fd: b, data: bytes("x")), EPIPE)

        let (c, d) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: c, fds: [], data: bytes("last")))
        m.ok(.close(fd: c))
        #expect(m.ok(.recv(socket: d, count: 10, room: 0, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("last")))
        #expect(m.ok(.recv(socket: d, count: 10, room: 0, closeOnExec: false, nonBlocking: true)) == recvOutcome([]))
        m.fails(.send(socket: d, fds: [], data: bytes("x")), EPIPE)

        let (e, f) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.close(fd: e))
        m.fails(.recv(socket: f, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        #expect(m.apply(.recv(socket: f, count: 1, room: 0, closeOnExec: false, nonBlocking: false), by: "main").blocks)
    }

    @Test func seqpacketPeerClosedWithUnreadDataReportsECONNRESETFirst() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("unread")))  // sits in b's queue
        m.ok(.send(socket: b, fds: [], data: bytes("for a")))
        m.ok(.close(fd: b))
        m.fails(.recv(socket: a, count: 10, room: 0, closeOnExec: false, nonBlocking: false), ECONNRESET)
        #expect(m.ok(.recv(socket: a, count: 10, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("for a")))
        #expect(m.ok(.recv(socket: a, count: 10, room: 0, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
    }

    @Test func dgramSendToDeadPeerPurgesOwnQueue() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: b, fds: [w], data: bytes("to a")))
        m.ok(.close(fd: w))
        m.ok(.close(fd: b))
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.fails(.send(socket: a, fds: [], data: bytes("x")), ECONNREFUSED)
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        m.fails(.recv(socket: a, count: 10, room: 1, closeOnExec: false, nonBlocking: true), EAGAIN)
        m.fails(.send(socket: a, fds: [], data: bytes("x")), ENOTCONN)
        #expect(m.referencesAreConsistent())
    }

    @Test func recvStopsInstallingAtTheLimit() {
        var m = makeModel(limit: 7)
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))  // 3, 4
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))  // 5, 6
        m.ok(.send(socket: a, fds: [0, w], data: bytes("x")))
        m.ok(.close(fd: w))
        m.ok(.close(fd: r))
        m.ok(.close(fd: 2))
        // Free numbers below the limit: 2, 5, 6.
        m.ok(.send(socket: a, fds: [0, 0, 0], data: bytes("y")))
        #expect(m.ok(.recv(socket: b, count: 1, room: 2, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("x"), fds: [2, 5]))
        #expect(m.ok(.recv(socket: b, count: 1, room: 3, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("y"), fds: [6], flags: 0x8))
        #expect(m.referencesAreConsistent())
    }

    // MARK: pidfds

    @Test func pidfdOpenIsAlwaysCloseOnExec() {
        var m = makeModel()
        m.ok(.fork(child: "kid"))
        let p = m.fd(.pidfdOpen(target: "kid"))
        #expect(p == 3)
        #expect(m.cloexec("main", p) == true)
        #expect(m.description(m.desc("main", p)!).kind == .pidfd)
        #expect(m.description(m.desc("main", p)!).accessMode == .readWrite)
        m.fails(.read(fd: p, count: 1), EINVAL)
        m.fails(.write(fd: p, data: [1]), EINVAL)
        m.fails(.pidfdOpen(target: "ghost"), ESRCH)
        m.ok(.exit(status: 1), by: "kid")
        #expect(m.fd(.pidfdOpen(target: "kid")) == 4)  // a zombie still has a pid
        m.ok(.wait(child: "kid"))
        m.fails(.pidfdOpen(target: "kid"), ESRCH)
    }

    @Test func pidfdGetfdSharesTheTargetsDescription() {
        var m = makeModel()
        m.ok(.fork(child: "kid"))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600), by: "kid")
        m.ok(.write(fd: f, data: bytes("abc")), by: "kid")
        let out = m.ok(.pidfdGetfd(target: "kid", fd: f, flags: 0))
        #expect(out == Outcome(result: 3, fds: [3]))
        #expect(m.desc("main", 3) == m.desc("kid", f))
        #expect(m.cloexec("main", 3) == true)
        #expect(m.ok(.lseek(fd: 3, offset: 0, whence: .cur)) == Outcome(result: 3))
        m.fails(.pidfdGetfd(target: "kid", fd: f, flags: 1), EINVAL)
        m.fails(.pidfdGetfd(target: "kid", fd: 77, flags: 0), EBADF)
        m.fails(.pidfdGetfd(target: "ghost", fd: 0, flags: 0), ESRCH)
        m.fails(.pidfdGetfd(target: "ghost", fd: 0, flags: 2), EINVAL)  // flags first
        // An exited (zombie) target has no files table: ESRCH on Linux >= 6.9.
        m.ok(.exit(status: 0), by: "kid")
        m.fails(.pidfdGetfd(target: "kid", fd: f, flags: 0), ESRCH)
        m.ok(.wait(child: "kid"))
        m.fails(.pidfdGetfd(target: "kid", fd: f, flags: 0), ESRCH)
        // The copy outlived the child.
        #expect(m.references(m.desc("main", 3)!) == 1)
        #expect(m.referencesAreConsistent())
    }

    @Test func pidfdGetfdHonoursTheCallersLimit() {
        var m = makeModel(limit: 3)
        m.ok(.fork(child: "kid"))
        m.fails(.pidfdGetfd(target: "kid", fd: 0, flags: 0), EMFILE)
        m.ok(.close(fd: 2))
        #expect(m.ok(.pidfdGetfd(target: "kid", fd: 0, flags: 0)) == Outcome(result: 2, fds: [2]))
        #expect(m.desc("main", 2) == m.desc("main", 0))
    }

    @Test func seqpacketTruncationStillDeliversDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [0], data: bytes("abcdef")))
        #expect(m.ok(.recv(socket: b, count: 2, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("ab"), fds: [5], flags: 0x20))
        m.ok(.send(socket: a, fds: [0, 1, 2], data: bytes("xyz")))
        #expect(m.ok(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("x"), flags: 0x28))
        m.fails(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        #expect(m.referencesAreConsistent())
    }

    @Test func emptyDatagramsAndZeroCountReceives() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        #expect(m.ok(.write(fd: a, data: [])) == Outcome(result: 0))
        #expect(m.ok(.recv(socket: b, count: 5, room: 0, closeOnExec: false, nonBlocking: true)) == recvOutcome([]))
        m.fails(.recv(socket: b, count: 5, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        // A zero-count stream recv still takes the head message's descriptors and leaves its bytes.
        let (c, d) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: c, fds: [0], data: bytes("hi")))
        #expect(m.ok(.recv(socket: d, count: 0, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome([], fds: [7]))
        #expect(m.ok(.recv(socket: d, count: 9, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("hi")))
    }

    @Test func randomSequencesKeepReferenceCountsConsistent() {
        var seed: UInt64 = 0x9E3779B97F4A7C15
        func next(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        for _ in 0..<40 {
            var m = makeModel(limit: 12)
            var children = 0
            for _ in 0..<150 {
                let running = m.processNames.filter { m.state(of: $0) == .running }
                guard !running.isEmpty else { break }
                let process = running[next(running.count)]
                let fd = Int32(next(13)) - 1
                let other = Int32(next(12))
                let operation: Operation
                switch next(20) {
                case 0: operation = .open(path: ["a", "b"][next(2)], flags: [.creat, .rdwr], mode: 0o600)
                case 1: operation = .pipe(closeOnExec: next(2) == 0, nonBlocking: true)
                case 2: operation = .socketpair(type: SocketType.allCases[next(3)], closeOnExec: next(2) == 0,
                                                nonBlocking: true)
                case 3: operation = .dup(fd: fd)
                case 4: operation = .dup2(fd: fd, target: other)
                case 5: operation = .close(fd: fd)
                case 6: operation = .closeRange(first: UInt32(next(12)), last: UInt32(next(12) + 6),
                                                closeOnExec: next(2) == 0, unshare: false)
                case 7: operation = .read(fd: fd, count: next(6))
                case 8: operation = .write(fd: fd, data: [UInt8](repeating: 1, count: next(5)))
                case 9:
                    children += 1
                    operation = children < 8 ? .fork(child: "p\(children)") : .exec(arguments: [])
                case 10: operation = .exec(arguments: [])
                case 11: operation = next(4) == 0 && process != "main" ? .exit(status: 1) : .memfd(name: "m", closeOnExec: false)
                case 12, 13: operation = .send(socket: fd, fds: (0..<next(4)).map { _ in Int32(next(12)) },
                                               data: [UInt8](repeating: 2, count: next(3)))
                case 14, 15: operation = .recv(socket: fd, count: next(4), room: next(3), closeOnExec: next(2) == 0,
                                               nonBlocking: true)
                case 16: operation = .fcntl(fd: fd, command: .dupfd(minimum: Int32(next(12))))
                case 17: operation = .pidfdGetfd(target: m.processNames[next(m.processNames.count)], fd: fd, flags: 0)
                case 18: operation = .lseek(fd: fd, offset: Int64(next(4)), whence: .cur)
                default:
                    let kids = m.processNames.filter { m.parent(of: $0) == process }
                    operation = kids.isEmpty ? .dup(fd: fd) : .wait(child: kids[next(kids.count)])
                }
                let outcome = m.apply(operation, by: process)
                if outcome.blocks { continue }
                #expect(outcome.errno != 0 || outcome.result != -1)
                for n in outcome.fds { #expect(n >= 0 && n < 12) }
                #expect(m.referencesAreConsistent(), "after \(operation) by \(process)")
            }
        }
    }

    // MARK: Whole-model properties

    @Test func modelIsAValueType() {
        var m = makeModel()
        let (_, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let snapshot = m
        m.ok(.close(fd: w))
        #expect(snapshot.table(of: "main")[w] != nil)
        #expect(m.table(of: "main")[w] == nil)
    }

    @Test func customInitialDescriptors() {
        let m = ReferenceModel(root: "root", nofileLimit: 8,
                               initial: [InitialDescriptor(numbers: [0, 1, 2], kind: .inherited("tty"),
                                                           accessMode: .readWrite, statusFlags: [])])
        #expect(m.processNames == ["root"])
        #expect(Set(m.table(of: "root").values.map(\.description)).count == 1)
        #expect(m.references(m.table(of: "root")[0]!.description) == 3)
        #expect(m.table(of: "main").isEmpty)
        #expect(m.state(of: "main") == nil)
    }
}

// MARK: - Sockets with addresses ----------------------------------------------------------------------------

private func listenOp(_ address: SocketAddress, _ type: SocketType = .stream, closeOnExec: Bool = false,
                      nonBlocking: Bool = false, backlog: Int32 = 16) -> Operation {
    .listen(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking, backlog: backlog)
}

private func connectOp(_ address: SocketAddress, _ type: SocketType = .stream, closeOnExec: Bool = false,
                       nonBlocking: Bool = false) -> Operation {
    .connect(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
}

private func acceptOp(_ fd: Int32, closeOnExec: Bool = false, nonBlocking: Bool = false) -> Operation {
    .accept(socket: fd, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
}

private func nbRecv(_ fd: Int32, _ count: Int = 16, room: Int = 0) -> Operation {
    .recv(socket: fd, count: count, room: room, closeOnExec: false, nonBlocking: true)
}

extension ReferenceModel {
    /// listen + connect + accept: (listener, client, server).
    fileprivate mutating func connection(_ address: SocketAddress, _ type: SocketType = .stream)
        -> (Int32, Int32, Int32) {
        let l = fd(listenOp(address, type))
        if case .tcp(0) = address { assignPort(40000, process: "main", fd: l) }
        let target: SocketAddress
        if case .tcp(0) = address { target = .tcp(port: 40000) } else { target = address }
        let c = fd(connectOp(target, type))
        let s = fd(acceptOp(l))
        return (l, c, s)
    }
}

extension ReferenceModelTests {

    @Test func listenOnAUnixPathCreatesASocketFileThatOutlivesTheSocket() {
        var m = makeModel()
        #expect(m.ok(listenOp(.unix(path: "s"), nonBlocking: true)) == Outcome(result: 3, fds: [3]))
        let d = m.description(m.desc("main", 3)!)
        #expect(d.kind == .socket(.stream))
        #expect(d.accessMode == .readWrite)
        #expect(d.statusFlags == [.nonblock])
        #expect(m.cloexec("main", 3) == false)
        m.fails(.open(path: "s", flags: [.rdonly], mode: 0), ENXIO)
        m.fails(.open(path: "s", flags: [.rdwr, .trunc, .creat], mode: 0), ENXIO)
        m.fails(.open(path: "s", flags: [.rdwr, .creat, .excl], mode: 0o600), EEXIST)
        m.fails(.open(path: "s/x", flags: [.rdonly], mode: 0), ENOTDIR)
        m.fails(listenOp(.unix(path: "./s")), EADDRINUSE)
        m.ok(.close(fd: 3))
        m.fails(listenOp(.unix(path: "s")), EADDRINUSE)
        m.fails(connectOp(.unix(path: "s")), ECONNREFUSED)
        #expect(m.numbers() == [0, 1, 2])
    }

    @Test func listenOnADatagramSocketFailsAfterBind() {
        var m = makeModel()
        m.fails(listenOp(.unix(path: "d"), .dgram), EOPNOTSUPP)
        #expect(m.numbers() == [0, 1, 2])
        // bind ran before listen failed: the socket file stays, with nothing bound to it.
        m.fails(connectOp(.unix(path: "d")), ECONNREFUSED)
        m.fails(listenOp(.unix(path: "d")), EADDRINUSE)
        m.fails(listenOp(.abstract(name: "x"), .dgram), EOPNOTSUPP)
        m.fails(listenOp(.tcp(port: 0), .dgram), EOPNOTSUPP)
        #expect(m.fd(listenOp(.abstract(name: "x"))) == 3)
    }

    @Test func unixPathLookupErrors() {
        var m = makeModel()
        m.ok(.open(path: "f", flags: creatRW, mode: 0o600))
        m.fails(listenOp(.unix(path: "f")), EADDRINUSE)
        m.fails(connectOp(.unix(path: "f")), ECONNREFUSED)
        m.fails(connectOp(.unix(path: "missing")), ENOENT)
        m.fails(connectOp(.unix(path: "f/b")), ENOTDIR)
        m.fails(listenOp(.unix(path: "f/b")), ENOTDIR)
        m.fails(listenOp(.unix(path: "nodir/b")), ENOENT)
        m.fails(listenOp(.unix(path: String(repeating: "n", count: 108))), ENAMETOOLONG)
        m.fails(listenOp(.abstract(name: String(repeating: "n", count: 108))), ENAMETOOLONG)
        #expect(m.fd(listenOp(.unix(path: String(repeating: "n", count: 107)))) == 4)
    }

    @Test func abstractNamesAreFreedOnCloseAndAreKeptPerType() {
        var m = makeModel()
        let a = m.fd(listenOp(.abstract(name: "n")))
        m.fails(listenOp(.abstract(name: "n")), EADDRINUSE)
        // The socket type is part of the abstract lookup: another type may bind the same name...
        let b = m.fd(listenOp(.abstract(name: "n"), .seqpacket))
        // ...and a connect of another type does not find the listener.
        m.fails(connectOp(.abstract(name: "n"), .dgram), ECONNREFUSED)
        m.ok(.close(fd: a))
        m.fails(connectOp(.abstract(name: "n")), ECONNREFUSED)
        #expect(m.fd(connectOp(.abstract(name: "n"), .seqpacket)) == a)
        #expect(m.fd(listenOp(.abstract(name: "n"))) == 5)
        _ = b
    }

    @Test func pathConnectOfAnotherTypeIsEPROTOTYPE() {
        var m = makeModel()
        m.ok(listenOp(.unix(path: "s"), .seqpacket))
        m.fails(connectOp(.unix(path: "s"), .stream), EPROTOTYPE)
        m.fails(connectOp(.unix(path: "s"), .dgram), EPROTOTYPE)
        #expect(m.fd(connectOp(.unix(path: "s"), .seqpacket)) == 4)
    }

    @Test func seqpacketOverTCPIsNotSupportedBeforeEMFILE() {
        var m = makeModel(limit: 3)
        m.fails(listenOp(.tcp(port: 0), .seqpacket), ESOCKTNOSUPPORT)
        m.fails(connectOp(.tcp(port: 80), .seqpacket), ESOCKTNOSUPPORT)
        m.fails(listenOp(.tcp(port: 0)), EMFILE)
        m.fails(listenOp(.unix(path: "s")), EMFILE)
        // EMFILE comes before bind: nothing was created.
        m.ok(.close(fd: 2))
        m.fails(connectOp(.unix(path: "s")), ENOENT)
    }

    @Test func connectAndAcceptGiveAConnectedStreamPair() {
        var m = makeModel()
        let l = m.fd(listenOp(.unix(path: "s"), nonBlocking: true))
        #expect(m.ok(connectOp(.unix(path: "s"), closeOnExec: true, nonBlocking: true)) ==
            Outcome(result: 4, fds: [4]))
        #expect(m.cloexec("main", 4) == true)
        #expect(m.description(m.desc("main", 4)!).statusFlags == [.nonblock])
        #expect(m.ok(acceptOp(l, closeOnExec: true)) == Outcome(result: 5, fds: [5]))
        // Flags come from accept4, not from the (non-blocking) listener.
        #expect(m.description(m.desc("main", 5)!).statusFlags == [])
        #expect(m.cloexec("main", 5) == true)
        #expect(m.description(m.desc("main", 5)!).kind == .socket(.stream))
        #expect(m.ok(.write(fd: 4, data: bytes("hi"))) == Outcome(result: 2))
        #expect(m.ok(.read(fd: 5, count: 10)) == readOutcome("hi"))
        m.ok(.write(fd: 5, data: bytes("yo")))
        #expect(m.ok(.read(fd: 4, count: 10)) == readOutcome("yo"))
        m.ok(.close(fd: 5))
        #expect(m.ok(.read(fd: 4, count: 10)) == eof)
        m.fails(.write(fd: 4, data: [1]), EPIPE)
        #expect(m.referencesAreConsistent())
    }

    @Test func dataAndDescriptorsSentBeforeAcceptWaitForTheServer() {
        var m = makeModel()
        let l = m.fd(listenOp(.abstract(name: "a"), .seqpacket))
        let c = m.fd(connectOp(.abstract(name: "a"), .seqpacket))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.send(socket: c, fds: [f], data: bytes("one")))
        m.ok(.send(socket: c, fds: [], data: bytes("two")))
        #expect(m.references(m.desc("main", f)!) == 2)
        m.fails(nbRecv(c), EAGAIN)
        let s = m.fd(acceptOp(l))
        #expect(m.ok(.recv(socket: s, count: 16, room: 1, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("one"), fds: [7]))
        #expect(m.desc("main", 7) == m.desc("main", f))
        #expect(m.ok(nbRecv(s)) == recvOutcome(bytes("two")))
        #expect(m.referencesAreConsistent())
    }

    @Test func acceptWithAnEmptyQueueFollowsTheListenersFlag() {
        var m = makeModel()
        let blocking = m.fd(listenOp(.unix(path: "b")))
        let nonBlocking = m.fd(listenOp(.unix(path: "n"), nonBlocking: true))
        #expect(m.apply(acceptOp(blocking, nonBlocking: true), by: "main").blocks)
        m.fails(acceptOp(nonBlocking), EAGAIN)
        m.ok(.fcntl(fd: blocking, command: .setfl([.nonblock])))
        m.fails(acceptOp(blocking), EAGAIN)
    }

    @Test func acceptErrorsInKernelOrder() {
        var m = makeModel(limit: 8)
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let (a, _) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.fails(acceptOp(40), EBADF)
        m.fails(acceptOp(r), ENOTSOCK)
        m.fails(acceptOp(a), EINVAL)
        // Full table: the number is reserved before the socket is looked at.
        let extra = m.fd(.dup(fd: 0))
        m.fails(acceptOp(r), EMFILE)
        m.fails(acceptOp(40), EBADF)
        m.ok(.close(fd: extra))
        m.ok(.close(fd: a))
        let (d, _) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.close(fd: r))
        m.fails(acceptOp(d), EOPNOTSUPP)
    }

    @Test func connectionsAreAcceptedInOrder() {
        var m = makeModel()
        let l = m.fd(listenOp(.tcp(port: 0)))
        m.assignPort(41000, process: "main", fd: l)
        let c1 = m.fd(connectOp(.tcp(port: 41000)))
        let c2 = m.fd(connectOp(.tcp(port: 41000)))
        m.ok(.write(fd: c2, data: bytes("second")))
        m.ok(.write(fd: c1, data: bytes("first")))
        let s1 = m.fd(acceptOp(l))
        let s2 = m.fd(acceptOp(l))
        #expect(m.ok(.read(fd: s1, count: 10)) == readOutcome("first"))
        #expect(m.ok(.read(fd: s2, count: 10)) == readOutcome("second"))
    }

    @Test func closingAListenerResetsItsWaitingUnixConnections() {
        var m = makeModel()
        let l = m.fd(listenOp(.unix(path: "s")))
        let c = m.fd(connectOp(.unix(path: "s"), nonBlocking: true))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.send(socket: c, fds: [f], data: bytes("x")))
        #expect(m.references(m.desc("main", f)!) == 2)
        m.ok(.close(fd: l))
        // The waiting connection was released with the descriptor in flight in it.
        #expect(m.references(m.desc("main", f)!) == 1)
        m.fails(.write(fd: c, data: [1]), EPIPE)
        m.fails(.read(fd: c, count: 4), ECONNRESET)
        #expect(m.ok(.read(fd: c, count: 4)) == eof)
        #expect(m.referencesAreConsistent())
    }

    @Test func closingASeqpacketListenerResetsSendersFirst() {
        var m = makeModel()
        let l = m.fd(listenOp(.abstract(name: "q"), .seqpacket))
        let c = m.fd(connectOp(.abstract(name: "q"), .seqpacket))
        m.ok(.close(fd: l))
        m.fails(.send(socket: c, fds: [], data: [1]), ECONNRESET)
        m.fails(.send(socket: c, fds: [], data: [1]), EPIPE)
    }

    @Test func aClientThatClosedBeforeAcceptLeavesDataAndEOF() {
        var m = makeModel()
        let l = m.fd(listenOp(.unix(path: "s")))
        let c = m.fd(connectOp(.unix(path: "s")))
        m.ok(.write(fd: c, data: bytes("bye")))
        m.ok(.close(fd: c))
        let s = m.fd(acceptOp(l))
        #expect(m.ok(.read(fd: s, count: 10)) == readOutcome("bye"))
        #expect(m.ok(.read(fd: s, count: 10)) == eof)
    }

    @Test func aFullBacklogMakesConnectBlock() {
        var m = makeModel()
        let l = m.fd(listenOp(.unix(path: "s"), backlog: 0))
        m.ok(connectOp(.unix(path: "s")))
        #expect(m.apply(connectOp(.unix(path: "s"), nonBlocking: true), by: "main").blocks)
        m.ok(acceptOp(l))
        m.ok(connectOp(.unix(path: "s")))
        let t = m.fd(listenOp(.tcp(port: 5000), backlog: 1))
        m.ok(connectOp(.tcp(port: 5000)))
        m.ok(connectOp(.tcp(port: 5000)))
        #expect(m.apply(connectOp(.tcp(port: 5000)), by: "main").blocks)
        _ = t
    }

    @Test func listenersRefuseDataTransfer() {
        var m = makeModel()
        let s = m.fd(listenOp(.unix(path: "s")))
        let q = m.fd(listenOp(.unix(path: "q"), .seqpacket))
        let t = m.fd(listenOp(.tcp(port: 0)))
        m.fails(nbRecv(s), EINVAL)
        m.fails(.send(socket: s, fds: [99], data: [1]), EBADF)
        m.fails(.send(socket: s, fds: [], data: [1]), ENOTCONN)
        m.fails(nbRecv(q), ENOTCONN)
        m.fails(.send(socket: q, fds: [99], data: [1]), ENOTCONN)
        m.fails(nbRecv(t), ENOTCONN)
        m.fails(.write(fd: t, data: [1]), EPIPE)
        #expect(m.ok(.read(fd: s, count: 0)) == eof)
    }

    // MARK: TCP

    @Test func tcpPortZeroIsReachableOnlyAfterAssignPort() {
        var m = makeModel()
        let l = m.fd(listenOp(.tcp(port: 0)))
        m.fails(connectOp(.tcp(port: 40000)), ECONNREFUSED)
        m.fails(connectOp(.tcp(port: 0)), ECONNREFUSED)
        m.assignPort(40000, process: "main", fd: l)
        let c = m.fd(connectOp(.tcp(port: 40000)))
        #expect(m.description(m.desc("main", c)!).kind == .socket(.stream))
        let s = m.fd(acceptOp(l))
        m.ok(.write(fd: c, data: bytes("abc")))
        #expect(m.ok(.read(fd: s, count: 2)) == readOutcome("ab"))
        #expect(m.ok(.recv(socket: s, count: 9, room: 2, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("c")))
        m.ok(.close(fd: l))
        m.fails(connectOp(.tcp(port: 40000)), ECONNREFUSED)
    }

    @Test func tcpFixedPortsConflictOnlyWithListeners() {
        var m = makeModel()
        let l = m.fd(listenOp(.tcp(port: 5555)))
        m.fails(listenOp(.tcp(port: 5555)), EADDRINUSE)
        let c = m.fd(connectOp(.tcp(port: 5555)))
        m.ok(acceptOp(l))
        m.ok(.close(fd: l))
        // Established connections on the port do not conflict (SO_REUSEADDR).
        m.ok(listenOp(.tcp(port: 5555)))
        m.ok(.dropCapability(name: "CAP_NET_BIND_SERVICE"))
        m.fails(listenOp(.tcp(port: 80)), EACCES)
        m.ok(listenOp(.tcp(port: 1024)))
        _ = c
    }

    @Test func tcpIgnoresSCMRights() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        // __sock_cmsg_send skips SCM_RIGHTS: no validation, no references, nothing received.
        #expect(m.ok(.send(socket: c, fds: [f, 99], data: bytes("x"))) == Outcome(result: 1))
        #expect(m.ok(.send(socket: c, fds: Array(repeating: f, count: 300), data: bytes("y"))) == Outcome(result: 1))
        #expect(m.references(m.desc("main", f)!) == 1)
        #expect(m.ok(.recv(socket: s, count: 9, room: 4, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("xy")))
        #expect(m.referencesAreConsistent())
    }

    @Test func tcpOrderlyCloseGivesEOFAndTheFirstWriteIsSwallowed() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        m.ok(.write(fd: s, data: bytes("last")))
        m.ok(.close(fd: s))
        #expect(m.ok(.read(fd: c, count: 10)) == readOutcome("last"))
        #expect(m.ok(.read(fd: c, count: 10)) == eof)
        #expect(m.ok(.write(fd: c, data: [])) == Outcome(result: 0))
        // Accepted by the kernel, answered with RST by the orphan: later writes fail EPIPE.
        #expect(m.ok(.write(fd: c, data: bytes("a"))) == Outcome(result: 1))
        m.fails(.write(fd: c, data: bytes("a")), EPIPE)
        m.fails(.write(fd: c, data: bytes("a")), EPIPE)
        // SOCK_DONE: reads keep returning EOF.
        #expect(m.ok(.read(fd: c, count: 10)) == eof)
    }

    @Test func tcpCloseWithUnreadDataResetsThePeer() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        m.ok(.write(fd: s, data: bytes("ab")))
        m.ok(.write(fd: c, data: bytes("unread")))
        m.ok(.close(fd: s))
        // Data that had arrived is still read first, then the reset, then EOF.
        #expect(m.ok(.read(fd: c, count: 10)) == readOutcome("ab"))
        m.fails(.read(fd: c, count: 10), ECONNRESET)
        #expect(m.ok(.read(fd: c, count: 10)) == eof)
        m.fails(.write(fd: c, data: [1]), EPIPE)
    }

    @Test func tcpResetIsReportedOnceByWhicheverCallComesFirst() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        m.ok(.write(fd: c, data: bytes("unread")))
        m.ok(.close(fd: s))
        m.fails(.write(fd: c, data: [1]), ECONNRESET)
        m.fails(.write(fd: c, data: [1]), EPIPE)
        #expect(m.ok(.read(fd: c, count: 10)) == eof)
    }

    @Test func closingATCPListenerResetsWaitingClients() {
        var m = makeModel()
        let l = m.fd(listenOp(.tcp(port: 6000)))
        let c = m.fd(connectOp(.tcp(port: 6000), nonBlocking: true))
        m.ok(.write(fd: c, data: bytes("lost")))
        m.ok(.close(fd: l))
        m.fails(nbRecv(c), ECONNRESET)
        #expect(m.ok(nbRecv(c)) == recvOutcome([]))
        m.fails(.write(fd: c, data: [1]), EPIPE)
    }

    @Test func tcpEmptyQueueRules() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        m.fails(nbRecv(c), EAGAIN)
        #expect(m.apply(.read(fd: c, count: 4), by: "main").blocks)
        m.ok(.close(fd: s))
        #expect(m.ok(nbRecv(c)) == recvOutcome([]))
    }

    @Test func udpConnectSucceedsAndReportsPortUnreachableOnce() {
        var m = makeModel()
        let u = m.fd(connectOp(.tcp(port: 9), .dgram))
        #expect(m.description(m.desc("main", u)!).kind == .socket(.dgram))
        #expect(m.ok(.send(socket: u, fds: [99], data: bytes("a"))) == Outcome(result: 1))
        m.fails(.write(fd: u, data: bytes("b")), ECONNREFUSED)
        m.ok(.write(fd: u, data: bytes("c")))
        m.fails(nbRecv(u), ECONNREFUSED)
        m.fails(nbRecv(u), EAGAIN)
        m.fails(acceptOp(u), EOPNOTSUPP)
    }

    // MARK: RLIMIT_NOFILE

    @Test func setrlimitLowersTheSoftLimitWithinTheHardOne() {
        var m = makeModel(limit: 16)
        m.fails(.setrlimit(nofile: 17), EINVAL)
        m.ok(.fcntl(fd: 1, command: .dupfd(minimum: 10)))
        #expect(m.ok(.setrlimit(nofile: 5)) == Outcome(result: 0))
        #expect(m.nofileLimit(of: "main") == 5)
        // Descriptors above the new limit stay open and usable.
        #expect(m.numbers() == [0, 1, 2, 10])
        m.ok(.write(fd: 10, data: [1]))
        #expect(m.fd(.dup(fd: 10)) == 3)
        #expect(m.fd(.dup(fd: 10)) == 4)
        m.fails(.dup(fd: 10), EMFILE)
        m.fails(.dup2(fd: 1, target: 5), EBADF)
        m.fails(.fcntl(fd: 1, command: .dupfd(minimum: 5)), EINVAL)
        m.fails(listenOp(.unix(path: "s")), EMFILE)
        #expect(m.ok(.setrlimit(nofile: 16)) == Outcome(result: 0))
        m.ok(.dup2(fd: 1, target: 15))
        m.ok(.setrlimit(nofile: 0))
        m.fails(.dup(fd: 1), EMFILE)
    }

    @Test func setrlimitIsInheritedAndSurvivesExec() {
        var m = makeModel(limit: 16)
        m.ok(.setrlimit(nofile: 6))
        m.ok(.fork(child: "f"))
        m.ok(.cloneFiles(child: "c"))
        m.ok(.exec(arguments: []))
        #expect(m.nofileLimit(of: "main") == 6)
        #expect(m.nofileLimit(of: "f") == 6)
        #expect(m.nofileLimit(of: "c") == 6)
        // The hard limit is inherited too.
        m.fails(.setrlimit(nofile: 17), EINVAL, by: "f")
        m.ok(.setrlimit(nofile: 16), by: "f")
        #expect(m.nofileLimit(of: "main") == 6)
    }

    @Test func recvStopsInstallingAtALoweredLimit() {
        var m = makeModel(limit: 16)
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [0, 1, 2], data: bytes("x")))
        m.ok(.setrlimit(nofile: 7))
        #expect(m.ok(.recv(socket: b, count: 4, room: 3, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("x"), fds: [5, 6], flags: 0x8))
        #expect(m.referencesAreConsistent())
    }

    // MARK: Capabilities, dumpable, pidfd_getfd permissions

    @Test func dropCapabilityValidatesTheName() {
        var m = makeModel()
        m.fails(.dropCapability(name: "CAP_NONSENSE"), EINVAL)
        m.fails(.dropCapability(name: "41"), EINVAL)
        #expect(m.ok(.dropCapability(name: "CAP_SYS_PTRACE")) == Outcome(result: 0))
        m.ok(.dropCapability(name: "cap_sys_ptrace"))
        m.ok(.dropCapability(name: "21"))
        #expect(m.processes["main"]!.droppedCapabilities == ["CAP_SYS_PTRACE", "CAP_SYS_ADMIN"])
    }

    @Test func dumpableIsInheritedAndResetByExec() {
        var m = makeModel()
        #expect(m.ok(.setDumpable(false)) == Outcome(result: 0))
        m.ok(.fork(child: "f"))
        m.ok(.cloneFiles(child: "c"))
        #expect(m.processes["f"]!.dumpable == false)
        #expect(m.processes["c"]!.dumpable == false)
        m.ok(.exec(arguments: []), by: "f")
        #expect(m.processes["f"]!.dumpable == true)
        #expect(m.processes["main"]!.dumpable == false)
    }

    @Test func execRegainsCapabilitiesAndThenIsNotDumpable() {
        var m = makeModel()
        m.ok(.dropCapability(name: "CAP_SYS_PTRACE"))
        m.ok(.fork(child: "f"))
        #expect(m.processes["f"]!.droppedCapabilities == ["CAP_SYS_PTRACE"])
        m.ok(.exec(arguments: []))
        #expect(m.processes["main"]!.droppedCapabilities.isEmpty)
        // commit_creds saw the permitted set grow: dumpable becomes fs.suid_dumpable (0 by default).
        #expect(m.processes["main"]!.dumpable == false)
        m.suidDumpable = 1
        m.ok(.dropCapability(name: "CAP_SYS_PTRACE"), by: "f")
        m.ok(.exec(arguments: []), by: "f")
        #expect(m.processes["f"]!.dumpable == true)
    }

    @Test func pidfdGetfdNeedsPtraceForANonDumpableTarget() {
        var m = makeModel()
        m.ok(.dropCapability(name: "CAP_SYS_PTRACE"))
        m.ok(.fork(child: "c"))  // inherits the reduced set: main's capabilities are a subset of c's
        #expect(m.fd(.pidfdGetfd(target: "main", fd: 1, flags: 0), by: "c") == 3)
        m.ok(.setDumpable(false))
        m.fails(.pidfdGetfd(target: "main", fd: 1, flags: 1), EINVAL, by: "c")
        m.fails(.pidfdGetfd(target: "main", fd: 1, flags: 0), EPERM, by: "c")
        // EPERM comes before EBADF.
        m.fails(.pidfdGetfd(target: "main", fd: 50, flags: 0), EPERM, by: "c")
        // A process may always take from itself.
        m.ok(.pidfdGetfd(target: "main", fd: 1, flags: 0))
        m.fails(.pidfdGetfd(target: "gone", fd: 1, flags: 0), ESRCH, by: "c")
    }

    @Test func pidfdGetfdNeedsPtraceForATargetWithMoreCapabilities() {
        var m = makeModel()
        m.ok(.fork(child: "c"))
        m.ok(.dropCapability(name: "CAP_SYS_PTRACE"), by: "c")
        // cap_ptrace_access_check: main's permitted set is not a subset of c's.
        m.fails(.pidfdGetfd(target: "main", fd: 1, flags: 0), EPERM, by: "c")
        // main holds CAP_SYS_PTRACE: dumpable or not, it may take c's descriptors.
        m.ok(.setDumpable(false), by: "c")
        #expect(m.fd(.pidfdGetfd(target: "c", fd: 1, flags: 0)) == 3)
        m.fails(.pidfdGetfd(target: "c", fd: 50, flags: 0), EBADF)
    }

    @Test func pidfdGetfdChecksPermissionBeforeTheExitingTarget() {
        var m = makeModel()
        m.ok(.fork(child: "t"))
        m.ok(.fork(child: "d"))
        m.ok(.dropCapability(name: "CAP_SYS_PTRACE"), by: "d")
        m.ok(.exit(status: 0), by: "t")
        m.fails(.pidfdGetfd(target: "t", fd: 0, flags: 0), EPERM, by: "d")
        m.fails(.pidfdGetfd(target: "t", fd: 0, flags: 0), ESRCH)
    }

    @Test func yamaScopeRestrictsPidfdGetfdButNotReopen() {
        var m = makeModel()
        m.ptraceScope = 1
        m.ok(.dropCapability(name: "CAP_SYS_PTRACE"))
        m.ok(.fork(child: "c"))
        m.ok(.fork(child: "g"), by: "c")
        // A descendant is fine under scope 1, a parent is not.
        m.ok(.pidfdGetfd(target: "g", fd: 1, flags: 0))
        m.ok(.pidfdGetfd(target: "g", fd: 1, flags: 0), by: "c")
        m.fails(.pidfdGetfd(target: "main", fd: 1, flags: 0), EPERM, by: "c")
        m.ok(.reopen(target: "main", fd: 1, flags: [.wronly]), by: "c")
        m.ptraceScope = 3
        m.fails(.pidfdGetfd(target: "g", fd: 1, flags: 0), EPERM)
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

    // MARK: Shared descriptor tables

    @Test func cloneFilesSharesTheTable() {
        var m = makeModel()
        #expect(m.ok(.cloneFiles(child: "c")) == Outcome())
        #expect(m.state(of: "c") == .running)
        #expect(m.parent(of: "c") == "main")
        #expect(m.references(m.desc("main", 0)!) == 1)
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600), by: "c")
        #expect(m.desc("main", f) == m.desc("c", f))
        #expect(m.references(m.desc("main", f)!) == 1)
        m.ok(.fcntl(fd: f, command: .setfd(closeOnExec: true)))
        #expect(m.cloexec("c", f) == true)
        m.ok(.close(fd: f))
        #expect(m.numbers("c") == [0, 1, 2])
        m.ok(.dup2(fd: 1, target: 9), by: "c")
        #expect(m.numbers("main") == [0, 1, 2, 9])
        #expect(m.table(of: "main") == m.table(of: "c"))
        #expect(m.referencesAreConsistent())
        m.ok(.exit(status: 3), by: "c")
        #expect(m.numbers("main") == [0, 1, 2, 9])
        #expect(m.ok(.wait(child: "c")) == Outcome(status: 3))
        #expect(m.referencesAreConsistent())
    }

    @Test func aSharedTableIsReleasedWhenItsLastUserEnds() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.fork(child: "p"))
        m.ok(.cloneFiles(child: "q"), by: "p")
        m.ok(.close(fd: w))
        m.ok(.exit(status: 0), by: "q")
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.exit(status: 0), by: "p")
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // A parent's exit kills its clone child too, releasing the table once.
        m.ok(.cloneFiles(child: "x"))
        m.ok(.fork(child: "y"))
        m.ok(.cloneFiles(child: "z"), by: "y")
        m.ok(.exit(status: 0), by: "y")
        #expect(m.state(of: "z") == .killed)
        #expect(m.referencesAreConsistent())
    }

    @Test func unshareFilesGivesAPrivateCopy() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.fcntl(fd: f, command: .setfd(closeOnExec: true)))
        m.ok(.cloneFiles(child: "c"))
        #expect(m.ok(.unshareFiles, by: "c") == Outcome(result: 0))
        #expect(m.references(m.desc("main", f)!) == 2)
        #expect(m.cloexec("c", f) == true)
        m.ok(.close(fd: f), by: "c")
        #expect(m.numbers("main") == [0, 1, 2, f])
        #expect(m.numbers("c") == [0, 1, 2])
        // A private table stays as it is.
        m.ok(.unshareFiles)
        #expect(m.references(m.desc("main", f)!) == 1)
        #expect(m.referencesAreConsistent())
    }

    @Test func closeRangeWithUnshareClosesOnlyInThePrivateCopy() {
        var m = makeModel()
        m.ok(.cloneFiles(child: "c"))
        m.ok(.closeRange(first: 1, last: 5, closeOnExec: false, unshare: true), by: "c")
        #expect(m.numbers("c") == [0])
        #expect(m.numbers("main") == [0, 1, 2])
        m.ok(.cloneFiles(child: "d"))
        m.ok(.closeRange(first: 0, last: 0, closeOnExec: true, unshare: true), by: "d")
        #expect(m.cloexec("d", 0) == true)
        #expect(m.cloexec("main", 0) == false)
        m.fails(.closeRange(first: 3, last: 2, closeOnExec: false, unshare: true), EINVAL)
        // Without unshare the shared table changes for both.
        m.ok(.cloneFiles(child: "e"))
        m.ok(.closeRange(first: 2, last: 2, closeOnExec: false, unshare: false), by: "e")
        #expect(m.numbers("main") == [0, 1])
        #expect(m.referencesAreConsistent())
    }

    @Test func execUnsharesBeforeClosingCloseOnExecDescriptors() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: [.creat, .rdwr, .cloexec], mode: 0o600))
        m.ok(.cloneFiles(child: "c"))
        m.ok(.exec(arguments: []), by: "c")
        #expect(m.numbers("c") == [0, 1, 2])
        #expect(m.numbers("main") == [0, 1, 2, f])
        #expect(m.references(m.desc("main", f)!) == 1)
        #expect(m.references(m.desc("main", 1)!) == 4)
        #expect(m.referencesAreConsistent())
    }

    @Test func forkFromASharedTableCopiesIt() {
        var m = makeModel()
        m.ok(.cloneFiles(child: "c"))
        m.ok(.fork(child: "f"), by: "c")
        m.ok(.close(fd: 0), by: "f")
        #expect(m.numbers("c") == [0, 1, 2])
        m.ok(.close(fd: 1), by: "c")
        #expect(m.numbers("f") == [1, 2])
        #expect(m.numbers("main") == [0, 2])
        #expect(m.referencesAreConsistent())
    }

    @Test func randomSequencesWithSocketsAndSharedTablesKeepReferenceCountsConsistent() {
        var seed: UInt64 = 0x2545F4914F6CDD1D
        func next(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        let addresses: [SocketAddress] = [.unix(path: "s"), .abstract(name: "a"), .tcp(port: 7000)]
        for _ in 0..<40 {
            var m = makeModel(limit: 12)
            var children = 0
            for _ in 0..<150 {
                let running = m.processNames.filter { m.state(of: $0) == .running }
                guard !running.isEmpty else { break }
                let process = running[next(running.count)]
                let fd = Int32(next(13)) - 1
                let operation: Operation
                switch next(16) {
                case 0: operation = listenOp(addresses[next(3)], [SocketType.stream, .seqpacket][next(2)],
                                             nonBlocking: true, backlog: Int32(next(3)))
                case 1, 2: operation = connectOp(addresses[next(3)], [SocketType.stream, .seqpacket][next(2)],
                                                 nonBlocking: true)
                case 3: operation = acceptOp(fd, nonBlocking: true)
                case 4: operation = .send(socket: fd, fds: (0..<next(3)).map { _ in Int32(next(12)) },
                                          data: [UInt8](repeating: 3, count: next(3)))
                case 5: operation = nbRecv(fd, next(4), room: next(3))
                case 6: operation = .close(fd: fd)
                case 7:
                    children += 1
                    operation = children < 8 ? .cloneFiles(child: "c\(children)") : .unshareFiles
                case 8:
                    children += 1
                    operation = children < 8 ? .fork(child: "f\(children)") : .exec(arguments: [])
                case 9: operation = .unshareFiles
                case 10: operation = .exec(arguments: [])
                case 11: operation = process != "main" && next(3) == 0 ? .exit(status: 0)
                    : .pipe(closeOnExec: next(2) == 0, nonBlocking: true)
                case 12: operation = .reopen(target: m.processNames[next(m.processNames.count)], fd: fd,
                                             flags: [[.rdonly], [.wronly], [.rdwr]][next(3)])
                case 13: operation = .closeRange(first: UInt32(next(12)), last: UInt32(next(12) + 4),
                                                 closeOnExec: next(2) == 0, unshare: next(2) == 0)
                case 14: operation = .setrlimit(nofile: UInt64(next(14)))
                default: operation = .write(fd: fd, data: [UInt8](repeating: 4, count: next(3)))
                }
                let outcome = m.apply(operation, by: process)
                if case .listen(.tcp, _, _, _, _) = operation, let l = outcome.fds.first {
                    m.assignPort(7000, process: process, fd: l)
                }
                if outcome.blocks { continue }
                for n in outcome.fds { #expect(n >= 0 && n < 12) }
                #expect(m.referencesAreConsistent(), "after \(operation) by \(process)")
                let used = Set(m.tables.keys)
                let referenced = Set(m.processes.values.compactMap(\.tableID))
                #expect(used == referenced)
            }
        }
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

@Suite struct EventfdModelTests {
    @Test func anEventfdIsOneCounterAddedToAndResetByReads() {
        var model = ReferenceModel(nofileLimit: 64)
        let created = model.apply(.eventfd(initial: 2, closeOnExec: true, nonBlocking: true), by: "main")
        #expect(created.fds == [3])
        #expect(model.table(of: "main")[3]?.closeOnExec == true)
        #expect(model.description(model.table(of: "main")[3]!.description).kind == .eventfd)
        #expect(model.apply(.write(fd: 3, data: [5, 0, 0, 0, 0, 0, 0, 0]), by: "main").result == 8)
        #expect(model.apply(.write(fd: 3, data: [1, 0]), by: "main").errno == EINVAL)
        #expect(model.apply(.read(fd: 3, count: 4), by: "main").errno == EINVAL)
        #expect(model.apply(.read(fd: 3, count: 8), by: "main").data == [7, 0, 0, 0, 0, 0, 0, 0])
        #expect(model.apply(.read(fd: 3, count: 8), by: "main").errno == EAGAIN)
        #expect(model.apply(.lseek(fd: 3, offset: 0, whence: .set), by: "main").errno == ESPIPE)
        _ = model.apply(.eventfd(initial: 0, closeOnExec: false, nonBlocking: false), by: "main")
        #expect(model.apply(.read(fd: 4, count: 8), by: "main").blocks)
    }
}
