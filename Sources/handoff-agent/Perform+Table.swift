// Table operations performed: the system call each one is, timed (Perform.swift dispatches here).

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    static func performer(for operation: TableOperation<LoopNaming>) -> Performer {
        switch operation {
        case .dup(let operand):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                answer.record(timed { dup(fd) }, producing: true)
                return true
            }
        case .dup2(let operand, let target):
            return { agent, answer -> Bool in
                agent.duplicate(operand.value(agent.slots), onto: target.value(agent.slots), flags: nil, into: &answer)
                return true
            }
        case .dup3(let operand, let target, let flags):
            return { agent, answer -> Bool in
                agent.duplicate(operand.value(agent.slots), onto: target.value(agent.slots), flags: flags, into: &answer)
                return true
            }
        case .fcntl(let operand, let command):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                let (cmd, argument) = command.linux
                answer.record(timed { handoff_fcntl_int(fd, cmd, argument) }, producing: command.duplicates)
                return true
            }
        case .ioctl(let operand, let request):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                var value = request.linux.argument
                let call = timed { handoff_ioctl_int(fd, request.linux.request, &value) }
                answer.record(call)
                // FIONREAD's answer is the int it wrote back, as getsockopt's is the option's value.
                if call.value == 0 && request.readsBack { answer.result = Int64(value) }
                return true
            }
        case .close(let operand):
            let call = CloseCall(operand)
            return { agent, answer -> Bool in
                call.perform(&agent, &answer)
                return true
            }
        case .closeRange(let first, let last, let flags):
            return { agent, answer -> Bool in
                let result = agent.closeRangeAroundChannels(first, last, flags)
                // CLOSE_RANGE_UNSHARE leaves a private table that still holds the other agents' channels.
                if CloseRangeFlags.unshares(flags) && result.value == 0 { for channel in agent.hidden { close(channel) } }
                answer.record(result)
                return true
            }
        case .unshareFiles:
            return { agent, answer -> Bool in
                let result = timed { handoff_unshare_files() }
                if result.value == 0 { for channel in agent.hidden { close(channel) } }
                answer.record(result)
                return true
            }
        case .dupfdQuery(let operand, let otherOperand):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                let other = otherOperand.value(agent.slots)
                if agent.isChannel(fd) || agent.isChannel(other) { answer.fail(EBADF); return true }
                answer.record(timed { handoff_fcntl_int(fd, Linux.F_DUPFD_QUERY, other) })
                return true
            }
        }
    }
}
