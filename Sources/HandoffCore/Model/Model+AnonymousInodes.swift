#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HandoffProtocol

// signalfd (fs/signalfd.c), timerfd (fs/timerfd.c) and inotify (fs/notify/inotify/inotify_user.c): objects
// behind an anonymous inode, with nothing to read unless a signal, an expiry or an event arrives - which no
// scenario causes (no signal is sent, no timer armed, no watch added). What holds for all of them: a
// number from alloc_fd, noop_llseek, no write, no open through /proc (ENXIO), a poll method.

/// What an anonymous-inode object of this family is, with what it was created with.
enum AnonymousObject: Equatable, Sendable {
    case signalfd(mask: Set<SignalName>)
    case timerfd(clock: TimerClock)
    case inotify

    var kind: AnonymousKind {
        switch self {
        case .signalfd: return .signalfd
        case .timerfd: return .timerfd
        case .inotify: return .inotify
        }
    }
}

extension ReferenceModel {
    /// fs/signalfd.c: do_signalfd4 (ufd -1), fs/timerfd.c: timerfd_create, inotify_user.c: do_inotify_init -
    /// the flags are valid by construction (the scenario language names only SFD_/TFD_/IN_CLOEXEC and
    /// NONBLOCK, and clocks that need no capability); then get_unused_fd_flags (EMFILE) and
    /// anon_inode_getfile: signalfd and timerfd open O_RDWR, inotify O_RDONLY.
    mutating func createAnonymous(_ process: String, _ object: AnonymousObject, closeOnExec: Bool,
                                  nonBlocking: Bool) -> Outcome {
        let access: AccessMode = object == .inotify ? .readOnly : .readWrite
        return install(process, target: .anonymous(object), access: access, flags: nonBlocking ? [.nonblock] : [],
                       closeOnExec: closeOnExec)
    }

    /// signalfd_read: fewer bytes than one signalfd_siginfo (128) is EINVAL; no pending signal of the mask
    /// waits, or EAGAIN when non-blocking. timerfd_read: fewer than 8 bytes is EINVAL; an unarmed timer has
    /// no tick (waits, or EAGAIN). inotify_read: an empty queue waits or says EAGAIN whatever the count (the
    /// count is checked against an event only when there is one).
    func readAnonymous(_ object: AnonymousObject, description desc: OpenDescription, count: Int) -> Outcome {
        switch object {
        case .signalfd:
            if count < Linux.SIGNALFD_SIGINFO_SIZE { return .failure(EINVAL) }
        case .timerfd:
            if count < MemoryLayout<UInt64>.size { return .failure(EINVAL) }
        case .inotify:
            break
        }
        return desc.nonBlocking ? .failure(EAGAIN) : Outcome(blocks: true)
    }
}
