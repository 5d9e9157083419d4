// Process operations performed: the system call each one is, timed (Perform.swift dispatches here).

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    static func performer(for operation: ProcessOperation<LoopNaming>) -> Performer {
        switch operation {
        case .fork:
            return { agent, answer -> Bool in
                guard let forked = agent.fork(sharingTable: false) else { return false }
                answer = forked
                return true
            }
        case .cloneFiles:
            return { agent, answer -> Bool in
                guard let forked = agent.fork(sharingTable: true) else { return false }
                answer = forked
                return true
            }
        case .exec(let newArguments, let environment):
            return { agent, answer -> Bool in
                answer = agent.exec(newArguments, environment: environment)
                return true
            }
        case .launch(let program, let newArguments, let environment, _, _, _, _, _):
            return { agent, answer -> Bool in
                answer = agent.launch(program, newArguments, environment: environment)
                return true
            }
        case .exit(let status):
            return { agent, answer -> Bool in
                _exit(status)
            }
        case .wait(let child):
            return { agent, answer -> Bool in
                var status: Int32 = 0
                let result = timed { waitpid(child.pid, &status, 0) }
                answer.record(result)
                if result.value > 0 { answer.waitStatus = status }
                return true
            }
        case .setrlimit(let nofile):
            return { agent, answer -> Bool in
                var limit = rlimit()
                getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
                limit.rlim_cur = rlim_t(nofile)
                answer.record(timed { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) })
                return true
            }
        case .dropCapability(let name):
            return { agent, answer -> Bool in
                let capability = handoff_capability_from_name(name)
                if capability < 0 { answer.fail(EINVAL); return true }
                answer.record(timed { handoff_drop_capability(capability) })
                return true
            }
        case .setDumpable(let dumpable):
            return { agent, answer -> Bool in
                answer.record(timed { handoff_set_dumpable(dumpable ? 1 : 0) })
                return true
            }
        case .pidfdSendSignal(let operand, let signal):
            return { agent, answer -> Bool in
                let pidfd = operand.value(agent.slots)
                if agent.isChannel(pidfd) { answer.fail(EBADF); return true }
                answer.record(timed { handoff_pidfd_send_signal(pidfd, signal.linux) })
                return true
            }
        case .waitid(let operand, let noHang):
            return { agent, answer -> Bool in
                let pidfd = operand.value(agent.slots)
                if agent.isChannel(pidfd) { answer.fail(EBADF); return true }
                var status: Int32 = -1
                answer.record(timed { handoff_waitid_pidfd(pidfd, noHang ? Linux.WNOHANG : 0, &status) })
                // -1: WNOHANG and the child has not exited (no status to report).
                if answer.errno == 0 && status >= 0 { answer.waitStatus = status }
                return true
            }
        case .pidfdOpen(let target, let flags):
            return { agent, answer -> Bool in
                answer.record(timed { handoff_pidfd_open(target.pid, flags) }, producing: true)
                return true
            }
        case .pidfdGetfd(let target, let operand, let flags):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                // A transient pidfd, moved above the scenario's numbers before the measured call.
                let opened = handoff_pidfd_open(target.pid, 0)
                if opened < 0 { answer.fail(errno); return true }
                // The channels in the target's table are as invisible as our own (once the pidfd exists, as
                // the kernel would look at the number only then).
                if (fd == target.channel || agent.hidden.contains(fd)) && flags == 0 {
                    close(opened)
                    answer.fail(EBADF)
                    return true
                }
                let pidfd = agent.moveHigh(opened, avoiding: fd)
                let result = timed { handoff_pidfd_getfd(pidfd, fd, flags) }
                close(pidfd)
                answer.record(result, producing: true)
                return true
            }
        case .pidfdGetfdThrough(let pidfdOperand, let target, let operand, let flags):
            // Through the scenario's own pidfd: no transient one.
            return { agent, answer -> Bool in
                let pidfd = pidfdOperand.value(agent.slots), fd = operand.value(agent.slots)
                if agent.isChannel(pidfd) && flags == 0 { answer.fail(EBADF); return true }
                if (fd == target.channel || agent.hidden.contains(fd)) && flags == 0 { answer.fail(EBADF); return true }
                answer.record(timed { handoff_pidfd_getfd(pidfd, fd, flags) }, producing: true)
                return true
            }
        case .attach:
            return { agent, _ in
                agent.refusal = ProtocolError("attach is the runner's, never sent to an agent")
                return true
            }
        }
    }
}
