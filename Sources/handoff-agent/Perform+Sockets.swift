// Socket operations performed: the system call each one is, timed (Perform.swift dispatches here).

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    static func performer(for operation: SocketOperation<LoopNaming>) -> Performer {
        switch operation {
        case .socketpair(let type, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                var ends: [Int32] = [-1, -1]
                let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
                answer.record(timed { socketpair(AF_UNIX, type.linux | flags, 0, &ends) }, producing: ends)
                return true
            }
        case .setsockopt(let operand, let option, let value):
            return socketOptionSetter(operand, option, value)
        case .getsockopt(let operand, let option):
            return socketOptionGetter(operand, option)
        case .shutdown(let operand, let how):
            return { agent, answer -> Bool in
                let socket = operand.value(agent.slots)
                if agent.isChannel(socket) { answer.fail(EBADF); return true }
                answer.record(timed { Glibc.shutdown(socket, how) })
                return true
            }
        case .unixGC:
            // unix_release_sock schedules unix_gc while AF_UNIX sockets are in flight: releasing a fresh pair
            // is the one way a process can ask for a collection.
            return { agent, answer -> Bool in
                var ends: [Int32] = [-1, -1]
                let call = timed { socketpair(AF_UNIX, SocketType.stream.linux, 0, &ends) }
                answer.record(call)
                if call.value >= 0 {
                    Glibc.close(ends[0])
                    Glibc.close(ends[1])
                }
                return true
            }
        case .listen(let address, let type, let closeOnExec, let nonBlocking, let backlog):
            return { agent, answer -> Bool in
                let (kind, name, port) = Agent.cAddress(address)
                var bound: Int32 = 0
                let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
                let result = timed { handoff_listen(kind, name, name.utf8.count, port, type.linux | flags, backlog, &bound) }
                answer.record(result, producing: true)
                if result.value >= 0, case .tcp = address { answer.port = UInt16(truncatingIfNeeded: bound) }
                return true
            }
        case .connect(let address, let type, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let (kind, name, port) = Agent.cAddress(address)
                let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
                answer.record(timed { handoff_connect(kind, name, name.utf8.count, port, type.linux | flags) }, producing: true)
                return true
            }
        case .accept(let operand, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let socket = operand.value(agent.slots)
                if agent.isChannel(socket) { answer.fail(EBADF); return true }
                let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
                answer.record(timed { handoff_accept4(socket, flags) }, producing: true)
                return true
            }
        case .unshareNet:
            return { agent, answer -> Bool in
                answer.record(timed { handoff_unshare_net() })
                return true
            }
        case .socket(let type, let closeOnExec, let nonBlocking):
            return socketCreator(type, closeOnExec, nonBlocking)
        case .bind(let operand, let address):
            return binder(operand, address)
        case .sendto(let operand, let address, let operands, let data):
            return sender(operand, address, operands, data)
        case .recvfrom(let operand, let count, let room, let closeOnExec, let nonBlocking):
            return receiver(operand, count, room, closeOnExec, nonBlocking)
        }
    }
}
