// Message operations performed: the system call each one is, timed (Perform.swift dispatches here).

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    static func performer(for operation: MessageOperation<LoopNaming>) -> Performer {
        switch operation {
        case .send(let operand, let operands, let data, let sendFlags):
            let call = SendCall(operand, operands, data, sendFlags)
            return { agent, answer -> Bool in
                call.perform(&agent, &answer)
                return true
            }
        case .sendHeaders(let operand, let operands, let headers, let cmsgLength, let data):
            let counts = headers.map { Int32($0) }
            return { agent, answer -> Bool in
                let socket = operand.value(agent.slots)
                let passing = operands.map { $0.value(agent.slots) }
                if agent.isChannel(socket) || passing.contains(where: { agent.isChannel($0) }) { answer.fail(EBADF); return true }
                answer.record(passing.withUnsafeBufferPointer { numbers in
                    counts.withUnsafeBufferPointer { split in
                        data.withUnsafeBytes { bytes in
                            timed {
                                handoff_send_headers(socket, numbers.baseAddress, split.baseAddress, Int32(split.count),
                                                     cmsgLength ?? -1, bytes.baseAddress, bytes.count, Linux.MSG_NOSIGNAL)
                            }
                        }
                    }
                })
                return true
            }
        case .recv(let operand, let count, let room, let closeOnExec, let nonBlocking, let more, let control):
            let call = RecvCall(operand, count, room, closeOnExec, nonBlocking, more, control)
            return { agent, answer -> Bool in
                call.perform(&agent, &answer)
                return true
            }
        }
    }
}
