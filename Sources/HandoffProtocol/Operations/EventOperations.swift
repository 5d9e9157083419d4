// Event operations, declared once: the cases, their keywords and declarations, their wire fields and
// how their names map (Operation.swift and OperationDeclarations.swift dispatch here by family;
// docs/adding-an-operation.md is the recipe).

public enum EventOperation<Naming: OperationNaming>: Hashable, Sendable {
    public typealias FD = Naming.Descriptor
    public typealias Process = Naming.Process
    public typealias Text = Naming.Text

    case pipe(closeOnExec: Bool, nonBlocking: Bool)
    /// eventfd(initial, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE).
    case eventfd(initial: UInt32, closeOnExec: Bool, nonBlocking: Bool, semaphore: Bool)
    /// epoll_create1(EPOLL_CLOEXEC?).
    case epollCreate(closeOnExec: Bool)
    /// epoll_ctl(epoll, op, fd, {events}); `op` as the kernel takes it (EpollControl names the three it knows;
    /// any other value is handed over as it is, for the EINVAL it gets).
    case epollCtl(epoll: FD, op: Int32, fd: FD, events: Set<EpollEvent>)
    /// epoll_wait(epoll, events, maxEvents, timeout): the registrations ready, at most `maxEvents`, waiting at
    /// most `timeout` milliseconds for one; the result is their count.
    case epollWait(epoll: FD, maxEvents: Int32, timeout: Int32)
    /// poll(2) of one descriptor for `events`, waiting at most `timeout` milliseconds; the result is the
    /// revents (0 when the time ran out).
    case poll(fd: FD, events: Set<PollEvent>, timeout: Int32)
    /// signalfd4(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK): a new signalfd.
    case signalfd(mask: Set<SignalName>, closeOnExec: Bool, nonBlocking: Bool)
    /// timerfd_create(clock, TFD_CLOEXEC | TFD_NONBLOCK): a new, unarmed timerfd.
    case timerfdCreate(clock: TimerClock, closeOnExec: Bool, nonBlocking: Bool)
    /// inotify_init1(IN_CLOEXEC | IN_NONBLOCK): a new inotify instance without watches.
    case inotifyInit(closeOnExec: Bool, nonBlocking: Bool)

    @inlinable public var kind: EventOperationKind {
        switch self {
        case .pipe: return .pipe
        case .eventfd: return .eventfd
        case .epollCreate: return .epollCreate
        case .epollCtl: return .epollCtl
        case .epollWait: return .epollWait
        case .poll: return .poll
        case .signalfd: return .signalfd
        case .timerfdCreate: return .timerfdCreate
        case .inotifyInit: return .inotifyInit
        }
    }
}

public enum EventOperationKind: String, CaseIterable, Sendable, Hashable {
    case pipe
    case eventfd
    case epollCreate = "epoll_create1"
    case epollCtl = "epoll_ctl"
    case epollWait = "epoll_wait"
    case poll
    case signalfd
    case timerfdCreate = "timerfd_create"
    case inotifyInit = "inotify_init1"
}

extension OperationKind {
    public static let pipe = OperationKind.events(.pipe)
    public static let eventfd = OperationKind.events(.eventfd)
    public static let epollCreate = OperationKind.events(.epollCreate)
    public static let epollCtl = OperationKind.events(.epollCtl)
    public static let epollWait = OperationKind.events(.epollWait)
    public static let poll = OperationKind.events(.poll)
    public static let signalfd = OperationKind.events(.signalfd)
    public static let timerfdCreate = OperationKind.events(.timerfdCreate)
    public static let inotifyInit = OperationKind.events(.inotifyInit)
}

extension Operation {
    @inlinable public static func pipe(closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .events(.pipe(closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
    @inlinable public static func eventfd(initial: UInt32, closeOnExec: Bool, nonBlocking: Bool,
                                          semaphore: Bool = false) -> Operation {
        .events(.eventfd(initial: initial, closeOnExec: closeOnExec, nonBlocking: nonBlocking, semaphore: semaphore))
    }
    @inlinable public static func epollCreate(closeOnExec: Bool) -> Operation {
        .events(.epollCreate(closeOnExec: closeOnExec))
    }
    @inlinable public static func epollCtl(epoll: FD, op: EpollControl, fd: FD, events: Set<EpollEvent>) -> Operation {
        .events(.epollCtl(epoll: epoll, op: op.linux, fd: fd, events: events))
    }
    @inlinable public static func epollWait(epoll: FD, maxEvents: Int32, timeout: Int32) -> Operation {
        .events(.epollWait(epoll: epoll, maxEvents: maxEvents, timeout: timeout))
    }
    @inlinable public static func poll(fd: FD, events: Set<PollEvent>, timeout: Int32) -> Operation {
        .events(.poll(fd: fd, events: events, timeout: timeout))
    }
    @inlinable public static func signalfd(mask: Set<SignalName>, closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .events(.signalfd(mask: mask, closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
    @inlinable public static func timerfdCreate(clock: TimerClock, closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .events(.timerfdCreate(clock: clock, closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
    @inlinable public static func inotifyInit(closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .events(.inotifyInit(closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
}

extension Operation {
    /// How long a poll or epoll_wait step waits for an event, in milliseconds (0: it returns at once); nil for
    /// every other operation.
    public var eventTimeout: Int32? {
        switch self {
        case .events(.poll(_, _, let timeout)), .events(.epollWait(_, _, let timeout)): return timeout
        default: return nil
        }
    }
}

extension EventOperation {
    /// The same operation under another naming (Operation.map).
    @_specialize(exported: true, where Naming == LoopNaming, Other == WireNaming, Failure == Never)
    @_specialize(exported: true, where Naming == WireNaming, Other == WireNaming, Failure == Never)
    @inlinable public func map<Other: OperationNaming, Failure: Error>(_ renaming: Renaming<Naming, Other, Failure>)
        throws(Failure) -> EventOperation<Other>
    {
        switch self {
        case .pipe(let closeOnExec, let nonBlocking): return .pipe(closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .eventfd(let initial, let closeOnExec, let nonBlocking, let semaphore):
            return .eventfd(initial: initial, closeOnExec: closeOnExec, nonBlocking: nonBlocking, semaphore: semaphore)
        case .epollCreate(let closeOnExec): return .epollCreate(closeOnExec: closeOnExec)
        case .epollCtl(let epoll, let op, let target, let events):
            return .epollCtl(epoll: try renaming.fd(epoll, "epoll"), op: op, fd: try renaming.fd(target, "fd"), events: events)
        case .epollWait(let epoll, let maxEvents, let timeout):
            return .epollWait(epoll: try renaming.fd(epoll, "epoll"), maxEvents: maxEvents, timeout: timeout)
        case .poll(let value, let events, let timeout):
            return .poll(fd: try renaming.fd(value, "fd"), events: events, timeout: timeout)
        case .signalfd(let mask, let closeOnExec, let nonBlocking):
            return .signalfd(mask: mask, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .timerfdCreate(let clock, let closeOnExec, let nonBlocking):
            return .timerfdCreate(clock: clock, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .inotifyInit(let closeOnExec, let nonBlocking):
            return .inotifyInit(closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        }
    }
}

extension EventOperationKind {
    /// This operation's declaration (built once per process: OperationKind.declaration).
    var declared: OperationDeclaration {
        let socketFlags = DeclarationParts.socketFlags
        let fd = DeclarationParts.fd
        switch self {
        case .pipe:
            return OperationDeclaration(.events(self), "pipe2(2)", [ArgumentDeclaration("flags", .flags(["cloexec", "nonblock"]))],
                           binds: .pair("read", "write"))
        case .eventfd:
            return OperationDeclaration(.events(self), "eventfd(2); `semaphore` is EFD_SEMAPHORE (a read takes 1)", [
                ArgumentDeclaration("initial", .integer(0...Int64(UInt32.max)), default: "0"),
                ArgumentDeclaration("flags", .flags(["cloexec", "nonblock", "semaphore"])),
            ], binds: .descriptor)
        case .epollCreate:
            return OperationDeclaration(.events(self), "epoll_create1(2)", [ArgumentDeclaration("flags", .flags(["cloexec"]))], binds: .descriptor,
                           needs: SystemNeeds(syscalls: ["epoll_create1"]))
        case .epollCtl:
            return OperationDeclaration(.events(self), "epoll_ctl(2): register, change or remove a descriptor in an epoll set", [
                ArgumentDeclaration("epoll", .descriptor, required: true),
                ArgumentDeclaration("op", .keywordOrRaw(EpollControl.allCases.map(\.rawValue)), required: true), fd,
                ArgumentDeclaration("events", .flags(EpollEvent.allCases.map(\.rawValue)), default: "[in]"),
            ], needs: SystemNeeds(syscalls: ["epoll_create1"]))
        case .epollWait:
            // `max` reaches 0 and -1 for do_epoll_wait's EINVAL; the agents report at most maximumReady.
            return OperationDeclaration(.events(self), "epoll_wait(2); the result is how many registrations are ready, `ready` which", [
                ArgumentDeclaration("epoll", .descriptor, required: true),
                ArgumentDeclaration("max", .integer(-1...Int64(ReadyRegistration.maximumReported)),
                                    default: "\(ReadyRegistration.defaultMaximum)"),
                ArgumentDeclaration("timeout", .integer(0...Int64(PollEvent.maximumTimeout)), default: "0"),
            ], expectations: [.error, .result, .ready], needs: SystemNeeds(syscalls: ["epoll_create1"]))
        case .poll:
            return OperationDeclaration(.events(self), "poll(2) of one descriptor; the result is its revents", [
                fd, ArgumentDeclaration("events", .flags(PollEvent.allCases.map(\.rawValue)), default: "[in]"),
                ArgumentDeclaration("timeout", .integer(0...Int64(PollEvent.maximumTimeout)), default: "0"),
            ], expectations: [.error, .result])
        case .signalfd:
            return OperationDeclaration(.events(self), "signalfd4(2) of a new signalfd with a signal mask", [
                ArgumentDeclaration("signals", .flags(SignalName.allCases.map(\.rawValue))), socketFlags,
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["signalfd4"]))
        case .timerfdCreate:
            return OperationDeclaration(.events(self), "timerfd_create(2) of an unarmed timer", [
                ArgumentDeclaration("clock", .keyword(TimerClock.allCases.map(\.rawValue)), default: "monotonic"),
                socketFlags,
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["timerfd_create"]))
        case .inotifyInit:
            // Not repeatable: inotify instances count against fs.inotify.max_user_instances (128), shared by
            // every process of the user, so a loop would meet EMFILE the model cannot see.
            return OperationDeclaration(.events(self), "inotify_init1(2) of an inotify instance without watches", [socketFlags], binds: .descriptor,
                           repeatable: false, needs: SystemNeeds(syscalls: ["inotify_init1"]))
        }
    }
}

extension EventOperation where Naming.Descriptor: WireDescriptor, Naming.Process == ProcessHandle,
    Naming.Address == SocketAddress, Naming.Text == String
{
    /// This operation's fields in its request (Operation.encoded).
    func encode(into message: inout WireMessage) {
        switch self {
        case .pipe(let closeOnExec, let nonBlocking):
            message.set("flags", (closeOnExec ? Linux.O_CLOEXEC : 0) | (nonBlocking ? Linux.O_NONBLOCK : 0))
        case .eventfd(let initial, let closeOnExec, let nonBlocking, let semaphore):
            message.set("initial", Int64(initial))
            message.set("flags", (closeOnExec ? Linux.EFD_CLOEXEC : 0) | (nonBlocking ? Linux.EFD_NONBLOCK : 0)
                | (semaphore ? Linux.EFD_SEMAPHORE : 0))
        case .epollCreate(let closeOnExec):
            message.set("flags", closeOnExec ? Linux.EPOLL_CLOEXEC : 0)
        case .epollCtl(let epoll, let op, let target, let events):
            message.setDescriptor("epfd", epoll)
            message.set("op", op)
            message.setDescriptor("fd", target)
            message.set("events", Int64(EpollEvent.linux(events)))
        case .epollWait(let epoll, let maxEvents, let timeout):
            message.setDescriptor("epfd", epoll)
            message.set("max", maxEvents)
            message.set("timeout", timeout)
        case .poll(let value, let events, let timeout):
            message.setDescriptor("fd", value)
            message.set("events", Int64(PollEvent.linux(events)))
            message.set("timeout", timeout)
        case .signalfd(let mask, let closeOnExec, let nonBlocking):
            message.set("mask", Int64(bitPattern: SignalName.mask(mask)))
            message.set("flags", (closeOnExec ? Linux.SFD_CLOEXEC : 0) | (nonBlocking ? Linux.SFD_NONBLOCK : 0))
        case .timerfdCreate(let clock, let closeOnExec, let nonBlocking):
            message.set("clock", clock.linux)
            message.set("flags", (closeOnExec ? Linux.TFD_CLOEXEC : 0) | (nonBlocking ? Linux.TFD_NONBLOCK : 0))
        case .inotifyInit(let closeOnExec, let nonBlocking):
            message.set("flags", (closeOnExec ? Linux.IN_CLOEXEC : 0) | (nonBlocking ? Linux.IN_NONBLOCK : 0))
        }
    }

    /// The operation a request of this family asks for (Operation.decode); what is malformed is in
    /// `request.fields.problem`.
    static func decode(_ kind: EventOperationKind, _ request: inout RequestReader<FD>) -> EventOperation {
        let operation: EventOperation
        switch kind {
        case .pipe:
            let flags = request.fields.int32("flags")
            operation = .pipe(closeOnExec: flags & Linux.O_CLOEXEC != 0, nonBlocking: flags & Linux.O_NONBLOCK != 0)
        case .eventfd:
            let initial = UInt32(truncatingIfNeeded: request.fields.int64("initial"))
            let flags = request.fields.int32("flags")
            operation = .eventfd(initial: initial, closeOnExec: flags & Linux.EFD_CLOEXEC != 0,
                                 nonBlocking: flags & Linux.EFD_NONBLOCK != 0, semaphore: flags & Linux.EFD_SEMAPHORE != 0)
        case .epollCreate:
            operation = .epollCreate(closeOnExec: request.fields.int32("flags") & Linux.EPOLL_CLOEXEC != 0)
        case .epollCtl:
            let epoll = request.fd("epfd")
            let op = request.fields.int32("op")
            let target = request.fd("fd")
            let events = EpollEvent.set(fromLinux: UInt32(truncatingIfNeeded: request.fields.int64("events")))
            operation = .epollCtl(epoll: epoll, op: op, fd: target, events: events)
        case .epollWait:
            let epoll = request.fd("epfd")
            let maxEvents = request.fields.int32("max")
            if maxEvents > ReadyRegistration.maximumReported { request.fields.malformed("max") }
            operation = .epollWait(epoll: epoll, maxEvents: maxEvents, timeout: request.fields.int32("timeout"))
        case .poll:
            let value = request.fd("fd")
            let events = PollEvent.set(fromLinux: Int16(truncatingIfNeeded: request.fields.int64("events")))
            operation = .poll(fd: value, events: events, timeout: request.fields.int32("timeout"))
        case .signalfd:
            let mask = SignalName.set(fromMask: UInt64(bitPattern: request.fields.int64("mask")))
            if mask == nil { request.fields.malformed("mask") }
            let flags = request.fields.int32("flags")
            operation = .signalfd(mask: mask ?? [], closeOnExec: flags & Linux.SFD_CLOEXEC != 0,
                                  nonBlocking: flags & Linux.SFD_NONBLOCK != 0)
        case .timerfdCreate:
            let clock = request.word("clock", TimerClock.init(linux:), or: .monotonic)
            let flags = request.fields.int32("flags")
            operation = .timerfdCreate(clock: clock, closeOnExec: flags & Linux.TFD_CLOEXEC != 0,
                                       nonBlocking: flags & Linux.TFD_NONBLOCK != 0)
        case .inotifyInit:
            let flags = request.fields.int32("flags")
            operation = .inotifyInit(closeOnExec: flags & Linux.IN_CLOEXEC != 0, nonBlocking: flags & Linux.IN_NONBLOCK != 0)
        }
        return operation
    }
}
