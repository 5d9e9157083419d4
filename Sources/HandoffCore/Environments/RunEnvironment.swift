import Foundation

/// Where `handoff run --in ENV` runs the suite: the runner starts itself again inside the environment
/// (a namespace, a sandbox, an OCI container, gVisor) and brings the reports back, so that the report's
/// fingerprint is the inside one.
public enum EnvironmentKind: String, CaseIterable, Codable, Sendable {
    /// A child runner on the host, no sandbox: the baseline, with `--drop-cap` and `--nofile` applied.
    case host
    /// `unshare --user --map-root-user --pid --fork --mount-proc`: new user, pid and mount namespaces.
    case userns
    /// bubblewrap `--unshare-all`, host / read-only, private /dev, /proc and a tmpfs /tmp.
    case bwrap
    /// OCI runtimes on a bundle handoff builds (config.json from runc's defaults).
    case runc, crun
    /// gVisor's runsc on the same bundle, ptrace platform, no network but loopback.
    case runsc

    /// The program each needs on PATH, and the Debian package that has it (`make environments`).
    public var program: (name: String, package: String)? {
        switch self {
        case .host: return nil
        case .userns: return ("unshare", "util-linux")
        case .bwrap: return ("bwrap", "bubblewrap")
        case .runc: return ("runc", "runc")
        case .crun: return ("crun", "crun")
        case .runsc: return ("runsc", "runsc")
        }
    }

    /// Whether it runs an OCI bundle (a rootfs of its own, config.json).
    public var isOCI: Bool { self == .runc || self == .crun || self == .runsc }
}

/// The environment and its options, validated: `--in`, `--seccomp-deny`, `--drop-cap`, `--nofile`.
public struct RunEnvironment: Codable, Sendable, Equatable {
    public var name: EnvironmentKind
    /// System calls that fail with EPERM (a seccomp profile in config.json; runc and crun).
    public var seccompDeny: [String]
    /// Capabilities removed from the bounding set (and every other set), CAP_ names.
    public var dropCapabilities: [String]
    /// RLIMIT_NOFILE, soft and hard; nil keeps the environment's own (1024 in runc, crun and runsc's
    /// defaults, the caller's elsewhere).
    public var nofile: Int?

    public init(name: EnvironmentKind, seccompDeny: [String] = [], dropCapabilities: [String] = [], nofile: Int? = nil) {
        self.name = name
        self.seccompDeny = seccompDeny
        self.dropCapabilities = dropCapabilities
        self.nofile = nofile
    }

    /// What the options mean where, and why not elsewhere:
    /// - seccomp: runc and crun load the profile from config.json. bwrap takes only a compiled BPF program
    ///   and runsc 20221219 ignores linux.seccomp unless `--oci-seccomp`, which this one lacks; rather than a
    ///   profile that silently does nothing, the option is refused there.
    public static let seccompEnvironments: Set<EnvironmentKind> = [.runc, .crun]

    /// The largest `--nofile`: Linux's default fs.nr_open.
    public static let maximumNofile = 1 << 20

    /// Parses and checks the options; every message names the option and what would be accepted.
    public static func parse(name: String, seccompDeny: [String], dropCapabilities: [String], nofile: Int?)
        -> Result<RunEnvironment, EnvironmentError>
    {
        guard let kind = EnvironmentKind(rawValue: name) else {
            return .failure(.usage("--in must be one of \(EnvironmentKind.allCases.map(\.rawValue).joined(separator: ", ")), not '\(name)'"))
        }
        let syscalls = seccompDeny.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if !syscalls.isEmpty && !seccompEnvironments.contains(kind) {
            return .failure(.usage("--seccomp-deny applies to --in runc and --in crun (a seccomp profile in config.json), not \(kind.rawValue)"))
        }
        for call in syscalls where call.isEmpty || !call.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) || !call.first!.isLetter {
            return .failure(.usage("--seccomp-deny takes system call names (kcmp,pidfd_getfd), not '\(call)'"))
        }
        var capabilities: [String] = []
        for text in dropCapabilities.flatMap({ $0.split(separator: ",").map(String.init) }) {
            let upper = text.trimmingCharacters(in: .whitespaces).uppercased()
            let name = upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
            guard Self.capabilityNames.contains(name) else {
                return .failure(.usage("--drop-cap: unknown capability '\(text)' (e.g. CAP_SYS_PTRACE or sys_ptrace)"))
            }
            if !capabilities.contains(name) { capabilities.append(name) }
        }
        if let nofile, !(1...maximumNofile).contains(nofile) {
            return .failure(.usage("--nofile must be between 1 and \(maximumNofile), not \(nofile)"))
        }
        // The runner itself needs a few dozen descriptors and the agents' channel sits at 1023 or below.
        if let nofile, nofile < 64 {
            return .failure(.usage("--nofile \(nofile) leaves the runner no room: at least 64 (scenarios lower their own limits with setrlimit)"))
        }
        var unique: [String] = []
        for call in syscalls where !unique.contains(call) { unique.append(call) }
        return .success(RunEnvironment(name: kind, seccompDeny: unique, dropCapabilities: capabilities, nofile: nofile))
    }

    /// Linux's capabilities by name (include/uapi/linux/capability.h), in number order.
    public static let capabilityNames = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// `runc`, `runc+seccomp(kcmp,pidfd_getfd)`, `bwrap-drop(CAP_SYS_PTRACE)`, `crun,nofile=20000`: a label.
    public var label: String {
        var text = name.rawValue
        if !seccompDeny.isEmpty { text += "+seccomp(\(seccompDeny.joined(separator: ",")))" }
        if !dropCapabilities.isEmpty { text += "-cap(\(dropCapabilities.joined(separator: ",")))" }
        if let nofile { text += ",nofile=\(nofile)" }
        return text
    }
}

/// What report.json records about `--in` (environment.runIn): the environment and its options, the
/// runtime's version, and the outer runner's timings.
public struct RunInRecord: Codable, Sendable, Equatable {
    public var name: String
    public var seccompDeny: [String]
    public var dropCapabilities: [String]
    public var nofile: Int?
    /// `runc --version`'s first line and the like; nil for host.
    public var runtime: String?
    /// Building the rootfs or bundle, seconds.
    public var setupSeconds: Double
    /// From starting the environment to its end, seconds (the suite's own time is durationSeconds).
    public var wallSeconds: Double

    public init(_ environment: RunEnvironment, runtime: String?, setupSeconds: Double, wallSeconds: Double) {
        name = environment.name.rawValue
        seccompDeny = environment.seccompDeny
        dropCapabilities = environment.dropCapabilities
        nofile = environment.nofile
        self.runtime = runtime
        self.setupSeconds = setupSeconds
        self.wallSeconds = wallSeconds
    }
}

public enum EnvironmentError: Error, CustomStringConvertible, Equatable {
    /// A bad option: exit 2 before anything is built.
    case usage(String)
    /// The environment cannot run here (its program is missing, it refuses to start): exit 2, with why.
    case unavailable(environment: String, reason: String)
    /// Building the bundle or bringing the reports back failed: the harness's fault, never the kernel's.
    case harness(String)

    public var description: String {
        switch self {
        case .usage(let text): return text
        case .unavailable(let environment, let reason): return "environment \(environment) is unavailable: \(reason)"
        case .harness(let text): return text
        }
    }
}
