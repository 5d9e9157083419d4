// Process operations, declared once: the cases, their keywords and declarations, their wire fields and
// how their names map (Operation.swift and OperationDeclarations.swift dispatch here by family;
// docs/adding-an-operation.md is the recipe).

public enum ProcessOperation<Naming: OperationNaming>: Hashable, Sendable {
    public typealias FD = Naming.Descriptor
    public typealias Process = Naming.Process
    public typealias Text = Naming.Text

    /// Creates the child process `child`; it starts with a copy of the parent's table.
    case fork(child: Process)
    /// Re-executes the agent image with these arguments (argv[1...]) and extra environment variables.
    case exec(arguments: [Text], environment: [EnvironmentVariable<Text>])
    case exit(status: Int32)
    /// Reaps the child (which must have exited, unless the step runs in the background).
    case wait(child: Process)
    /// waitid(P_PIDFD, pidfd, WEXITED [| WNOHANG]): reaps the child `pidfd` refers to.
    case waitid(pidfd: FD, noHang: Bool)
    /// `flags` is raw (PIDFD_NONBLOCK) so that unknown bits (EINVAL) can be exercised.
    case pidfdOpen(target: Process, flags: UInt32)
    /// pidfd_getfd of `target`'s descriptor `fd` (a number in the target's table).
    case pidfdGetfd(target: Process, fd: FD, flags: UInt32)
    /// pidfd_getfd through a pidfd the caller holds (`pidfd_getfd` with a `pidfd:` key): `fd` is a number in
    /// `target`'s table, the process the scenario says the pidfd refers to (where `fd`'s names are read).
    case pidfdGetfdThrough(pidfd: FD, target: Process, fd: FD, flags: UInt32)
    /// pidfd_send_signal(2) of `signal` to the process `pidfd` refers to (no siginfo, flags 0).
    case pidfdSendSignal(pidfd: FD, signal: SentSignal)
    /// setrlimit(RLIMIT_NOFILE) of the soft limit; the hard limit stays.
    case setrlimit(nofile: UInt64)
    /// Removes a capability (`CAP_SYS_PTRACE`) from the effective, permitted and inheritable sets.
    case dropCapability(name: String)
    /// prctl(PR_SET_DUMPABLE).
    case setDumpable(Bool)
    /// clone(CLONE_FILES): the child `child` shares the caller's descriptor table.
    case cloneFiles(child: Process)
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

    @inlinable public var kind: ProcessOperationKind {
        switch self {
        case .fork: return .fork
        case .exec: return .exec
        case .exit: return .exit
        case .wait: return .wait
        case .waitid: return .waitid
        case .pidfdOpen: return .pidfdOpen
        case .pidfdGetfd: return .pidfdGetfd
        case .pidfdGetfdThrough: return .pidfdGetfd
        case .pidfdSendSignal: return .pidfdSendSignal
        case .setrlimit: return .setrlimit
        case .dropCapability: return .dropCapability
        case .setDumpable: return .setDumpable
        case .cloneFiles: return .cloneFiles
        case .launch: return .launch
        case .attach: return .attach
        }
    }
}

public enum ProcessOperationKind: String, CaseIterable, Sendable, Hashable {
    case fork
    case exec
    case exit
    case wait
    case waitid
    case pidfdOpen = "pidfd_open"
    case pidfdGetfd = "pidfd_getfd"
    case pidfdSendSignal = "pidfd_send_signal"
    case setrlimit
    case dropCapability = "drop_capability"
    case setDumpable = "set_dumpable"
    case cloneFiles = "clone_files"
    case launch
    case attach
}

extension OperationKind {
    public static let fork = OperationKind.processes(.fork)
    public static let exec = OperationKind.processes(.exec)
    public static let exit = OperationKind.processes(.exit)
    public static let wait = OperationKind.processes(.wait)
    public static let waitid = OperationKind.processes(.waitid)
    public static let pidfdOpen = OperationKind.processes(.pidfdOpen)
    public static let pidfdGetfd = OperationKind.processes(.pidfdGetfd)
    public static let pidfdSendSignal = OperationKind.processes(.pidfdSendSignal)
    public static let setrlimit = OperationKind.processes(.setrlimit)
    public static let dropCapability = OperationKind.processes(.dropCapability)
    public static let setDumpable = OperationKind.processes(.setDumpable)
    public static let cloneFiles = OperationKind.processes(.cloneFiles)
    public static let launch = OperationKind.processes(.launch)
    public static let attach = OperationKind.processes(.attach)
}

extension Operation {
    @inlinable public static func fork(child: Process) -> Operation {
        .processes(.fork(child: child))
    }
    @inlinable public static func exec(arguments: [Text], environment: [EnvironmentVariable<Text>]) -> Operation {
        .processes(.exec(arguments: arguments, environment: environment))
    }
    @inlinable public static func exit(status: Int32) -> Operation {
        .processes(.exit(status: status))
    }
    @inlinable public static func wait(child: Process) -> Operation {
        .processes(.wait(child: child))
    }
    @inlinable public static func waitid(pidfd: FD, noHang: Bool) -> Operation {
        .processes(.waitid(pidfd: pidfd, noHang: noHang))
    }
    @inlinable public static func pidfdOpen(target: Process, flags: UInt32 = 0) -> Operation {
        .processes(.pidfdOpen(target: target, flags: flags))
    }
    @inlinable public static func pidfdGetfd(target: Process, fd: FD, flags: UInt32) -> Operation {
        .processes(.pidfdGetfd(target: target, fd: fd, flags: flags))
    }
    @inlinable public static func pidfdGetfdThrough(pidfd: FD, target: Process, fd: FD, flags: UInt32) -> Operation {
        .processes(.pidfdGetfdThrough(pidfd: pidfd, target: target, fd: fd, flags: flags))
    }
    @inlinable public static func pidfdSendSignal(pidfd: FD, signal: SentSignal) -> Operation {
        .processes(.pidfdSendSignal(pidfd: pidfd, signal: signal))
    }
    @inlinable public static func setrlimit(nofile: UInt64) -> Operation {
        .processes(.setrlimit(nofile: nofile))
    }
    @inlinable public static func dropCapability(name: String) -> Operation {
        .processes(.dropCapability(name: name))
    }
    @inlinable public static func setDumpable(_ value0: Bool) -> Operation {
        .processes(.setDumpable(value0))
    }
    @inlinable public static func cloneFiles(child: Process) -> Operation {
        .processes(.cloneFiles(child: child))
    }
    @inlinable public static func launch(program: Text, arguments: [Text], environment: [EnvironmentVariable<Text>], listen: [ListeningSocket<Naming.Address>], acceptMode: Bool, handover: LauncherHandover, preserve: Int32? = nil, stored: FD? = nil) -> Operation {
        .processes(.launch(program: program, arguments: arguments, environment: environment, listen: listen, acceptMode: acceptMode, handover: handover, preserve: preserve, stored: stored))
    }
    @inlinable public static func attach(child: Process) -> Operation {
        .processes(.attach(child: child))
    }
}

extension ProcessOperation {
    /// The same operation under another naming (Operation.map).
    @_specialize(exported: true, where Naming == LoopNaming, Other == WireNaming, Failure == Never)
    @_specialize(exported: true, where Naming == WireNaming, Other == WireNaming, Failure == Never)
    @inlinable public func map<Other: OperationNaming, Failure: Error>(_ renaming: Renaming<Naming, Other, Failure>)
        throws(Failure) -> ProcessOperation<Other>
    {
        switch self {
        case .pidfdSendSignal(let pidfd, let signal): return .pidfdSendSignal(pidfd: try renaming.fd(pidfd, "pidfd"), signal: signal)
        case .waitid(let pidfd, let noHang): return .waitid(pidfd: try renaming.fd(pidfd, "pidfd"), noHang: noHang)
        case .fork(let child): return .fork(child: try renaming.process(child))
        case .exec(let arguments, let environment):
            return .exec(arguments: try renaming.texts(arguments), environment: try renaming.variables(environment))
        case .exit(let status): return .exit(status: status)
        case .wait(let child): return .wait(child: try renaming.process(child))
        case .pidfdOpen(let target, let flags): return .pidfdOpen(target: try renaming.process(target), flags: flags)
        case .pidfdGetfdThrough(let pidfd, let target, let value, let flags):
            return .pidfdGetfdThrough(pidfd: try renaming.fd(pidfd, "pidfd"), target: try renaming.process(target),
                                      fd: try renaming.fd(value, "fd", of: target), flags: flags)
        case .pidfdGetfd(let target, let value, let flags):
            let mappedTarget = try renaming.process(target)
            return .pidfdGetfd(target: mappedTarget, fd: try renaming.fd(value, "fd", of: target), flags: flags)
        case .setrlimit(let nofile): return .setrlimit(nofile: nofile)
        case .dropCapability(let name): return .dropCapability(name: name)
        case .setDumpable(let dumpable): return .setDumpable(dumpable)
        case .cloneFiles(let child): return .cloneFiles(child: try renaming.process(child))
        case .launch(let program, let arguments, let environment, let listen, let acceptMode, let handover, let preserve, let stored):
            var sockets: [ListeningSocket<Other.Address>] = []
            for socket in listen { sockets.append(ListeningSocket(address: try renaming.address(socket.address), type: socket.type)) }
            return .launch(program: try renaming.text(program), arguments: try renaming.texts(arguments),
                           environment: try renaming.variables(environment), listen: sockets, acceptMode: acceptMode,
                           handover: handover, preserve: preserve, stored: try stored.map { (value) throws(Failure) in try renaming.fd(value, "stored", of: nil) })
        case .attach(let child): return .attach(child: try renaming.process(child))
        }
    }
}

extension ProcessOperationKind {
    /// This operation's declaration (built once per process: OperationKind.declaration).
    var declared: OperationDeclaration {
        switch self {
        case .pidfdSendSignal:
            return OperationDeclaration(.processes(self), "pidfd_send_signal(2) to the process a pidfd refers to", [
                ArgumentDeclaration("pidfd", .descriptor, required: true),
                ArgumentDeclaration("signal", .keyword(SentSignal.allCases.map(\.rawValue)), required: true),
            ], repeatable: false, background: false, needs: SystemNeeds(syscalls: ["pidfd_open", "pidfd_send_signal"]),
               effect: .throughPidfd)
        case .waitid:
            return OperationDeclaration(.processes(self), "waitid(2) with P_PIDFD: reaps the child a pidfd refers to", [
                ArgumentDeclaration("pidfd", .descriptor, required: true),
                ArgumentDeclaration("flags", .flags(["nohang"])),
            ], repeatable: false, expectations: [.error, .result, .status], needs: SystemNeeds(syscalls: ["pidfd_open"]),
               effect: .throughPidfd)
        case .fork:
            return OperationDeclaration(.processes(self), "fork(2): a child named by `as` with a copy of the table", [], binds: .process,
                           repeatable: false, background: false, effect: .createsProcess)
        case .exec:
            return OperationDeclaration(.processes(self), "execve(2) of the agent itself, with arguments and extra environment", [
                ArgumentDeclaration("args", .texts), ArgumentDeclaration("env", .environment),
            ], repeatable: false, background: false, effect: .replacesImage)
        case .exit:
            return OperationDeclaration(.processes(self), "_exit(2)", [ArgumentDeclaration("status", .integer(0...255), default: "0")],
                           repeatable: false, background: false, effect: .endsProcess)
        case .wait:
            return OperationDeclaration(.processes(self), "waitpid(2) of a child", [ArgumentDeclaration("child", .process, required: true)],
                           repeatable: false, expectations: [.error, .result, .status], effect: .reapsChild)
        case .pidfdOpen:
            return OperationDeclaration(.processes(self), "pidfd_open(2) of a process; `nonblock` is PIDFD_NONBLOCK", [
                ArgumentDeclaration("process", .process, required: true),
                ArgumentDeclaration("flags", .flagsOrRaw(["nonblock"])),
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["pidfd_open"]))
        case .pidfdGetfd:
            return OperationDeclaration(.processes(self), "pidfd_getfd(2): a copy of another process's descriptor", [
                ArgumentDeclaration("process", .process, required: true),
                ArgumentDeclaration("fd", .descriptor, required: true),
                ArgumentDeclaration("flags", .integer(0...Int64(UInt32.max)), default: "0"),
                ArgumentDeclaration("pidfd", .descriptor),
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["pidfd_open", "pidfd_getfd"]))
        case .setrlimit:
            return OperationDeclaration(.processes(self), "setrlimit(2) of RLIMIT_NOFILE's soft limit",
                           [ArgumentDeclaration("nofile", .integer(0...Int64(Int32.max)), required: true)],
                           repeatable: false)
        case .dropCapability:
            return OperationDeclaration(.processes(self), "drops a capability from the effective, permitted and inheritable sets",
                           [ArgumentDeclaration("name", .string, required: true)], repeatable: false)
        case .setDumpable:
            // The runner reads a non-dumpable process's table from /proc only with CAP_SYS_PTRACE
            // (ptrace_may_access): without it, in a container's default set, the scenario cannot be observed.
            return OperationDeclaration(.processes(self), "prctl(PR_SET_DUMPABLE)", [ArgumentDeclaration("value", .bool, required: true)],
                           repeatable: false, needs: SystemNeeds(capabilities: ["CAP_SYS_PTRACE"]))
        case .cloneFiles:
            return OperationDeclaration(.processes(self), "clone(CLONE_FILES): a child named by `as` sharing the table", [], binds: .process,
                           repeatable: false, background: false, effect: .createsProcess)
        case .launch:
            return OperationDeclaration(.processes(self), "execve(2) of a launcher under test, held to its hand-over protocol (LISTEN_FDS, UCSPI, inetd, inherit)", [
                ArgumentDeclaration("program", .string, required: true), ArgumentDeclaration("args", .texts),
                ArgumentDeclaration("env", .environment), ArgumentDeclaration("listen", .sockets),
                ArgumentDeclaration("accept", .bool, default: "false"),
                ArgumentDeclaration("handover", .keyword(LauncherHandover.allCases.map(\.rawValue)), default: "listen-fds"),
                ArgumentDeclaration("preserve", .integer(0...Int64(Int32.max))), ArgumentDeclaration("stored", .descriptor),
            ], repeatable: false, background: false, expectations: [], effect: .launches)
        case .attach:
            return OperationDeclaration(.processes(self), "adopts the next agent the launcher started, named by `as`", [], binds: .process,
                           repeatable: false, background: false, expectations: [], effect: .attaches)
        }
    }
}

extension ProcessOperation where Naming.Descriptor: WireDescriptor, Naming.Process == ProcessHandle,
    Naming.Address == SocketAddress, Naming.Text == String
{
    /// This operation's fields in its request (Operation.encoded).
    func encode(into message: inout WireMessage) {
        switch self {
        case .pidfdSendSignal(let pidfd, let signal):
            message.setDescriptor("fd", pidfd)
            message.set("sig", signal.linux)
        case .waitid(let pidfd, let noHang):
            message.setDescriptor("fd", pidfd)
            message.set("flags", noHang ? Linux.WNOHANG : 0)
        case .fork, .cloneFiles, .attach:
            break
        case .exec(let arguments, let variables):
            message.set("args", byteLists: arguments.map { Array($0.utf8) })
            message.setEnvironment(variables)
        case .exit(let status):
            message.set("status", status)
        case .wait(let child):
            message.set("pid", child.pid)
        case .pidfdOpen(let target, let flags):
            message.set("pid", target.pid)
            message.set("flags", Int64(flags))
        case .pidfdGetfd(let target, let value, let flags):
            message.set("pid", target.pid)
            message.setDescriptor("fd", value)
            message.set("flags", Int64(flags))
            message.set("tctl", target.channel)
        case .pidfdGetfdThrough(let pidfd, let target, let value, let flags):
            message.set("pid", target.pid)
            message.setDescriptor("fd", value)
            message.set("flags", Int64(flags))
            message.set("tctl", target.channel)
            message.setDescriptor("pidfd", pidfd)
        case .setrlimit(let nofile):
            message.set("nofile", nofile)
        case .dropCapability(let name):
            message.setText("name", name)
        case .setDumpable(let dumpable):
            message.set("value", dumpable ? 1 : 0)
        case .launch(let program, let arguments, let variables, _, _, _, _, _):
            // Only what the agent needs to execve; the sockets are the runner's and the model's business.
            message.setText("path", program)
            message.set("args", byteLists: arguments.map { Array($0.utf8) })
            message.setEnvironment(variables)
        }
    }

    /// The operation a request of this family asks for (Operation.decode); what is malformed is in
    /// `request.fields.problem`.
    static func decode(_ kind: ProcessOperationKind, _ request: inout RequestReader<FD>) -> ProcessOperation {
        let operation: ProcessOperation
        switch kind {
        case .pidfdSendSignal:
            let pidfd = request.fd("fd")
            operation = .pidfdSendSignal(pidfd: pidfd, signal: request.word("sig", SentSignal.init(linux:), or: .zero))
        case .waitid:
            let pidfd = request.fd("fd")
            operation = .waitid(pidfd: pidfd, noHang: request.fields.int32("flags") & Linux.WNOHANG != 0)
        case .fork:
            operation = .fork(child: .new)
        case .exec:
            operation = .exec(arguments: request.fields.texts("args"), environment: request.environment())
        case .exit:
            operation = .exit(status: request.fields.int32("status"))
        case .wait:
            operation = .wait(child: request.process())
        case .pidfdOpen:
            // `flags` absent: 0 (a runner from before it was a field).
            operation = .pidfdOpen(target: request.process(),
                                   flags: UInt32(truncatingIfNeeded: request.fields.int64("flags", default: 0)))
        case .pidfdGetfd:
            let target = request.process()
            let flags = UInt32(truncatingIfNeeded: request.fields.int64("flags"))
            if request.message["pidfd"] != nil {
                operation = .pidfdGetfdThrough(pidfd: request.fd("pidfd"), target: target, fd: request.fd("fd"), flags: flags)
            } else {
                operation = .pidfdGetfd(target: target, fd: request.fd("fd"), flags: flags)
            }
        case .setrlimit:
            operation = .setrlimit(nofile: UInt64(bitPattern: request.fields.int64("nofile")))
        case .dropCapability:
            operation = .dropCapability(name: request.fields.text("name"))
        case .setDumpable:
            operation = .setDumpable(request.fields.int32("value") != 0)
        case .cloneFiles:
            operation = .cloneFiles(child: .new)
        case .launch:
            operation = .launch(program: request.fields.text("path"), arguments: request.fields.texts("args"), environment: request.environment(),
                                listen: [], acceptMode: false, handover: .listenFDs)
        case .attach:
            request.refusal = ProtocolError("attach is the runner's, never sent to an agent")
            operation = .attach(child: ProcessHandle(pid: -1, channel: -1))
        }
        return operation
    }
}
