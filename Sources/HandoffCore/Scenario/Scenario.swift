// The scenario format as data: what ScenarioParser produces and the runner executes.
// docs/scenarios.md describes the YAML that maps onto these types.

/// A place in a scenario file (1-based line and column), carried by every step and every error.
public struct SourceLocation: Hashable, Codable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

public struct Scenario: Sendable {
    /// The scenario's path relative to the scenarios root, without `.yaml` (e.g. `scm-rights/basic`).
    public var name: String
    /// The file as given on the command line or found under the root.
    public var file: String
    public var summary: String
    public var tags: [String]
    public var requires: Requirements
    /// Per-scenario timeout in seconds; nil means the run's default.
    public var timeout: Double?
    /// The longest timeout a scenario or a run may ask for: a day (and so a finite, countable deadline).
    public static let maximumTimeout: Double = 86_400
    public var steps: [Step]
    /// The matrix combination this case runs with (empty without `matrix:`), in declaration order.
    public var parameters: [(key: String, value: String)] = []

    public init(name: String, file: String, summary: String, tags: [String] = [], requires: Requirements = .init(),
                timeout: Double? = nil, steps: [Step]) {
        self.name = name
        self.file = file
        self.summary = summary
        self.tags = tags
        self.requires = requires
        self.timeout = timeout
        self.steps = steps
    }
}

/// What the running system must offer; anything missing makes the scenario SKIP with the reason.
public struct Requirements: Sendable, Equatable {
    /// Minimum kernel release, e.g. (5, 6).
    public var minimumKernel: KernelVersion?
    /// Syscalls probed on the running system: kcmp, pidfd_open, pidfd_getfd, close_range, memfd_create.
    public var syscalls: [String]
    /// Capabilities the runner must hold, by name: `CAP_SYS_PTRACE`.
    public var capabilities: [String]
    /// Programs that must be found in PATH (launchers under test).
    public var programs: [String]

    public init(minimumKernel: KernelVersion? = nil, syscalls: [String] = [], capabilities: [String] = [],
                programs: [String] = []) {
        self.minimumKernel = minimumKernel
        self.syscalls = syscalls
        self.capabilities = capabilities
        self.programs = programs
    }
}

public struct KernelVersion: Comparable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses the leading `X.Y[.Z]` of a release string such as `6.18.44-fc-v657`.
    public init?(release: String) {
        let numeric = release.prefix { $0.isNumber || $0 == "." }
        let parts = numeric.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return nil }
        self.init(parts[0], parts[1], parts.count > 2 ? parts[2] : 0)
    }

    public static func < (lhs: KernelVersion, rhs: KernelVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }
}

/// One line of the timeline.
public struct Step: Sendable {
    /// Where the step's key (`main.open`) is.
    public var location: SourceLocation
    /// The process that performs the action; nil for `check`.
    public var process: String?
    public var action: Action
    public var expect: Expectation
    /// Started without waiting for it to finish (it may block); its outcome is taken by a later `await`.
    public var background: Bool

    public init(location: SourceLocation, process: String?, action: Action, expect: Expectation = .init(),
                background: Bool = false) {
        self.location = location
        self.process = process
        self.action = action
        self.expect = expect
        self.background = background
    }
}

/// What the scenario author states about a step's outcome. Stated expectations are checked against the
/// kernel directly (not only against the model). With no `error`, the step is expected to succeed.
public struct Expectation: Sendable, Equatable {
    /// The expected errno by name (`EBADF`); nil means success is expected.
    public var error: String?
    /// The expected return value.
    public var result: Int64?
    /// Bytes a read or recv is expected to return.
    public var data: [UInt8]?
    /// recv: how many descriptors are expected to arrive.
    public var received: Int?
    /// recv: whether MSG_CTRUNC is expected.
    public var truncated: Bool?
    /// wait: the expected exit status.
    public var status: Int32?

    public init(error: String? = nil, result: Int64? = nil, data: [UInt8]? = nil, received: Int? = nil,
                truncated: Bool? = nil, status: Int32? = nil) {
        self.error = error
        self.result = result
        self.data = data
        self.received = received
        self.truncated = truncated
        self.status = status
    }
}

/// A descriptor as a scenario names it inside one process.
public enum DescriptorRef: Hashable, Sendable, CustomStringConvertible {
    /// A name bound by an earlier `as:`. Names follow their descriptors across fork and exec.
    case name(String)
    /// A literal descriptor number.
    case number(Int32)
    /// The number the process's current image received as argv[index] (after an `exec` with arguments).
    case argument(Int)

    public var description: String {
        switch self {
        case .name(let name): return name
        case .number(let number): return String(number)
        case .argument(let index): return "argv[\(index)]"
        }
    }
}

/// A descriptor in a named process, written `process.name` in check steps (`main.file`, `peer.3`).
public struct QualifiedDescriptor: Hashable, Sendable, CustomStringConvertible {
    public var process: String
    public var descriptor: DescriptorRef

    public init(process: String, descriptor: DescriptorRef) {
        self.process = process
        self.descriptor = descriptor
    }

    public var description: String { "\(process).\(descriptor)" }
}

public enum SocketType: String, Sendable, CaseIterable {
    case stream, dgram, seqpacket
}

public enum Whence: String, Sendable, CaseIterable {
    case set, cur, end
}

/// Flags on `open`, by their lower-case names without `O_`.
public enum OpenFlag: String, Sendable, CaseIterable {
    case rdonly, wronly, rdwr, creat, excl, trunc, append, nonblock, cloexec
    /// O_PATH: a descriptor that names a file without opening it for I/O.
    case path
}

/// File status flags that F_SETFL can change and the oracle compares.
public enum StatusFlag: String, Sendable, CaseIterable {
    case append, nonblock
}

public enum FcntlCommand: Sendable, Equatable {
    case dupfd(minimum: Int32)
    case dupfdCloexec(minimum: Int32)
    case getfd
    case setfd(closeOnExec: Bool)
    case getfl
    case setfl(Set<StatusFlag>)
}

/// A piece of an exec argument: literal text or the number of a named descriptor, substituted when the
/// step runs (`"--fd={sock}"` in YAML).
public enum ArgumentPart: Sendable, Equatable {
    case text(String)
    case descriptor(String)
    /// `{@pid}`: the acting process's pid.
    case builtin(Builtin)

    public enum Builtin: String, Sendable, CaseIterable {
        /// The acting process's pid.
        case pid
        /// The handoff-agent executable (for a launcher to start).
        case agent
        /// `HANDOFF_CONTROL_SOCKET=PATH`: what an agent started by a launcher needs in its environment.
        case control
        /// The scenario's private directory (absolute).
        case dir
    }
}

public enum Action: Sendable {
    case open(path: String, flags: Set<OpenFlag>, mode: UInt32, as: String?)
    case pipe(closeOnExec: Bool, nonBlocking: Bool, as: (read: String, write: String))
    case socketpair(type: SocketType, closeOnExec: Bool, nonBlocking: Bool, as: (String, String))
    case memfd(name: String, closeOnExec: Bool, as: String?)
    case eventfd(initial: UInt32, closeOnExec: Bool, nonBlocking: Bool, as: String?)
    case dup(fd: DescriptorRef, as: String?)
    case dup2(fd: DescriptorRef, target: DescriptorRef, as: String?)
    case dup3(fd: DescriptorRef, target: DescriptorRef, closeOnExec: Bool, flags: Int32?, as: String?)
    case fcntl(fd: DescriptorRef, command: FcntlCommand, as: String?)
    case close(fd: DescriptorRef)
    /// `last` nil means ~0U (to the end of the table).
    case closeRange(first: UInt32, last: UInt32?, closeOnExec: Bool, unshare: Bool)
    case lseek(fd: DescriptorRef, offset: Int64, whence: Whence)
    case read(fd: DescriptorRef, count: Int)
    case write(fd: DescriptorRef, data: [UInt8])
    /// Creates the child process named `as`; it starts with a copy of the parent's table and names.
    case fork(as: String)
    /// Re-executes the agent image with these arguments (argv[1...]) and extra environment variables.
    case exec(arguments: [[ArgumentPart]], environment: [EnvironmentEntry])
    case exit(status: Int32)
    /// Reaps the named child (which must have exited).
    case wait(child: String)
    case send(socket: DescriptorRef, fds: [DescriptorRef], data: [UInt8])
    /// `room`: the control buffer is CMSG_SPACE(room * sizeof(int)) bytes; 0 means no control buffer.
    case recv(socket: DescriptorRef, count: Int, room: Int, closeOnExec: Bool, nonBlocking: Bool, as: [String])
    case pidfdOpen(target: String, as: String?)
    case pidfdGetfd(target: String, fd: DescriptorRef, flags: UInt32, as: String?)
    /// socket + bind + listen.
    case listen(address: AddressSpec, type: SocketType, closeOnExec: Bool, nonBlocking: Bool, backlog: Int32, as: String?)
    /// socket + connect.
    case connect(address: AddressSpec, type: SocketType, closeOnExec: Bool, nonBlocking: Bool, as: String?)
    case accept(socket: DescriptorRef, closeOnExec: Bool, nonBlocking: Bool, as: String?)
    case setrlimit(nofile: UInt64)
    case dropCapability(name: String)
    case setDumpable(Bool)
    /// open("/proc/PID/fd/N") of `target`'s descriptor `fd`.
    case reopen(target: String, fd: DescriptorRef, flags: Set<OpenFlag>, as: String?)
    /// clone(CLONE_FILES): the child `as` shares this process's descriptor table.
    case cloneFiles(as: String)
    case unshareFiles
    /// The process execs a launcher under test (e.g. systemd-socket-activate); from then on it is not an agent.
    case launch(Launch)
    /// Adopts the next agent the launcher started (it reaches the runner through `{@control}`) as `as`.
    case attach(as: String)
    /// Waits for the process's background step to finish and judges its outcome.
    case await
    /// `count` iterations of `steps`, run by the agents themselves without a round trip per step (each
    /// process runs its own steps of every iteration, concurrently with the others); judged once at the end.
    case `repeat`(count: Int, steps: [Step])
    case check(Check)
}

/// A launcher under test and the contract it is held to.
public struct Launch: Sendable, Equatable {
    /// The program: a path, or a name looked up in PATH.
    public var program: String
    /// argv[1...]; placeholders `{@agent}`, `{@control}`, `{@dir}` and `{@pid}` are filled in.
    public var arguments: [[ArgumentPart]]
    public var environment: [EnvironmentEntry]
    /// The sockets the launcher listens on, in the order it passes them (LISTEN_FDS from 3).
    public var listen: [(address: AddressSpec, type: SocketType)]
    /// Whether the launcher accepts each connection and starts one service per connection (connection at 3).
    public var acceptMode: Bool

    public init(program: String, arguments: [[ArgumentPart]], environment: [EnvironmentEntry],
                listen: [(address: AddressSpec, type: SocketType)], acceptMode: Bool) {
        self.program = program
        self.arguments = arguments
        self.environment = environment
        self.listen = listen
        self.acceptMode = acceptMode
    }

    public static func == (lhs: Launch, rhs: Launch) -> Bool {
        lhs.program == rhs.program && lhs.arguments == rhs.arguments && lhs.environment == rhs.environment
            && lhs.acceptMode == rhs.acceptMode && lhs.listen.count == rhs.listen.count
            && zip(lhs.listen, rhs.listen).allSatisfy { $0.address == $1.address && $0.type == $1.type }
    }
}

/// A socket address as a scenario writes it.
public enum AddressSpec: Sendable, Equatable {
    /// `{unix: path}`: a path in the scenario's directory.
    case unix(String)
    /// `{abstract: name}`.
    case abstract(String)
    /// `{tcp: 0}` in listen: 127.0.0.1 on an ephemeral (or the given) port.
    case tcpPort(UInt16)
    /// `{tcp: main.server}` in connect: the port a listening socket of the scenario was bound to.
    case tcpListener(QualifiedDescriptor)
}

/// `NAME: value` for exec's environment; the value may use placeholders like an argument.
public struct EnvironmentEntry: Sendable, Equatable {
    public var name: String
    public var value: [ArgumentPart]

    public init(name: String, value: [ArgumentPart]) {
        self.name = name
        self.value = value
    }
}

/// Explicit assertions, checked against the kernel's observed state directly.
public struct Check: Sendable, Equatable {
    /// Every listed descriptor refers to one open file description.
    public var same: [QualifiedDescriptor]
    /// The listed descriptors refer to pairwise different open file descriptions.
    public var different: [QualifiedDescriptor]
    public var offsets: [QualifiedDescriptor: Int64]
    public var closeOnExec: [QualifiedDescriptor: Bool]
    /// The exact status flags (append, nonblock) of each descriptor's description.
    public var flags: [QualifiedDescriptor: Set<StatusFlag>]
    /// The exact set of open descriptors of a process (names or numbers).
    public var open: [String: [DescriptorRef]]
    /// The number a named descriptor has.
    public var numbers: [QualifiedDescriptor: Int32]
    /// Environment variables of a process's current image: the exact value (placeholders allowed), or nil
    /// for "not set".
    public var environment: [String: [(name: String, value: [ArgumentPart]?)]] = [:]

    public static func == (lhs: Check, rhs: Check) -> Bool {
        lhs.same == rhs.same && lhs.different == rhs.different && lhs.offsets == rhs.offsets
            && lhs.closeOnExec == rhs.closeOnExec && lhs.flags == rhs.flags && lhs.open == rhs.open
            && lhs.numbers == rhs.numbers && lhs.environment.keys == rhs.environment.keys
    }

    public init(same: [QualifiedDescriptor] = [], different: [QualifiedDescriptor] = [],
                offsets: [QualifiedDescriptor: Int64] = [:], closeOnExec: [QualifiedDescriptor: Bool] = [:],
                flags: [QualifiedDescriptor: Set<StatusFlag>] = [:], open: [String: [DescriptorRef]] = [:],
                numbers: [QualifiedDescriptor: Int32] = [:]) {
        self.same = same
        self.different = different
        self.offsets = offsets
        self.closeOnExec = closeOnExec
        self.flags = flags
        self.open = open
        self.numbers = numbers
    }
}

extension Action {
    /// The operation's name as written in YAML.
    public var keyword: String {
        switch self {
        case .open: return "open"
        case .pipe: return "pipe"
        case .socketpair: return "socketpair"
        case .memfd: return "memfd"
        case .eventfd: return "eventfd"
        case .dup: return "dup"
        case .dup2: return "dup2"
        case .dup3: return "dup3"
        case .fcntl: return "fcntl"
        case .close: return "close"
        case .closeRange: return "close_range"
        case .lseek: return "lseek"
        case .read: return "read"
        case .write: return "write"
        case .fork: return "fork"
        case .exec: return "exec"
        case .exit: return "exit"
        case .wait: return "wait"
        case .send: return "send"
        case .recv: return "recv"
        case .pidfdOpen: return "pidfd_open"
        case .pidfdGetfd: return "pidfd_getfd"
        case .listen: return "listen"
        case .connect: return "connect"
        case .accept: return "accept"
        case .setrlimit: return "setrlimit"
        case .dropCapability: return "drop_capability"
        case .setDumpable: return "set_dumpable"
        case .reopen: return "reopen"
        case .cloneFiles: return "clone_files"
        case .unshareFiles: return "unshare_files"
        case .launch: return "launch"
        case .attach: return "attach"
        case .await: return "await"
        case .repeat: return "repeat"
        case .check: return "check"
        }
    }
}
