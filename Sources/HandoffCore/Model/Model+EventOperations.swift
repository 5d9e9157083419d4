// Event operations applied to the model: the dispatch by operation, and the rules that belong to no
// one kernel object's file (ReferenceModel.apply dispatches here by family).

import Glibc
import HandoffProtocol

extension ReferenceModel {
    mutating func apply(events operation: EventOperation<ResolvedNaming>, by process: String) -> Outcome {
        switch operation {
        case let .epollCreate(closeOnExec):
            return epollCreate(process, closeOnExec: closeOnExec)
        case let .epollCtl(epoll, op, fd, events):
            return epollCtl(process, epoll: epoll, op: op, fd: fd, events: events)
        case let .epollWait(epoll, maxEvents, timeout):
            return epollWait(process, epoll: epoll, maxEvents: maxEvents, timeout: timeout)
        case let .pipe(closeOnExec, nonBlocking):
            return pipe(process, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .eventfd(initial, closeOnExec, nonBlocking, semaphore):
            return eventfd(process, initial: initial, closeOnExec: closeOnExec, nonBlocking: nonBlocking, semaphore: semaphore)
        case let .poll(fd, events, timeout):
            return poll(process, fd: fd, events: events, timeout: timeout)
        case let .signalfd(mask, closeOnExec, nonBlocking):
            return createAnonymous(process, .signalfd(mask: mask), closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .timerfdCreate(clock, closeOnExec, nonBlocking):
            return createAnonymous(process, .timerfd(clock: clock), closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .inotifyInit(closeOnExec, nonBlocking):
            return createAnonymous(process, .inotify, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        }
    }

    /// The descriptor it needs a full (non-O_PATH) file for, which ReferenceModel.apply checks first (EBADF);
    /// nil when it takes none or checks O_PATH in its own rule, in the kernel's order.
    func fullFile(_ operation: EventOperation<ResolvedNaming>) -> Int32? {
        switch operation {
        case .pipe, .eventfd, .epollCreate, .epollCtl, .epollWait, .poll, .signalfd, .timerfdCreate, .inotifyInit: return nil
        }
    }
}
