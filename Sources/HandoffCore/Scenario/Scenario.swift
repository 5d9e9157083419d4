@_exported import HandoffProtocol

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

    /// `file:line:column`; just `file` for what concerns the file as a whole (line 0: it cannot be read),
    /// where "file:0:0" pointed at a place that does not exist.
    public var description: String { line > 0 ? "\(file):\(line):\(column)" : file }
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

extension Scenario {
    /// Every operation the scenario performs, loops included, in order.
    public var operations: [ScenarioOperation] {
        func collect(_ steps: [Step]) -> [ScenarioOperation] {
            steps.flatMap { step -> [ScenarioOperation] in
                if case .repeat(_, let inner) = step.action { return collect(inner) }
                return step.operation.map { [$0] } ?? []
            }
        }
        return collect(steps)
    }

    /// What the operations need from the system, by their declarations (each kind once, in first use).
    public var operationNeeds: [(OperationKind, SystemNeeds)] {
        var seen: Set<OperationKind> = []
        return operations.compactMap { operation in
            let needs = operation.declaration.needs
            guard seen.insert(operation.kind).inserted, needs != SystemNeeds() else { return nil }
            return (operation.kind, needs)
        }
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
    /// The least RLIMIT_NOFILE soft limit the scenario's numbers assume (the agents inherit the runner's).
    public var nofile: Int?
    /// Kernel behaviours probed by making the calls (SystemProbe.features), rather than inferred from a version.
    public var features: [String] = []
    /// Absolute paths outside its directory that the scenario's launchers write (a container runtime's /run
    /// and /sys/fs/cgroup): `--sandbox` makes exactly these writable too. Missing ones skip the scenario.
    public var writes: [String] = []

    public init(minimumKernel: KernelVersion? = nil, syscalls: [String] = [], capabilities: [String] = [],
                programs: [String] = [], nofile: Int? = nil) {
        self.minimumKernel = minimumKernel
        self.syscalls = syscalls
        self.capabilities = capabilities
        self.programs = programs
        self.nofile = nofile
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
    /// The process that performs the action; nil for `check` and `repeat`.
    public var process: String?
    public var action: StepAction
    /// The names `as:` gives the descriptors the operation produces, in the order of its outcome (nil: unnamed).
    public var binds: [String?]
    public var expect: Expectation
    /// Started without waiting for it to finish (it may block); its outcome is taken by a later `await`.
    public var background: Bool

    public init(location: SourceLocation, process: String?, action: StepAction, binds: [String?] = [],
                expect: Expectation = .init(), background: Bool = false) {
        self.location = location
        self.process = process
        self.action = action
        self.binds = binds
        self.expect = expect
        self.background = background
    }

    /// The operation the step performs, if it is one.
    public var operation: ScenarioOperation? {
        if case .perform(let operation) = action { return operation }
        return nil
    }
}

/// What a step does: an operation of a process, or one of the timeline's own steps.
public enum StepAction: Sendable {
    case perform(ScenarioOperation)
    /// Waits for the process's background step to finish and judges its outcome.
    case await
    /// `count` iterations of `steps`, run by the agents themselves without a round trip per step (each
    /// process runs its own steps of every iteration, concurrently with the others); judged once at the end.
    case `repeat`(count: Int, steps: [Step])
    case check(Check)

    /// The step's name as written in YAML.
    public var keyword: String {
        switch self {
        case .perform(let operation): return operation.kind.keyword
        case .await: return "await"
        case .repeat: return "repeat"
        case .check: return "check"
        }
    }
}

/// What the scenario author states about a step's outcome. Stated expectations are checked against the
/// kernel directly (not only against the model). With no `error`, the step is expected to succeed.
public struct Expectation: Sendable, Equatable {
    /// The expected errno by name (`EBADF`); nil means success is expected.
    public var error: String?
    /// Other errnos accepted as well (`error: [EPERM, ESRCH]`), where the kernel documents either.
    public var otherErrors: [String] = []
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
    /// getsockopt(peercred) and recv: the credentials expected (each part optional).
    public var credentials: ExpectedCredentials?
    /// recvfrom: the sender's address expected (`unnamed`, `{unix: path}`, `{abstract: name}`).
    public var from: SenderAddress?
    /// epoll_wait: the registrations expected to be reported, in any order (`[]`: none).
    public var ready: [ExpectedReady]?

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

/// `credentials: {pid: sender, uid: 0, gid: 0}`: a process name (or 0 for no process), uid and gid, each
/// optional.
public struct ExpectedCredentials: Sendable, Equatable, CustomStringConvertible {
    public var process: String?
    public var uid: UInt32?
    public var gid: UInt32?

    public init(process: String? = nil, uid: UInt32? = nil, gid: UInt32? = nil) {
        self.process = process
        self.uid = uid
        self.gid = gid
    }

    public func matches(_ observed: NamedCredentials?) -> Bool {
        guard let observed else { return false }
        return (process.map { $0 == observed.process } ?? true) && (uid.map { $0 == observed.uid } ?? true)
            && (gid.map { $0 == observed.gid } ?? true)
    }

    public var description: String {
        var parts = ["credentials"]
        if let process { parts.append("pid \(process)") }
        if let uid { parts.append("uid \(uid)") }
        if let gid { parts.append("gid \(gid)") }
        return parts.joined(separator: " ")
    }
}

/// One registration an epoll_wait step expects reported: `{fd: r, events: [in, hup]}`. The descriptor is the
/// number it was registered under, named in the acting process when the step runs (a number for one it has
/// closed since: the registration outlives the number while its description lives).
public struct ExpectedReady: Sendable, Equatable {
    public var fd: DescriptorRef
    public var events: Set<ReadyEvent>

    public init(fd: DescriptorRef, events: Set<ReadyEvent>) {
        self.fd = fd
        self.events = events
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
    /// RLIMIT_NOFILE's soft limit of the process when the step runs, plus an offset (`{limit: -1}` is the
    /// highest number a descriptor can have): scenarios about the limit do not hard-code the machine's.
    case limit(offset: Int32)

    public var description: String {
        switch self {
        case .name(let name): return name
        case .number(let number): return String(number)
        case .argument(let index): return "argv[\(index)]"
        case .limit(let offset): return offset == 0 ? "the limit" : "the limit \(offset < 0 ? "-" : "+") \(abs(offset))"
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

/// A piece of an exec argument: literal text or the number of a named descriptor, substituted when the
/// step runs (`"--fd={sock}"` in YAML).
public enum ArgumentPart: Sendable, Hashable {
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
        /// A token unique to this run of this scenario (its directory's name), so that names in shared
        /// name spaces - abstract unix addresses - never collide between runs on one host. Also allowed
        /// inside an abstract address: `{abstract: "svc-{@unique}"}`.
        case unique
        /// A free loopback TCP port chosen for this run of this scenario: for a launcher's arguments
        /// (`tcpserver 127.0.0.1 {@port} ...`) and, as `{tcp: "{@port}"}`, its `listen` and a `connect`.
        case port
    }
}

/// A socket address as a scenario writes it.
public enum AddressSpec: Sendable, Hashable {
    /// `{unix: path}`: a path in the scenario's directory.
    case unix(String)
    /// `{abstract: name}`.
    case abstract(String)
    /// `{tcp: 0}` in listen: 127.0.0.1 on an ephemeral (or the given) port.
    case tcpPort(UInt16)
    /// `{tcp: main.server}` in connect: the port a listening socket of the scenario was bound to.
    case tcpListener(QualifiedDescriptor)
    /// `{tcp: "{@port}"}` in listen and connect: the port `{@port}` stands for in this run.
    case tcpScenarioPort
}

/// An exec argument or environment value as written: text with placeholders (`"--fd={sock}"`), filled in
/// when the step runs.
public struct Template: Hashable, Sendable, CustomStringConvertible {
    public var parts: [ArgumentPart]

    public init(_ parts: [ArgumentPart]) { self.parts = parts }

    public var description: String {
        parts.map { part in
            switch part {
            case .text(let text): return text
            case .descriptor(let name): return "{\(name)}"
            case .builtin(let builtin): return "{@\(builtin.rawValue)}"
            }
        }.joined()
    }
}

/// How a scenario names things: descriptors by name, number or argv, processes by name, addresses as
/// written (a TCP address may name a listening socket), texts with placeholders.
public enum ScenarioNaming: OperationNaming {
    public typealias Descriptor = DescriptorRef
    public typealias Process = String
    public typealias Address = AddressSpec
    public typealias Text = Template
}

/// An operation as a scenario step states it.
public typealias ScenarioOperation = HandoffProtocol.Operation<ScenarioNaming>

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
    /// Every listed descriptor refers to one inode (fstat's st_dev and st_ino): one object, whatever the
    /// descriptions.
    public var sameInode: [QualifiedDescriptor] = []
    /// The exact seals of each descriptor's inode (F_GET_SEALS through /proc/PID/fd/N).
    public var seals: [QualifiedDescriptor: Set<MemfdSeal>] = [:]
    /// Fields of /proc/PID/fdinfo/N (`sigmask`, `clockid`, `eventfd-count`, `pos`...) by their exact text.
    public var fdinfo: [QualifiedDescriptor: [String: String]] = [:]

    public static func == (lhs: Check, rhs: Check) -> Bool {
        lhs.same == rhs.same && lhs.different == rhs.different && lhs.offsets == rhs.offsets
            && lhs.closeOnExec == rhs.closeOnExec && lhs.flags == rhs.flags && lhs.open == rhs.open
            && lhs.numbers == rhs.numbers && lhs.environment.keys == rhs.environment.keys
            && lhs.sameInode == rhs.sameInode && lhs.seals == rhs.seals && lhs.fdinfo == rhs.fdinfo
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
