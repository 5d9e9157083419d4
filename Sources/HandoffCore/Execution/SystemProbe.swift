import CHandoff
import Foundation
import Glibc

/// What the running system offers, probed by actually making the calls.
public enum SystemProbe {
    public static var kernelRelease: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.release) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
    }

    public static var machine: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.machine) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
    }

    /// A probe that needs a fork, run by the agent (`--probe NAME`): the runner itself never forks.
    public static func agentProbe(_ name: String, agentPath: String) -> String {
        var output: [Int32] = [-1, -1]
        guard pipe(&output) == 0 else { return "pipe: \(Errno.name(of: errno))" }
        _ = handoff_fcntl_int(output[0], F_SETFD, FD_CLOEXEC)
        _ = handoff_fcntl_int(output[1], F_SETFD, FD_CLOEXEC)
        var pid: pid_t = 0
        let spawned = withCStrings([agentPath, "--probe", name]) { argv in
            withCStrings(["PATH=/usr/bin:/bin"]) { envp in
                handoff_spawn_clean(agentPath, argv, envp, output[1], output[1], nil, &pid)
            }
        }
        close(output[1])
        defer { close(output[0]) }
        if spawned != 0 { return "cannot start the agent: \(Errno.name(of: spawned))" }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(output[0], &buffer, buffer.count)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let text = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : "no answer"
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An integer from /proc/sys/NAME; nil when absent (e.g. no Yama).
    public static func sysctl(_ name: String) -> Int? {
        guard let text = Observer.readSmallFile("/proc/sys/" + name) else { return nil }
        return Int(text.split(whereSeparator: \.isWhitespace).first ?? "")
    }

    /// The system calls `requires: syscalls` may name and operations may declare as needs.
    public static let knownSyscalls = ["kcmp", "pidfd_open", "pidfd_getfd", "close_range", "memfd_create", "epoll_create1"]

    /// nil when the syscall works here; otherwise why not (e.g. `ENOSYS`).
    public static func syscallProblem(_ name: String) -> String? {
        switch name {
        case "kcmp":
            if handoff_kcmp_file(getpid(), getpid(), 0, 0) < 0 && errno != EBADF { return Errno.name(of: errno) }
            return nil
        case "pidfd_open":
            let pidfd = handoff_pidfd_open(getpid(), 0)
            if pidfd < 0 { return Errno.name(of: errno) }
            close(pidfd)
            return nil
        case "pidfd_getfd":
            let pidfd = handoff_pidfd_open(getpid(), 0)
            if pidfd < 0 { return "pidfd_open: \(Errno.name(of: errno))" }
            defer { close(pidfd) }
            let copy = handoff_pidfd_getfd(pidfd, pidfd, 0)
            if copy < 0 { return Errno.name(of: errno) }
            close(copy)
            return nil
        case "close_range":
            // An empty range at the very top of the table: nothing is closed.
            if handoff_close_range(UInt32.max, UInt32.max, 0) < 0 { return Errno.name(of: errno) }
            return nil
        case "epoll_create1":
            let epoll = handoff_epoll_create1(Linux.EPOLL_CLOEXEC)
            if epoll < 0 { return Errno.name(of: errno) }
            close(epoll)
            return nil
        case "memfd_create":
            let memfd = handoff_memfd_create("handoff-probe", 1)
            if memfd < 0 { return Errno.name(of: errno) }
            close(memfd)
            return nil
        default:
            return "unknown syscall"
        }
    }

    /// The absolute path of an executable: as given when it contains a slash, else the first match in PATH.
    public static func program(named name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let directories = (path.split(separator: ":").map(String.init)) + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                                                          "/usr/bin", "/sbin", "/bin"]
        for directory in directories where access(directory + "/" + name, X_OK) == 0 {
            return directory + "/" + name
        }
        return nil
    }

    /// nil when every requirement holds; otherwise the reason to skip, naming what is missing.
    public static func unmet(_ scenario: Scenario) -> String? {
        if let reason = unmet(scenario.requires) { return reason }
        // What the scenario's operations need, by their declarations, even when `requires:` forgot it.
        for (kind, needs) in scenario.operationNeeds {
            for name in needs.syscalls {
                if let problem = syscallProblem(name) {
                    return "needs \(name) (for \(kind.keyword)), which fails here with \(problem)"
                }
            }
            for name in needs.capabilities {
                let number = handoff_capability_from_name(name)
                if number < 0 || handoff_has_capability(number) != 1 {
                    return "needs \(name) (for \(kind.keyword)), which the runner does not hold"
                }
            }
        }
        return nil
    }

    public static func unmet(_ requirements: Requirements) -> String? {
        if let minimum = requirements.minimumKernel {
            let release = kernelRelease
            if let running = KernelVersion(release: release), running < minimum {
                return "needs kernel \(minimum) or later (running \(release))"
            }
        }
        for name in requirements.syscalls {
            if let problem = syscallProblem(name) { return "needs \(name), which fails here with \(problem)" }
        }
        for name in requirements.programs where program(named: name) == nil {
            return "needs the program \(name), which is not installed (not found in PATH)"
        }
        for name in requirements.capabilities {
            let number = handoff_capability_from_name(name)
            if number < 0 { return "unknown capability \(name)" }
            if handoff_has_capability(number) != 1 { return "needs \(name), which the runner does not hold" }
        }
        return nil
    }
}
