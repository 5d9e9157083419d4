// close, send and recv: the operations of a descriptor-passing loop. Each is one function, which a single
// request calls through its performer (Perform.swift) and a loop calls directly (`LoopCall`), inlined into
// the loop: a performer call's context load, frame and indirect call were about a third of these operations'
// own instructions in a loop.

import CHandoff
import Glibc
import HandoffProtocol

/// How a loop calls one of its steps: the three transfer operations directly, every other through its
/// performer. Built once per loop; the payloads hold what the operation's performer would capture.
enum LoopCall {
    case close(CloseCall)
    case send(SendCall)
    case recv(RecvCall)
    case performer

    init(_ operation: Operation<LoopNaming>) {
        switch operation {
        case .table(.close(let operand)):
            self = .close(CloseCall(operand))
        case .messages(.send(let operand, let operands, let data, let flags)):
            self = .send(SendCall(operand, operands, data, flags))
        case .messages(.recv(let operand, let count, let room, let closeOnExec, let nonBlocking, let more, let control)):
            self = .recv(RecvCall(operand, count, room, closeOnExec, nonBlocking, more, control))
        default:
            self = .performer
        }
    }
}

/// close(2).
struct CloseCall {
    let operand: LoopOperand

    init(_ operand: LoopOperand) { self.operand = operand }

    @inline(__always) func perform(_ agent: inout Agent, _ answer: inout Answer) {
        let fd = operand.value(agent.slots)
        if agent.isChannel(fd) { return answer.fail(EBADF) }
        answer.record(timed { close(fd) })
    }
}

/// sendmsg(2) of `data` with the descriptors as one SCM_RIGHTS message (none: no control message).
struct SendCall {
    let operand: LoopOperand
    let operands: [LoopOperand]
    /// The descriptors, when none is a loop slot: resolved once, here.
    let resolved: [Int32]?
    let data: [UInt8]
    let flags: Int32

    init(_ operand: LoopOperand, _ operands: [LoopOperand], _ data: [UInt8], _ sendFlags: Set<SendFlag>) {
        self.operand = operand
        self.operands = operands
        resolved = operands.contains { if case .slot = $0 { return true } else { return false } }
            ? nil : operands.map { $0.value(UnsafeMutableBufferPointer(start: nil, count: 0)) }
        self.data = data
        flags = Linux.MSG_NOSIGNAL | SendFlag.linux(sendFlags)
    }

    @inline(__always) func perform(_ agent: inout Agent, _ answer: inout Answer) {
        let socket = operand.value(agent.slots)
        // Two calls, not one list bound to either: the captured list is then used where it is (a binding
        // would retain and release it on every call of a loop).
        if let resolved {
            send(socket, resolved, agent, &answer)
        } else {
            if !agent.passing.isEmpty { agent.passing.removeAll(keepingCapacity: true) }
            for fd in operands { agent.passing.append(fd.value(agent.slots)) }
            send(socket, agent.passing, agent, &answer)
        }
    }

    @inline(__always) private func send(_ socket: Int32, _ passing: [Int32], _ agent: Agent, _ answer: inout Answer) {
        if agent.isChannel(socket) || passing.contains(where: { agent.isChannel($0) }) { return answer.fail(EBADF) }
        let count = Int32(passing.count)
        let flags = flags
        answer.record(passing.withUnsafeBufferPointer { numbers in
            data.withUnsafeBytes { bytes in
                timed { handoff_send_fds(socket, numbers.baseAddress, count, bytes.baseAddress, bytes.count, flags) }
            }
        })
    }
}

/// recvmsg(2) of up to `count` bytes, with a control buffer for `room` descriptors (or of exactly `control`
/// bytes): the descriptors received, msg_flags, and SCM_CREDENTIALS when complete.
struct RecvCall {
    let operand: LoopOperand
    let count: Int
    let space: Int
    let flags: Int32

    init(_ operand: LoopOperand, _ count: Int, _ room: Int, _ closeOnExec: Bool, _ nonBlocking: Bool,
         _ more: Set<MessageFlag>, _ control: Int?) {
        self.operand = operand
        self.count = count
        // `control`: exactly that many bytes; else CMSG_SPACE of `room` descriptors.
        space = control ?? handoff_control_space(Int32(room))
        flags = (closeOnExec ? Linux.MSG_CMSG_CLOEXEC : 0) | (nonBlocking ? Linux.MSG_DONTWAIT : 0) | MessageFlag.linux(more)
    }

    @inline(__always) func perform(_ agent: inout Agent, _ answer: inout Answer) {
        let socket = operand.value(agent.slots)
        if agent.isChannel(socket) { return answer.fail(EBADF) }
        var receivedCount: Int32 = 0
        var messageFlags: Int32 = 0
        var credentials: (Int32, Int32, Int32) = (0, 0, 0)
        var hasCredentials: Int32 = 0
        let buffer = agent.io, received = agent.rights
        let (count, space, flags) = (count, space, flags)
        let result = withUnsafeMutablePointer(to: &credentials) { triple in
            triple.withMemoryRebound(to: Int32.self, capacity: 3) { ids in
                timed {
                    handoff_recv_message_exact(socket, buffer.baseAddress, min(count, buffer.count), space, flags,
                                               received.baseAddress, Int32(received.count), &receivedCount,
                                               &messageFlags, ids, &hasCredentials)
                }
            }
        }
        answer.recordReceived(result, descriptors: received, count: receivedCount, bytes: buffer, length: count,
                              keepingData: agent.keepingData, messageFlags: messageFlags,
                              credentials: hasCredentials != 0 ? credentials : nil)
    }
}

extension Answer {
    /// What a receive (recv, recvfrom) reports besides its result: the descriptors the kernel installed, and
    /// on success the bytes (a single request only: a loop never reads them), msg_flags and SCM_CREDENTIALS.
    @inline(__always) mutating func recordReceived(_ result: Timed, descriptors: UnsafeMutableBufferPointer<Int32>,
                                                   count: Int32, bytes: UnsafeMutableRawBufferPointer, length: Int,
                                                   keepingData: Bool, messageFlags: Int32,
                                                   credentials: (pid: Int32, uid: Int32, gid: Int32)?) {
        record(result)
        for index in 0..<Int(count) { fds.append(descriptors[index]) }
        guard result.value >= 0 else { return }
        // MSG_TRUNC returns a datagram's real length, more than the buffer received.
        if keepingData { data = Array(bytes[0..<min(result.value, length, bytes.count)]) }
        self.messageFlags = messageFlags
        if let credentials {
            self.credentials = UnixCredentials(pid: credentials.pid, uid: UInt32(bitPattern: credentials.uid),
                                               gid: UInt32(bitPattern: credentials.gid))
        }
    }
}
