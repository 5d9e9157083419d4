// Event operations performed: the system call each one is, timed (Perform.swift dispatches here).

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    static func performer(for operation: EventOperation<LoopNaming>) -> Performer {
        switch operation {
        case .pipe(let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                var ends: [Int32] = [-1, -1]
                let flags = (closeOnExec ? Linux.O_CLOEXEC : 0) | (nonBlocking ? Linux.O_NONBLOCK : 0)
                answer.record(timed { handoff_pipe2(&ends, flags) }, producing: ends)
                return true
            }
        case .eventfd(let initial, let closeOnExec, let nonBlocking, let semaphore):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.EFD_CLOEXEC : 0) | (nonBlocking ? Linux.EFD_NONBLOCK : 0)
                    | (semaphore ? Linux.EFD_SEMAPHORE : 0)
                answer.record(timed { handoff_eventfd(initial, flags) }, producing: true)
                return true
            }
        case .epollCreate(let closeOnExec):
            return { agent, answer -> Bool in
                answer.record(timed { handoff_epoll_create1(closeOnExec ? Linux.EPOLL_CLOEXEC : 0) }, producing: true)
                return true
            }
        case .epollCtl(let epollOperand, let op, let fdOperand, let events):
            return { agent, answer -> Bool in
                let epoll = epollOperand.value(agent.slots), fd = fdOperand.value(agent.slots)
                if agent.isChannel(epoll) || agent.isChannel(fd) { answer.fail(EBADF); return true }
                answer.record(timed { handoff_epoll_ctl(epoll, op, fd, EpollEvent.linux(events)) })
                return true
            }
        case .epollWait(let epollOperand, let maxEvents, let timeout):
            // The result is the count; `ready` carries each registration's data (its number) and events.
            return { agent, answer -> Bool in
                let epoll = epollOperand.value(agent.slots)
                if agent.isChannel(epoll) { answer.fail(EBADF); return true }
                let room = Int(max(1, min(maxEvents, ReadyRegistration.maximumReported)))
                var fds = [Int32](repeating: -1, count: room), events = [UInt32](repeating: 0, count: room)
                let call = timed { handoff_epoll_wait(epoll, maxEvents, timeout, &fds, &events) }
                answer.record(call)
                if call.value >= 0 {
                    answer.ready = (0..<Int(call.value)).map { ReadyRegistration(fd: fds[$0], events: events[$0]) }
                }
                return true
            }
        case .poll(let operand, let events, let timeout):
            // The result is the descriptor's revents (poll's count is 0 or 1 and says nothing more).
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.result = Int64(Linux.POLLNVAL); answer.errno = 0; return true }
                var entry = pollfd(fd: fd, events: PollEvent.linux(events), revents: 0)
                let call = timed { Glibc.poll(&entry, 1, timeout) }
                answer.record(call)
                if call.value >= 0 { answer.result = Int64(entry.revents) }
                return true
            }
        case .signalfd(let mask, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.SFD_CLOEXEC : 0) | (nonBlocking ? Linux.SFD_NONBLOCK : 0)
                answer.record(timed { handoff_signalfd(SignalName.mask(mask), flags) }, producing: true)
                return true
            }
        case .timerfdCreate(let clock, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.TFD_CLOEXEC : 0) | (nonBlocking ? Linux.TFD_NONBLOCK : 0)
                answer.record(timed { handoff_timerfd_create(clock.linux, flags) }, producing: true)
                return true
            }
        case .inotifyInit(let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.IN_CLOEXEC : 0) | (nonBlocking ? Linux.IN_NONBLOCK : 0)
                answer.record(timed { handoff_inotify_init1(flags) }, producing: true)
                return true
            }
        }
    }
}
