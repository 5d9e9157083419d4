// The reference model's tests: the descriptor table (numbering, dup, fcntl, close, lseek) and whole-model
// properties. The other families are in the Model*Tests files; the helpers in ModelTestSupport.swift.

@testable import HandoffCore
import Glibc
import Testing

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
        m.fails(.closeRange(first: 6, last: 5, flags: 0), EINVAL)
        // An unknown flag is refused before anything is done, even with a valid one beside it.
        m.fails(.closeRange(first: 0, last: UInt32.max, flags: 1 << 3), EINVAL)
        m.fails(.closeRange(first: 0, last: UInt32.max, flags: Linux.CLOSE_RANGE_UNSHARE | 1), EINVAL)
        #expect(m.numbers() == [0, 1, 2, 4, 5, 6, 7])
        #expect(m.ok(.closeRange(first: 5, last: UInt32.max, flags: Linux.CLOSE_RANGE_CLOEXEC)) == Outcome(result: 0))
        #expect(m.numbers() == [0, 1, 2, 4, 5, 6, 7])
        #expect(m.cloexec("main", 4) == false)
        #expect([5, 6, 7].allSatisfy { m.cloexec("main", $0) == true })
        m.ok(.closeRange(first: 2, last: 5, flags: Linux.CLOSE_RANGE_UNSHARE))
        #expect(m.numbers() == [0, 1, 6, 7])
        m.ok(.closeRange(first: 100, last: 200, flags: 0))
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
        // A sum past 2^63 - 1 wraps in generic_file_llseek_size and vfs_setpos refuses it: EINVAL, not
        // EOVERFLOW (LTP lseek, ported). Found on a memfd, whose s_maxbytes lets the position get that far.
        let memfd = m.fd(.memfd(name: "m", closeOnExec: false))
        m.ok(.write(fd: memfd, data: bytes("x")))
        #expect(m.ok(.lseek(fd: memfd, offset: Int64.max, whence: .set)) == Outcome(result: Int64.max))
        m.fails(.lseek(fd: memfd, offset: 1, whence: .cur), EINVAL)
        m.fails(.lseek(fd: memfd, offset: Int64.max, whence: .end), EINVAL)
        #expect(m.ok(.lseek(fd: memfd, offset: Int64.max - 1, whence: .end)) == Outcome(result: Int64.max))
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
                                                flags: next(2) == 0 ? Linux.CLOSE_RANGE_CLOEXEC : 0)
                case 7: operation = .read(fd: fd, count: next(6))
                case 8: operation = .write(fd: fd, data: [UInt8](repeating: 1, count: next(5)))
                case 9:
                    children += 1
                    operation = children < 8 ? .fork(child: "p\(children)") : .exec(arguments: [], environment: [])
                case 10: operation = .exec(arguments: [], environment: [])
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
                    operation = children < 8 ? .fork(child: "f\(children)") : .exec(arguments: [], environment: [])
                case 9: operation = .unshareFiles
                case 10: operation = .exec(arguments: [], environment: [])
                case 11: operation = process != "main" && next(3) == 0 ? .exit(status: 0)
                    : .pipe(closeOnExec: next(2) == 0, nonBlocking: true)
                case 12: operation = .reopen(target: m.processNames[next(m.processNames.count)], fd: fd,
                                             flags: [[.rdonly], [.wronly], [.rdwr]][next(3)])
                case 13: operation = .closeRange(first: UInt32(next(12)), last: UInt32(next(12) + 4),
                                                 flags: (next(2) == 0 ? Linux.CLOSE_RANGE_CLOEXEC : 0)
                                                     | (next(2) == 0 ? Linux.CLOSE_RANGE_UNSHARE : 0))
                case 14: operation = .setrlimit(nofile: UInt64(next(14)))
                default: operation = .write(fd: fd, data: [UInt8](repeating: 4, count: next(3)))
                }
                let outcome = m.apply(operation, by: process)
                if case .sockets(.listen(.tcp, _, _, _, _)) = operation, let l = outcome.fds.first {
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
