// Reference model tests: pipes and eventfd.

@testable import HandoffCore
import Glibc
import Testing

extension ReferenceModelTests {
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
        // eventfd_fops.llseek is noop_llseek: the position (always 0) comes back, whatever is asked. This said
        // ESPIPE until `handoff fuzz` ran it on the kernel (scenarios/fuzz/lseek-eventfd.yaml).
        let seek = model.apply(.lseek(fd: 3, offset: 5, whence: .set), by: "main")
        #expect(seek.errno == 0 && seek.result == 0)
        _ = model.apply(.eventfd(initial: 0, closeOnExec: false, nonBlocking: false), by: "main")
        #expect(model.apply(.read(fd: 4, count: 8), by: "main").blocks)
    }
}
