// perform(operation) -> answer: exactly one system call per operation (socket+bind+listen and the like
// aside), timed. Requests and loops both come here.

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    /// Whether a descriptor argument is a control channel: it must behave as if the number were free, since
    /// the model never sees channels.
    func isChannel(_ fd: Int32) -> Bool { fd == control || hidden.contains(fd) }

    /// A single request: the outcome of `operation`; nil when there is nothing to answer (exit, the child side
    /// of a fork). Throws when the agent refuses the operation (the harness cannot do it faithfully): an
    /// error, never a kernel outcome.
    mutating func perform(_ operation: Operation<WireNaming>) throws(ProtocolError) -> Answer? {
        var answer = Answer(result: 0)
        let step: Operation<LoopNaming> = operation.map(
            descriptor: { number, _ in .number(number) }, process: { $0 }, address: { $0 }, text: { $0 })
        refusal = nil
        keepingData = true
        let answered = Agent.performer(for: step)(&self, &answer)
        if let refusal { throw refusal }
        return answered ? answer : nil
    }

    /// Performs an operation on `agent` (its loop slots resolved from `agent.slots`), writing the outcome into
    /// the answer (reused by loops, so that the hot path allocates nothing); false when there is nothing to
    /// answer.
    /// A refusal is left in `Agent.refusal` (not thrown: a throwing closure type costs a reabstraction thunk
    /// on every call of the hot loop).
    typealias Performer = (inout Agent, inout Answer) -> Bool

    /// How to perform `operation`: by family, in Perform+Files.swift and its siblings, each of which says for
    /// every operation of its family which system call it is.
    /// A loop builds its performers once and calls them every iteration (no enum is copied or matched on
    /// the hot path); a single request builds one and calls it once.
    static func performer(for operation: Operation<LoopNaming>) -> Performer {
        switch operation {
        case .files(let operation): return performer(for: operation)
        case .table(let operation): return performer(for: operation)
        case .sockets(let operation): return performer(for: operation)
        case .messages(let operation): return performer(for: operation)
        case .events(let operation): return performer(for: operation)
        case .processes(let operation): return performer(for: operation)
        }
    }

    /// dup2 (flags nil) or dup3 (flags), moving the control channel first when the target is its number.
    mutating func duplicate(_ fd: Int32, onto target: Int32, flags: Int32?, into answer: inout Answer) {
        let invalidFlags = flags.map { $0 & ~Linux.O_CLOEXEC != 0 } ?? false
        // dup3 checks its flags and old == new before the descriptor: those errors win over EBADF.
        if isChannel(fd) && !invalidFlags && !(flags != nil && fd == target) { return answer.fail(EBADF) }
        if hidden.contains(target) {
            refusal = ProtocolError("dup2 onto another agent's control channel is not supported")
            return
        }
        var moved: Int32?
        if target == control && fd != control { moved = moveControlChannel() }
        let result = flags.map { flags in timed { handoff_dup3(fd, target, flags) } } ?? timed { dup2(fd, target) }
        // A call that failed (EBADF: `fd` is not open) left the channel's old copy at the target: it goes, as
        // the call would have replaced it (found by `handoff fuzz`: a LEAK of the channel).
        if moved != nil && result.value < 0 { close(target) }
        answer.record(result, producing: true)
        answer.movedControl = moved
    }

    /// The C shim's address arguments.
    static func cAddress(_ address: SocketAddress) -> (Int32, String, Int32) {
        switch address {
        case .unix(let path): return (Int32(HANDOFF_ADDRESS_UNIX), path, 0)
        case .abstract(let name): return (Int32(HANDOFF_ADDRESS_ABSTRACT), name, 0)
        case .tcp(let port): return (Int32(HANDOFF_ADDRESS_TCP), "", Int32(port))
        }
    }
}

extension Answer {
    /// A call's return value, errno and duration; `producing`: its result is the descriptor it created.
    @inline(__always) mutating func record(_ call: Timed, producing: Bool = false) {
        result = Int64(call.value)
        errno = call.value < 0 ? call.errno : 0
        nanoseconds = call.nanoseconds
        if producing && call.value >= 0 { fds.append(Int32(call.value)) }
    }

    /// A call that created these descriptors (pipe2, socketpair) when it succeeded.
    @inline(__always) mutating func record(_ call: Timed, producing descriptors: [Int32]) {
        record(call)
        if call.value >= 0 { fds.append(contentsOf: descriptors) }
    }

    /// read and pread: the call, and the bytes it read into `buffer` when they are kept (not inside a loop).
    @inline(__always) mutating func recordRead(_ call: Timed, into buffer: UnsafeMutableRawBufferPointer, keepingData: Bool) {
        record(call)
        if call.value >= 0 && keepingData { data = Array(buffer[0..<min(call.value, buffer.count)]) }
    }

    /// The agent answers for the kernel without calling it (a descriptor that must look free).
    @inline(__always) mutating func fail(_ code: Int32) {
        result = -1
        errno = code
    }
}

