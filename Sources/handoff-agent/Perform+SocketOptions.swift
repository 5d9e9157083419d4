// setsockopt and getsockopt of SOL_SOCKET options: one system call each, with an int value (a struct
// ucred for SO_PEERCRED). The answer's result is the option's value, as the model predicts it.

import Glibc
import HandoffProtocol

extension Agent {
    static func socketOptionSetter(_ operand: LoopOperand, _ option: SocketOption, _ value: Int32) -> Performer {
        { agent, answer -> Bool in
            let socket = operand.value(agent.slots)
            if agent.isChannel(socket) { answer.fail(EBADF); return true }
            var argument = value
            answer.record(timed {
                Glibc.setsockopt(socket, Linux.SOL_SOCKET, option.linux, &argument, socklen_t(MemoryLayout<Int32>.size))
            })
            return true
        }
    }

    static func socketOptionGetter(_ operand: LoopOperand, _ option: SocketOption) -> Performer {
        { agent, answer -> Bool in
            let socket = operand.value(agent.slots)
            if agent.isChannel(socket) { answer.fail(EBADF); return true }
            // struct ucred is three ints: SO_PEERCRED fills all of them, every other option the first.
            var values: (Int32, Int32, Int32) = (0, 0, 0)
            var length = socklen_t(option == .peercred ? 3 * MemoryLayout<Int32>.size : MemoryLayout<Int32>.size)
            let call = timed { Glibc.getsockopt(socket, Linux.SOL_SOCKET, option.linux, &values, &length) }
            answer.record(call)
            guard call.value == 0 else { return true }
            switch option {
            case .peercred:
                answer.credentials = UnixCredentials(pid: values.0, uid: UInt32(bitPattern: values.1),
                                                     gid: UInt32(bitPattern: values.2))
            case .peerpidfd:
                answer.result = Int64(values.0)
                answer.fds.append(values.0)
            case .passcred, .passpidfd, .passrights, .peekOff, .inq, .error, .type, .domain, .acceptconn:
                answer.result = Int64(values.0)
            }
            return true
        }
    }
}
