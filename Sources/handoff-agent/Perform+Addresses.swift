// socket, bind, sendto and recvfrom: one system call each (the address and control buffers built in
// CHandoff, as for listen and send).

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    static func socketCreator(_ type: SocketType, _ closeOnExec: Bool, _ nonBlocking: Bool) -> Performer {
        { agent, answer -> Bool in
            let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
            answer.record(timed { Glibc.socket(AF_UNIX, type.linux | flags, 0) }, producing: true)
            return true
        }
    }

    static func binder(_ operand: LoopOperand, _ address: SocketAddress) -> Performer {
        let (kind, name, port) = cAddress(address)
        return { agent, answer -> Bool in
            let socket = operand.value(agent.slots)
            if agent.isChannel(socket) { answer.fail(EBADF); return true }
            answer.record(timed { handoff_bind(socket, kind, name, name.utf8.count, port) })
            return true
        }
    }

    static func sender(_ operand: LoopOperand, _ address: SocketAddress, _ operands: [LoopOperand],
                       _ data: [UInt8]) -> Performer {
        let (kind, name, port) = cAddress(address)
        return { agent, answer -> Bool in
            let socket = operand.value(agent.slots)
            let passing = operands.map { $0.value(agent.slots) }
            if agent.isChannel(socket) || passing.contains(where: { agent.isChannel($0) }) { answer.fail(EBADF); return true }
            let count = Int32(passing.count)
            answer.record(passing.withUnsafeBufferPointer { numbers in
                data.withUnsafeBytes { bytes in
                    timed {
                        handoff_sendto_fds(socket, kind, name, name.utf8.count, port, numbers.baseAddress, count, bytes.baseAddress,
                                           bytes.count, Linux.MSG_NOSIGNAL)
                    }
                }
            })
            return true
        }
    }

    static func receiver(_ operand: LoopOperand, _ count: Int, _ room: Int, _ closeOnExec: Bool,
                         _ nonBlocking: Bool) -> Performer {
        let flags = (closeOnExec ? Linux.MSG_CMSG_CLOEXEC : 0) | (nonBlocking ? Linux.MSG_DONTWAIT : 0)
        return { agent, answer -> Bool in
            let socket = operand.value(agent.slots)
            if agent.isChannel(socket) { answer.fail(EBADF); return true }
            var receivedCount: Int32 = 0
            var messageFlags: Int32 = 0
            var credentials: (Int32, Int32, Int32) = (0, 0, 0)
            var hasCredentials: Int32 = 0
            var from = [CChar](repeating: 0, count: Linux.sunPathSize)
            var fromLength: Int32 = 0
            let buffer = agent.io, received = agent.rights
            let result = withUnsafeMutablePointer(to: &credentials) { triple in
                triple.withMemoryRebound(to: Int32.self, capacity: 3) { ids in
                    timed {
                        handoff_recvfrom_message(socket, buffer.baseAddress, min(count, buffer.count), Int32(room), flags,
                                                 received.baseAddress, Int32(received.count), &receivedCount,
                                                 &messageFlags, ids, &hasCredentials, &from, &fromLength)
                    }
                }
            }
            answer.recordReceived(result, descriptors: received, count: receivedCount, bytes: buffer, length: count,
                                  keepingData: agent.keepingData, messageFlags: messageFlags,
                                  credentials: hasCredentials != 0 ? credentials : nil)
            if result.value >= 0 {
                answer.from = SenderAddress(sunPath: from.prefix(Int(fromLength)).map { UInt8(bitPattern: $0) })
            }
            return true
        }
    }
}
