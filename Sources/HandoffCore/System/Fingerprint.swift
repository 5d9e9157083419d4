import CHandoff
import Foundation
import Glibc

/// What a run ran on: enough to tell two runs' systems apart and to explain a skip or a difference.
/// In every report.json, and printed by `handoff env`.
public struct Fingerprint: Codable, Sendable {
    public struct Container: Codable, Sendable {
        /// Namespaces that differ from the initial ones (user, pid, uts, ipc, cgroup, time).
        public var namespaces: [String]
        public var cgroup: String
        public var dockerenv: Bool
        public var containerenv: Bool
        /// /proc/self/uid_map, trimmed.
        public var uidMap: String
        /// Whether any of the above says "container".
        public var likely: Bool
    }

    public var kernelRelease: String
    public var kernelVersion: String
    public var machine: String
    public var distribution: String
    public var container: Container
    /// Seccomp mode from /proc/self/status: 0 disabled, 1 strict, 2 filter.
    public var seccomp: Int
    public var noNewPrivileges: Bool
    /// Effective capabilities by name (libcap).
    public var capabilities: [String]
    public var securityModules: [String]
    public var nofileSoft: UInt64
    public var nofileHard: UInt64
    /// Each probe actually run: nil/absent message means it works; otherwise why not.
    public var features: [String: String]
    /// /proc/sys/kernel/tainted.
    public var taint: Int
    /// A user-space kernel (gVisor) and the sign of it; absent on Linux, whose uname is then the kernel's.
    public var sandbox: String?
    /// Virtual machine and emulation (absent in reports written before it was recorded).
    public var virtualization: Virtualization?

    /// `agentPath` lets probes that need a fork (CLONE_FILES) run in an agent; without it they are reported
    /// as not probed.
    public static func current(agentPath: String? = nil) -> Fingerprint {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        }
        let status = Observer.readSmallFile("/proc/self/status") ?? ""
        func statusValue(_ key: String) -> String? {
            status.split(separator: "\n").first { $0.hasPrefix(key + ":") }
                .map { $0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces) }
        }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Fingerprint(
            kernelRelease: field(name.release), kernelVersion: field(name.version), machine: field(name.machine),
            distribution: distribution(), container: container(),
            seccomp: Int(statusValue("Seccomp") ?? "") ?? -1, noNewPrivileges: statusValue("NoNewPrivs") == "1",
            capabilities: capabilities(),
            securityModules: (Observer.readSmallFile("/sys/kernel/security/lsm") ?? "")
                .split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty },
            nofileSoft: UInt64(limit.rlim_cur), nofileHard: UInt64(limit.rlim_max), features: features(agentPath: agentPath),
            taint: currentTaint(), sandbox: SystemProbe.sandbox, virtualization: Virtualization.current())
    }

    public static func currentTaint() -> Int {
        Int((Observer.readSmallFile("/proc/sys/kernel/tainted") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func distribution() -> String {
        for line in (Observer.readSmallFile("/etc/os-release") ?? "").split(separator: "\n")
        where line.hasPrefix("PRETTY_NAME=") {
            return line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return "unknown"
    }

    /// The initial namespaces have fixed inode numbers (include/linux/proc_ns.h); mnt and net do not.
    static let initialNamespaces: [(String, UInt64)] = [
        ("user", 0xEFFF_FFFD), ("pid", 0xEFFF_FFFC), ("uts", 0xEFFF_FFFE), ("ipc", 0xEFFF_FFFF),
        ("cgroup", 0xEFFF_FFFB), ("time", 0xEFFF_FFFA),
    ]

    static func container() -> Container {
        var differing: [String] = []
        for (name, initial) in initialNamespaces {
            var info = stat()
            if stat("/proc/self/ns/\(name)", &info) == 0, UInt64(info.st_ino) != initial { differing.append(name) }
        }
        let cgroup = (Observer.readSmallFile("/proc/self/cgroup") ?? "").split(separator: "\n")
            .first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) } ?? ""
        let uidMap = (Observer.readSmallFile("/proc/self/uid_map") ?? "").split(whereSeparator: \.isWhitespace)
            .joined(separator: " ")
        let dockerenv = access("/.dockerenv", F_OK) == 0
        let containerenv = access("/run/.containerenv", F_OK) == 0
        let likely = !differing.isEmpty || dockerenv || containerenv || uidMap != "0 0 4294967295"
        return Container(namespaces: differing, cgroup: cgroup, dockerenv: dockerenv, containerenv: containerenv,
                         uidMap: uidMap, likely: likely)
    }

    /// The effective capabilities among those the scenario format knows, in capability-number order.
    static func capabilities() -> [String] {
        ScenarioDecoder.knownCapabilities.map { ($0, handoff_capability_from_name($0)) }
            .filter { $0.1 >= 0 && handoff_has_capability($0.1) == 1 }
            .sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// Feature probes, each an actual call.
    static func features(agentPath: String?) -> [String: String] {
        var result: [String: String] = [:]
        result["CLONE_FILES"] = agentPath.map { SystemProbe.agentProbe("clone-files", agentPath: $0) }
            ?? "not probed (needs the agent)"
        for name in SystemProbe.knownSyscalls { result[name] = SystemProbe.syscallProblem(name) ?? "ok" }
        // F_DUPFD_QUERY (1027, Linux 6.10): 1 when both descriptors share a description.
        let query = handoff_fcntl_int(0, Linux.F_DUPFD_QUERY, 0)
        result["F_DUPFD_QUERY"] = query >= 0 ? "ok" : Errno.name(of: errno)
        result["MSG_CMSG_CLOEXEC"] = probeReceiveCloseOnExec()
        // What the model's predictions depend on (ReferenceModel.pidfdsReopen, .exitedKeepDumpability).
        result["pidfd reopen (pidfs)"] = SystemProbe.pidfdsReopen ? "ok" : "ENXIO"
        result["eventfd write of exactly 8 bytes"] = SystemProbe.eventfdWriteExact ? "ok" : "no (at least 8)"
        result["MSG_OOB on unix stream sockets"] = SystemProbe.unixOOB ? "ok" : "no (EOPNOTSUPP)"
        result["unix datagram send order"] = SystemProbe.unixDgramShutdownFirst
            ? "shutdown and autobind before the peer" : "the peer first (ENOTCONN)"
        result["epoll_wait check order"] = SystemProbe.epollWaitDescriptorFirst
            ? "the descriptor (EBADF), then maxevents" : "maxevents (EINVAL), then the descriptor"
        result["unix stream skb payload"] = SystemProbe.unixStreamSkbSplits
            ? "\(SystemProbe.unixStreamSkbPayload) bytes" : "\(maximumTransfer) or more (no split seen)"
        result["pidfd reopen with O_TRUNC"] = SystemProbe.pidfdReopenTruncErrno == 0 ? "succeeds"
            : Errno.name(of: SystemProbe.pidfdReopenTruncErrno)
        result["ftruncate of a pidfd"] = SystemProbe.pidfdFtruncateErrno == 0 ? "succeeds"
            : Errno.name(of: SystemProbe.pidfdFtruncateErrno)
        result["pread of a pidfd"] = SystemProbe.pidfdPreadErrno == 0 ? "succeeds" : Errno.name(of: SystemProbe.pidfdPreadErrno)
        result["SO_PEEK_OFF on TCP"] = SystemProbe.tcpPeekOffset ? "ok" : "EOPNOTSUPP"
        result["exited task keeps dumpability"] = agentPath.map {
            SystemProbe.exitedKeepDumpability(agentPath: $0) ? "ok" : "no (an exited task is not checked)"
        } ?? "not probed (needs the agent)"
        return result
    }

    /// Passes a descriptor to itself and receives it with MSG_CMSG_CLOEXEC: it must arrive close-on-exec.
    static func probeReceiveCloseOnExec() -> String {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            return "socketpair: \(Errno.name(of: errno))"
        }
        defer { close(ends[0]); close(ends[1]) }
        var passed = ends[0]
        var byte: UInt8 = 0
        guard handoff_send_fds(ends[0], &passed, 1, &byte, 1, 0) == 1 else { return "sendmsg: \(Errno.name(of: errno))" }
        var received: [Int32] = [-1, -1]
        var count: Int32 = 0
        var flags: Int32 = 0
        guard handoff_recv_fds(ends[1], &byte, 1, 1, Linux.MSG_CMSG_CLOEXEC, &received, 2, &count, &flags) >= 0,
            count == 1
        else { return "recvmsg: \(Errno.name(of: errno))" }
        defer { close(received[0]) }
        return handoff_fcntl_int(received[0], F_GETFD, 0) & FD_CLOEXEC != 0 ? "ok" : "ignored (descriptor arrived without close-on-exec)"
    }

    /// Text for `handoff env`.
    public var text: String {
        var lines: [String] = []
        lines.append("kernel:                   \(kernelRelease) (\(kernelVersion)) \(machine)")
        if let sandbox {
            lines.append("sandbox:                  \(sandbox): uname's release is not a Linux version; `requires: kernel` is not applied")
        }
        lines.append("distribution:             \(distribution)")
        lines.append("container:                \(container.likely ? "likely" : "no")"
            + (container.namespaces.isEmpty ? "" : " (namespaces: \(container.namespaces.joined(separator: ", ")))")
            + (container.dockerenv ? " /.dockerenv" : "") + (container.containerenv ? " /run/.containerenv" : ""))
        lines.append("cgroup:                   \(container.cgroup.isEmpty ? "/" : container.cgroup)")
        lines.append("uid_map:                  \(container.uidMap)")
        lines.append("seccomp:                  \(["disabled", "strict", "filter"].indices.contains(seccomp) ? ["disabled", "strict", "filter"][seccomp] : "unknown")"
            + (noNewPrivileges ? ", no_new_privs" : ""))
        lines.append("capabilities:             \(capabilities.count) effective" + (capabilities.contains("CAP_SYS_PTRACE") ? " (CAP_SYS_PTRACE held)" : " (no CAP_SYS_PTRACE)"))
        lines.append("LSMs:                     \(securityModules.isEmpty ? "none reported" : securityModules.joined(separator: ", "))")
        lines.append("RLIMIT_NOFILE:            \(nofileSoft) soft, \(nofileHard) hard")
        lines.append("taint:                    \(taint)")
        if let virtualization { lines.append("virtualization:           \(virtualization.text)") }
        for name in features.keys.sorted() {
            let label = "probe " + name + ":"
            lines.append(label.padding(toLength: max(26, label.count + 1), withPad: " ", startingAt: 0) + features[name]!)
        }
        return lines.joined(separator: "\n")
    }
}
