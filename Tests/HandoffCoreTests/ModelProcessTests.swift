// Reference model tests: fork, exec, exit, wait and shared descriptor tables.

@testable import HandoffCore
import Glibc
import Testing

extension ReferenceModelTests {
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
        #expect(m.ok(.exec(arguments: ["--x"], environment: [])) == Outcome(result: 0))
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

    /// A call asleep keeps the files it looked up (fdget, ReferenceModel.keepFiles): a sharer's close of its
    /// descriptor releases nothing until the call returns, and the call still reads the file it began on.
    @Test func aSleepingCallKeepsItsFilesUntilItReturns() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.cloneFiles(child: "t"))
        #expect(m.apply(.read(fd: r, count: 5), by: "t").blocks)
        m.keepFiles(ofCallBy: "t", [r])
        m.ok(.close(fd: r))
        #expect(m.referencesAreConsistent())
        // The reader the call keeps is still a reader: no EPIPE.
        m.ok(.write(fd: w, data: bytes("hello")))
        // Only the call's own lookups find the kept file; the table has nothing at r.
        m.fails(.read(fd: r, count: 5), EBADF, by: "t")
        m.applyingCallOf = "t"
        #expect(m.ok(.read(fd: r, count: 5), by: "t").data == bytes("hello"))
        m.applyingCallOf = nil
        m.returnFiles(ofCallBy: "t")
        m.fails(.write(fd: w, data: bytes("x")), EPIPE)
        #expect(m.referencesAreConsistent())
    }

    /// A process that ends while its call sleeps gives back what the call kept.
    @Test func anEndedSleeperGivesBackItsFiles() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.cloneFiles(child: "t"))
        m.keepFiles(ofCallBy: "t", [r])
        m.ok(.close(fd: r))
        m.ok(.write(fd: w, data: bytes("a")))
        m.ok(.exit(status: 0), by: "t")
        m.fails(.write(fd: w, data: bytes("x")), EPIPE)
        #expect(m.referencesAreConsistent())
    }

    /// accept takes its number before it sleeps (__sys_accept4_file: a reservation, so dup2 onto it is EBUSY),
    /// and the agents' socket + connect has its socket in the table while connect waits: a sharer's open
    /// meanwhile gets the next number either way.
    @Test func sleepingAcceptsAndConnectsHoldTheirNumbers() {
        var m = makeModel()
        m.ok(.cloneFiles(child: "t"))
        let listener = m.fd(.listen(address: .abstract(name: "l"), type: .seqpacket, closeOnExec: false, nonBlocking: false, backlog: 0))
        #expect(listener == 3)
        #expect(m.apply(.accept(socket: listener, closeOnExec: false, nonBlocking: false), by: "t").blocks)
        m.fails(.dup2(fd: 0, target: 4), EBUSY)
        #expect(m.fd(.open(path: "f", flags: creatRW, mode: 0o600)) == 5)
        let first = m.fd(.connect(address: .abstract(name: "l"), type: .seqpacket, closeOnExec: false, nonBlocking: false))
        #expect(first == 6)
        // The woken accept installs at the number it took: 4.
        #expect(m.ok(.accept(socket: listener, closeOnExec: false, nonBlocking: false), by: "t").fds == [4])
        // A full queue (backlog 0, one waiting): the connect waits with its socket at 8, and a failed one
        // closes it.
        #expect(m.fd(.connect(address: .abstract(name: "l"), type: .seqpacket, closeOnExec: false, nonBlocking: false)) == 7)
        #expect(m.apply(.connect(address: .abstract(name: "l"), type: .seqpacket, closeOnExec: false, nonBlocking: false),
                        by: "t").blocks)
        #expect(m.desc("main", 8) != nil)
        #expect(m.referencesAreConsistent())
        #expect(m.fd(.open(path: "f", flags: creatRW, mode: 0o600)) == 9)
        m.ok(.close(fd: listener))
        m.fails(.connect(address: .abstract(name: "l"), type: .seqpacket, closeOnExec: false, nonBlocking: false),
                ECONNREFUSED, by: "t")
        #expect(m.fd(.open(path: "f", flags: creatRW, mode: 0o600)) == 3)
        #expect(m.fd(.open(path: "f", flags: creatRW, mode: 0o600)) == 8)
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
        m.ok(.closeRange(first: 1, last: 5, flags: Linux.CLOSE_RANGE_UNSHARE), by: "c")
        #expect(m.numbers("c") == [0])
        #expect(m.numbers("main") == [0, 1, 2])
        m.ok(.cloneFiles(child: "d"))
        m.ok(.closeRange(first: 0, last: 0, flags: Linux.CLOSE_RANGE_CLOEXEC | Linux.CLOSE_RANGE_UNSHARE), by: "d")
        #expect(m.cloexec("d", 0) == true)
        #expect(m.cloexec("main", 0) == false)
        m.fails(.closeRange(first: 3, last: 2, flags: Linux.CLOSE_RANGE_UNSHARE), EINVAL)
        // Without unshare the shared table changes for both.
        m.ok(.cloneFiles(child: "e"))
        m.ok(.closeRange(first: 2, last: 2, flags: 0), by: "e")
        #expect(m.numbers("main") == [0, 1])
        #expect(m.referencesAreConsistent())
    }

    @Test func execUnsharesBeforeClosingCloseOnExecDescriptors() {
        var m = makeModel()
        let f = m.fd(.open(path: "f", flags: [.creat, .rdwr, .cloexec], mode: 0o600))
        m.ok(.cloneFiles(child: "c"))
        m.ok(.exec(arguments: [], environment: []), by: "c")
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
}
