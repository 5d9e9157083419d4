// One operation type from the scenario file to the agent. What varies along the way is only how things are
// named: a scenario names descriptors (`file`, `3`, `{argv: 1}`), processes and addresses; the model sees
// numbers and process names; the wire carries numbers and pids; a loop carries numbers and loop slots.
// `Operation<Naming>` is generic over that, and `map` turns one naming into another. Which operations exist,
// and what each accepts, is declared once in OperationDeclarations.swift.

/// How an operation names descriptors, processes, socket addresses and texts (exec arguments).
public protocol OperationNaming {
    associatedtype Descriptor: Hashable & Sendable
    associatedtype Process: Hashable & Sendable
    associatedtype Address: Hashable & Sendable
    associatedtype Text: Hashable & Sendable
}

/// Numbers and process names: what the reference model applies.
public enum ResolvedNaming: OperationNaming {
    public typealias Descriptor = Int32
    public typealias Process = String
    public typealias Address = SocketAddress
    public typealias Text = String
}

/// Numbers and pids: what an agent performs.
public enum WireNaming: OperationNaming {
    public typealias Descriptor = Int32
    public typealias Process = ProcessHandle
    public typealias Address = SocketAddress
    public typealias Text = String
}

/// Numbers or loop slots: what an agent performs inside a loop.
public enum LoopNaming: OperationNaming {
    public typealias Descriptor = LoopOperand
    public typealias Process = ProcessHandle
    public typealias Address = SocketAddress
    public typealias Text = String
}

public enum Operation<Naming: OperationNaming>: Hashable, Sendable {
    public typealias FD = Naming.Descriptor
    public typealias Process = Naming.Process
    public typealias Text = Naming.Text

    case open(path: String, flags: Set<OpenFlag>, mode: UInt32)
    case pipe(closeOnExec: Bool, nonBlocking: Bool)
    case socketpair(type: SocketType, closeOnExec: Bool, nonBlocking: Bool)
    /// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING).
    case memfd(name: String, closeOnExec: Bool, allowSealing: Bool = false)
    /// eventfd(initial, EFD_CLOEXEC | EFD_NONBLOCK).
    case eventfd(initial: UInt32, closeOnExec: Bool, nonBlocking: Bool)
    /// epoll_create1(EPOLL_CLOEXEC?).
    case epollCreate(closeOnExec: Bool)
    /// epoll_ctl(epoll, op, fd, {events}).
    case epollCtl(epoll: FD, op: EpollControl, fd: FD, events: Set<EpollEvent>)
    case dup(fd: FD)
    case dup2(fd: FD, target: FD)
    /// `flags` is raw so that invalid flags (EINVAL) can be exercised.
    case dup3(fd: FD, target: FD, flags: Int32)
    case fcntl(fd: FD, command: FcntlCommand)
    case close(fd: FD)
    /// `last` UInt32.max is ~0U (to the end of the table).
    case closeRange(first: UInt32, last: UInt32, closeOnExec: Bool, unshare: Bool)
    case lseek(fd: FD, offset: Int64, whence: Whence)
    case read(fd: FD, count: Int)
    case write(fd: FD, data: [UInt8])
    case shutdown(socket: FD, how: ShutdownHow)
    /// poll(2) of one descriptor for `events`, waiting at most `timeout` milliseconds; the result is the
    /// revents (0 when the time ran out).
    case poll(fd: FD, events: Set<PollEvent>, timeout: Int32)
    /// Schedules the AF_UNIX garbage collector: a fresh socketpair(AF_UNIX) closed at once (its release,
    /// unix_release_sock, calls unix_gc while sockets are in flight). Returns at once; the collection runs in a
    /// workqueue, so a later step waits for what it frees (a poll with a timeout, or a blocking read).
    case unixGC
    /// pidfd_send_signal(2) of `signal` to the process `pidfd` refers to (no siginfo, flags 0).
    case pidfdSendSignal(pidfd: FD, signal: SentSignal)
    /// waitid(P_PIDFD, pidfd, WEXITED [| WNOHANG]): reaps the child `pidfd` refers to.
    case waitid(pidfd: FD, noHang: Bool)
    /// Creates the child process `child`; it starts with a copy of the parent's table.
    case fork(child: Process)
    /// Re-executes the agent image with these arguments (argv[1...]) and extra environment variables.
    case exec(arguments: [Text], environment: [EnvironmentVariable<Text>])
    case exit(status: Int32)
    /// Reaps the child (which must have exited, unless the step runs in the background).
    case wait(child: Process)
    case send(socket: FD, fds: [FD], data: [UInt8], flags: Set<SendFlag> = [])
    /// `room`: the control buffer is CMSG_SPACE(room * sizeof(int)) bytes; 0 means no control buffer.
    /// `control`, when set, is the control buffer's exact size in bytes instead (room is then ignored).
    case recv(socket: FD, count: Int, room: Int, closeOnExec: Bool, nonBlocking: Bool, flags: Set<MessageFlag> = [],
              control: Int? = nil)
    case pidfdOpen(target: Process)
    /// pidfd_getfd of `target`'s descriptor `fd` (a number in the target's table).
    case pidfdGetfd(target: Process, fd: FD, flags: UInt32)
    /// pidfd_getfd through a pidfd the caller holds (`pidfd_getfd` with a `pidfd:` key): `fd` is a number in
    /// `target`'s table, the process the scenario says the pidfd refers to (where `fd`'s names are read).
    case pidfdGetfdThrough(pidfd: FD, target: Process, fd: FD, flags: UInt32)
    /// socket(2) + bind(2) + listen(2): one listening socket. TCP port 0 binds an ephemeral port of 127.0.0.1.
    case listen(address: Naming.Address, type: SocketType, closeOnExec: Bool, nonBlocking: Bool, backlog: Int32)
    /// socket(2) + connect(2): one connected socket.
    case connect(address: Naming.Address, type: SocketType, closeOnExec: Bool, nonBlocking: Bool)
    /// accept4(2).
    case accept(socket: FD, closeOnExec: Bool, nonBlocking: Bool)
    /// setrlimit(RLIMIT_NOFILE) of the soft limit; the hard limit stays.
    case setrlimit(nofile: UInt64)
    /// Removes a capability (`CAP_SYS_PTRACE`) from the effective, permitted and inheritable sets.
    case dropCapability(name: String)
    /// prctl(PR_SET_DUMPABLE).
    case setDumpable(Bool)
    /// open("/proc/PID/fd/N") of `target`'s descriptor `fd`: a NEW open file description.
    case reopen(target: Process, fd: FD, flags: Set<OpenFlag>)
    /// clone(CLONE_FILES): the child `child` shares the caller's descriptor table.
    case cloneFiles(child: Process)
    /// unshare(CLONE_FILES): the caller gets a private copy of its table.
    case unshareFiles
    /// The process execs a launcher under test that hands descriptors on as `handover` says, listening on
    /// `listen` in that order (or accepting on them, one service per connection). From then on it is not an
    /// agent. `preserve` (inherit only): the launcher passes 0-2 and 3..3+preserve-1 and closes the rest
    /// (`runc run --preserve-fds N`); nil: it closes nothing. `stored` (retrieve only): the launcher's
    /// descriptor that it stores in an fd-holding daemon and closes, and that the service gets back at 0.
    case launch(program: Text, arguments: [Text], environment: [EnvironmentVariable<Text>],
                listen: [ListeningSocket<Naming.Address>], acceptMode: Bool, handover: LauncherHandover,
                preserve: Int32? = nil, stored: FD? = nil)
    /// Adopts the next agent the launcher started, as `child`.
    case attach(child: Process)
    /// sendmsg(2) with `fds` split over SCM_RIGHTS headers of `headers` descriptors each (in order; a 0 is a
    /// header with no descriptor); `cmsgLength`, when set, is the single header's cmsg_len as written instead
    /// of CMSG_LEN (the control buffer stays CMSG_SPACE of its descriptors).
    case sendHeaders(socket: FD, fds: [FD], headers: [Int], cmsgLength: Int?, data: [UInt8])
    /// setsockopt(SOL_SOCKET, option, &value, sizeof(int)).
    case setsockopt(socket: FD, option: SocketOption, value: Int32)
    /// getsockopt(SOL_SOCKET, option): the result is the option's value (the new descriptor for
    /// SO_PEERPIDFD; 0 and the credentials for SO_PEERCRED).
    case getsockopt(socket: FD, option: SocketOption)
    /// ftruncate(2): the file's size becomes `length`.
    case ftruncate(fd: FD, length: Int64)
    /// signalfd4(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK): a new signalfd.
    case signalfd(mask: Set<SignalName>, closeOnExec: Bool, nonBlocking: Bool)
    /// timerfd_create(clock, TFD_CLOEXEC | TFD_NONBLOCK): a new, unarmed timerfd.
    case timerfdCreate(clock: TimerClock, closeOnExec: Bool, nonBlocking: Bool)
    /// inotify_init1(IN_CLOEXEC | IN_NONBLOCK): a new inotify instance without watches.
    case inotifyInit(closeOnExec: Bool, nonBlocking: Bool)
    /// fcntl(fd, F_DUPFD_QUERY, other): 1 when both name one open file description, else 0 (Linux 6.10).
    case dupfdQuery(fd: FD, other: FD)
    /// unshare(CLONE_NEWNET): the caller moves to a new network namespace (its later sockets live there).
    case unshareNet
    /// socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0): one unbound, unconnected socket.
    case socket(type: SocketType, closeOnExec: Bool, nonBlocking: Bool)
    /// bind(2) of an existing socket to a unix path or an abstract name.
    case bind(socket: FD, address: Naming.Address)
    /// sendmsg(2) with msg_name `address` and the descriptors as one SCM_RIGHTS message.
    case sendto(socket: FD, address: Naming.Address, fds: [FD], data: [UInt8])
    /// recvmsg(2) with room for the sender's address (msg_name); otherwise as `recv`.
    case recvfrom(socket: FD, count: Int, room: Int, closeOnExec: Bool, nonBlocking: Bool)

    /// Which operation this is, for its declaration.
    @inlinable public var kind: OperationKind {
        switch self {
        case .open: return .open
        case .pipe: return .pipe
        case .socketpair: return .socketpair
        case .memfd: return .memfd
        case .eventfd: return .eventfd
        case .epollCreate: return .epollCreate
        case .epollCtl: return .epollCtl
        case .dup: return .dup
        case .dup2: return .dup2
        case .dup3: return .dup3
        case .fcntl: return .fcntl
        case .close: return .close
        case .closeRange: return .closeRange
        case .lseek: return .lseek
        case .read: return .read
        case .write: return .write
        case .shutdown: return .shutdown
        case .poll: return .poll
        case .unixGC: return .unixGC
        case .pidfdSendSignal: return .pidfdSendSignal
        case .waitid: return .waitid
        case .fork: return .fork
        case .exec: return .exec
        case .exit: return .exit
        case .wait: return .wait
        case .send: return .send
        case .recv: return .recv
        case .pidfdOpen: return .pidfdOpen
        case .pidfdGetfd, .pidfdGetfdThrough: return .pidfdGetfd
        case .listen: return .listen
        case .connect: return .connect
        case .accept: return .accept
        case .setrlimit: return .setrlimit
        case .dropCapability: return .dropCapability
        case .setDumpable: return .setDumpable
        case .reopen: return .reopen
        case .cloneFiles: return .cloneFiles
        case .unshareFiles: return .unshareFiles
        case .launch: return .launch
        case .attach: return .attach
        case .sendHeaders: return .sendHeaders
        case .setsockopt: return .setsockopt
        case .getsockopt: return .getsockopt
        case .ftruncate: return .ftruncate
        case .signalfd: return .signalfd
        case .timerfdCreate: return .timerfdCreate
        case .inotifyInit: return .inotifyInit
        case .dupfdQuery: return .dupfdQuery
        case .unshareNet: return .unshareNet
        case .socket: return .socket
        case .bind: return .bind
        case .sendto: return .sendto
        case .recvfrom: return .recvfrom
        }
    }

    public var declaration: OperationDeclaration { kind.declaration }
}

/// Where a descriptor sits in an operation: its argument (`fd`, `fds[1]`) and whose table it is in (nil:
/// the acting process's; a process for pidfd_getfd and reopen, which name a descriptor of their target).
public struct DescriptorField<Process: Hashable & Sendable>: Sendable {
    public var argument: String
    public var owner: Process?

    @inlinable public init(argument: String, owner: Process?) {
        self.argument = argument
        self.owner = owner
    }
}

extension Operation {
    /// The same operation under another naming. Closures are called in argument order. Inlinable: agents
    /// map loop operations on their hot path, which needs the specialised code.
    @_specialize(exported: true, where Naming == LoopNaming, Other == WireNaming, Failure == Never)
    @_specialize(exported: true, where Naming == WireNaming, Other == WireNaming, Failure == Never)
    @inlinable public func map<Other: OperationNaming, Failure: Error>(
        descriptor: (FD, DescriptorField<Process>) throws(Failure) -> Other.Descriptor,
        process: (Process) throws(Failure) -> Other.Process,
        address: (Naming.Address) throws(Failure) -> Other.Address,
        text: (Text) throws(Failure) -> Other.Text
    ) throws(Failure) -> Operation<Other> {
        func fd(_ value: FD, _ argument: String, of owner: Process? = nil) throws(Failure) -> Other.Descriptor {
            try descriptor(value, DescriptorField(argument: argument, owner: owner))
        }
        func texts(_ values: [Text]) throws(Failure) -> [Other.Text] {
            var result: [Other.Text] = []
            for value in values { result.append(try text(value)) }
            return result
        }
        func variables(_ values: [EnvironmentVariable<Text>]) throws(Failure) -> [EnvironmentVariable<Other.Text>] {
            var result: [EnvironmentVariable<Other.Text>] = []
            for value in values { result.append(EnvironmentVariable(name: value.name, value: try text(value.value))) }
            return result
        }
        switch self {
        case .open(let path, let flags, let mode): return .open(path: path, flags: flags, mode: mode)
        case .pipe(let closeOnExec, let nonBlocking): return .pipe(closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .socketpair(let type, let closeOnExec, let nonBlocking):
            return .socketpair(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .memfd(let name, let closeOnExec, let allowSealing):
            return .memfd(name: name, closeOnExec: closeOnExec, allowSealing: allowSealing)
        case .eventfd(let initial, let closeOnExec, let nonBlocking):
            return .eventfd(initial: initial, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .epollCreate(let closeOnExec): return .epollCreate(closeOnExec: closeOnExec)
        case .epollCtl(let epoll, let op, let target, let events):
            return .epollCtl(epoll: try fd(epoll, "epoll"), op: op, fd: try fd(target, "fd"), events: events)
        case .dup(let value): return .dup(fd: try fd(value, "fd"))
        case .dup2(let value, let target): return .dup2(fd: try fd(value, "fd"), target: try fd(target, "target"))
        case .dup3(let value, let target, let flags):
            return .dup3(fd: try fd(value, "fd"), target: try fd(target, "target"), flags: flags)
        case .fcntl(let value, let command): return .fcntl(fd: try fd(value, "fd"), command: command)
        case .close(let value): return .close(fd: try fd(value, "fd"))
        case .closeRange(let first, let last, let closeOnExec, let unshare):
            return .closeRange(first: first, last: last, closeOnExec: closeOnExec, unshare: unshare)
        case .lseek(let value, let offset, let whence): return .lseek(fd: try fd(value, "fd"), offset: offset, whence: whence)
        case .read(let value, let count): return .read(fd: try fd(value, "fd"), count: count)
        case .write(let value, let data): return .write(fd: try fd(value, "fd"), data: data)
        case .shutdown(let socket, let how): return .shutdown(socket: try fd(socket, "socket"), how: how)
        case .poll(let value, let events, let timeout):
            return .poll(fd: try fd(value, "fd"), events: events, timeout: timeout)
        case .unixGC: return .unixGC
        case .pidfdSendSignal(let pidfd, let signal): return .pidfdSendSignal(pidfd: try fd(pidfd, "pidfd"), signal: signal)
        case .waitid(let pidfd, let noHang): return .waitid(pidfd: try fd(pidfd, "pidfd"), noHang: noHang)
        case .fork(let child): return .fork(child: try process(child))
        case .exec(let arguments, let environment):
            return .exec(arguments: try texts(arguments), environment: try variables(environment))
        case .exit(let status): return .exit(status: status)
        case .wait(let child): return .wait(child: try process(child))
        case .send(let socket, let fds, let data, let flags):
            let mappedSocket = try fd(socket, "socket")
            var mapped: [Other.Descriptor] = []
            for (index, value) in fds.enumerated() { mapped.append(try fd(value, "fds[\(index)]")) }
            return .send(socket: mappedSocket, fds: mapped, data: data, flags: flags)
        case .recv(let socket, let count, let room, let closeOnExec, let nonBlocking, let flags, let control):
            return .recv(socket: try fd(socket, "socket"), count: count, room: room, closeOnExec: closeOnExec,
                         nonBlocking: nonBlocking, flags: flags, control: control)
        case .pidfdOpen(let target): return .pidfdOpen(target: try process(target))
        case .pidfdGetfdThrough(let pidfd, let target, let value, let flags):
            return .pidfdGetfdThrough(pidfd: try fd(pidfd, "pidfd"), target: try process(target),
                                      fd: try fd(value, "fd", of: target), flags: flags)
        case .pidfdGetfd(let target, let value, let flags):
            let mappedTarget = try process(target)
            return .pidfdGetfd(target: mappedTarget, fd: try fd(value, "fd", of: target), flags: flags)
        case .listen(let where_, let type, let closeOnExec, let nonBlocking, let backlog):
            return .listen(address: try address(where_), type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking,
                           backlog: backlog)
        case .connect(let where_, let type, let closeOnExec, let nonBlocking):
            return .connect(address: try address(where_), type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .accept(let socket, let closeOnExec, let nonBlocking):
            return .accept(socket: try fd(socket, "socket"), closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .setrlimit(let nofile): return .setrlimit(nofile: nofile)
        case .dropCapability(let name): return .dropCapability(name: name)
        case .setDumpable(let dumpable): return .setDumpable(dumpable)
        case .reopen(let target, let value, let flags):
            let mappedTarget = try process(target)
            return .reopen(target: mappedTarget, fd: try fd(value, "fd", of: target), flags: flags)
        case .cloneFiles(let child): return .cloneFiles(child: try process(child))
        case .unshareFiles: return .unshareFiles
        case .launch(let program, let arguments, let environment, let listen, let acceptMode, let handover, let preserve, let stored):
            var sockets: [ListeningSocket<Other.Address>] = []
            for socket in listen { sockets.append(ListeningSocket(address: try address(socket.address), type: socket.type)) }
            return .launch(program: try text(program), arguments: try texts(arguments),
                           environment: try variables(environment), listen: sockets, acceptMode: acceptMode,
                           handover: handover, preserve: preserve, stored: try stored.map { (value) throws(Failure) in try fd(value, "stored", of: nil) })
        case .attach(let child): return .attach(child: try process(child))
        case .sendHeaders(let socket, let fds, let headers, let cmsgLength, let data):
            let mappedSocket = try fd(socket, "socket")
            var mapped: [Other.Descriptor] = []
            for (index, value) in fds.enumerated() { mapped.append(try fd(value, "fds[\(index)]")) }
            return .sendHeaders(socket: mappedSocket, fds: mapped, headers: headers, cmsgLength: cmsgLength, data: data)
        case .setsockopt(let socket, let option, let value):
            return .setsockopt(socket: try fd(socket, "socket"), option: option, value: value)
        case .getsockopt(let socket, let option): return .getsockopt(socket: try fd(socket, "socket"), option: option)
        case .ftruncate(let value, let length): return .ftruncate(fd: try fd(value, "fd"), length: length)
        case .signalfd(let mask, let closeOnExec, let nonBlocking):
            return .signalfd(mask: mask, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .timerfdCreate(let clock, let closeOnExec, let nonBlocking):
            return .timerfdCreate(clock: clock, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .inotifyInit(let closeOnExec, let nonBlocking):
            return .inotifyInit(closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .dupfdQuery(let value, let other):
            let mapped = try fd(value, "fd")
            return .dupfdQuery(fd: mapped, other: try fd(other, "other"))
        case .unshareNet: return .unshareNet
        case .socket(let type, let closeOnExec, let nonBlocking):
            return .socket(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .bind(let socket, let where_):
            let mapped = try fd(socket, "socket")
            return .bind(socket: mapped, address: try address(where_))
        case .sendto(let socket, let where_, let fds, let data):
            let mapped = try fd(socket, "socket")
            let target = try address(where_)
            var passing: [Other.Descriptor] = []
            for (index, value) in fds.enumerated() { passing.append(try fd(value, "fds[\(index)]")) }
            return .sendto(socket: mapped, address: target, fds: passing, data: data)
        case .recvfrom(let socket, let count, let room, let closeOnExec, let nonBlocking):
            return .recvfrom(socket: try fd(socket, "socket"), count: count, room: room, closeOnExec: closeOnExec,
                             nonBlocking: nonBlocking)
        }
    }

    /// Every descriptor the operation names, with where it sits.
    @inlinable public var descriptors: [(FD, DescriptorField<Process>)] {
        var found: [(FD, DescriptorField<Process>)] = []
        _ = map(descriptor: { (value: FD, field: DescriptorField<Process>) -> FD in found.append((value, field)); return value },
                process: { $0 }, address: { $0 }, text: { $0 }) as Operation<Naming>
        return found
    }
}
