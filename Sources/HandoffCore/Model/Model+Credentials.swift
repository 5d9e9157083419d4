#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Credentials and access to other processes: RLIMIT_NOFILE, capabilities, the dumpable flag, ptrace access
// checks, and pidfd_open/pidfd_getfd.

extension ReferenceModel {
    // MARK: - Limits, capabilities, dumpable

    /// kernel/sys.c: do_prlimit(RLIMIT_NOFILE) - the soft limit may not exceed the hard one (EINVAL); the hard
    /// limit stays as it is.
    mutating func setrlimit(_ process: String, nofile: UInt64) -> Outcome {
        guard let hard = processes[process]?.hardNofileLimit, nofile <= UInt64(hard) else { return .failure(EINVAL) }
        processes[process]?.nofileLimit = Int32(nofile)
        return Outcome(result: 0)
    }

    /// cap_set_proc (kernel/capability.c: capset): the capability leaves the effective, permitted and
    /// inheritable sets. An unknown name is refused by libcap's cap_from_name (EINVAL).
    mutating func dropCapability(_ process: String, name: String) -> Outcome {
        guard let canonical = ReferenceModel.capabilityName(name) else { return .failure(EINVAL) }
        processes[process]?.droppedCapabilities.insert(canonical)
        return Outcome(result: 0)
    }

    /// The root process starts with the runner's capabilities (the agents inherit them): every other known
    /// capability counts as dropped from the start.
    /// What exec can give back is bounded by the same set (the runner's capabilities stand in for its bounding
    /// set: an unprivileged runner regains nothing, a root one in a container only what the container left).
    public mutating func startWithCapabilities(_ held: Set<String>, root: String = "main") {
        processes[root]?.droppedCapabilities = Set(ReferenceModel.capabilityNames).subtracting(held)
        regainableCapabilities = held
    }

    /// kernel/sys.c: prctl(PR_SET_DUMPABLE) -> set_dumpable.
    mutating func setDumpable(_ process: String, _ value: Bool) -> Outcome {
        processes[process]?.dumpable = value
        return Outcome(result: 0)
    }

    /// Capability names as libcap's cap_from_name knows them (Linux 6.x: 0 ... 40).
    static let capabilityNames: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]

    /// The canonical name of a capability (cap_from_name is case-insensitive and takes numbers too), or nil.
    static func capabilityName(_ name: String) -> String? {
        if let number = Int(name) {
            return capabilityNames.indices.contains(number) ? capabilityNames[number] : nil
        }
        let upper = name.uppercased()
        return capabilityNames.contains(upper) ? upper : nil
    }

    /// True when `process` dropped `capability`, so that capable() (security/commoncap.c: cap_capable) fails.
    func lacks(_ process: String, _ capability: String) -> Bool {
        processes[process]?.droppedCapabilities.contains(capability) == true
    }

    // MARK: - ptrace access

    /// ptrace_may_access(target) by `caller`, everyone having the same uid (root):
    /// - the same process is always allowed;
    /// - __ptrace_may_access: a live target whose mm is not dumpable needs CAP_SYS_PTRACE;
    /// - cap_ptrace_access_check: a target holding capabilities the caller lacks needs CAP_SYS_PTRACE;
    /// - Yama (PTRACE_MODE_ATTACH only): scope 1 needs a descendant or CAP_SYS_PTRACE, scope 2 always
    ///   CAP_SYS_PTRACE, scope 3 forbids attaching.
    func ptraceDenied(caller: String, target: String, attach: Bool) -> Bool {
        if caller == target { return false }
        // Both are known to the callers; an unknown one is denied.
        guard let c = processes[caller], let t = processes[target] else { return true }
        let capable = !c.droppedCapabilities.contains("CAP_SYS_PTRACE")
        // A running task's dumpability is its mm's; an exited one has no mm, and kernels differ: before 6.18
        // it was not checked at all, since then the dumpability the task had at exit counts (the runner
        // probes which, `exitedKeepDumpability`). Checked on 6.18: a non-dumpable zombie is EPERM without
        // CAP_SYS_PTRACE, a dumpable one ESRCH.
        if !t.dumpable, !capable, t.state == .running || exitedKeepDumpability { return true }
        if !c.droppedCapabilities.isSubset(of: t.droppedCapabilities), !capable { return true }
        if attach {
            switch ptraceScope {
            case 1: if !capable && !isDescendant(target, of: caller) { return true }
            case 2: if !capable { return true }
            case 3: return true
            default: break
            }
        }
        return false
    }

    /// security/yama/yama_lsm.c: task_is_descendant.
    func isDescendant(_ process: String, of ancestor: String) -> Bool {
        var current = processes[process]?.parent
        while let name = current {
            if name == ancestor { return true }
            current = processes[name]?.parent
        }
        return false
    }

    // MARK: - pidfds

    /// kernel/pid.c: pidfd_open -> pidfd_create: always a close-on-exec descriptor.
    /// kernel/pid.c: SYSCALL_DEFINE2(pidfd_open) - flags other than PIDFD_NONBLOCK (and PIDFD_THREAD since
    /// 6.9) are EINVAL before the pid is looked up (ESRCH once reaped); PIDFD_NONBLOCK is the file's
    /// O_NONBLOCK (pidfd_create), which fdinfo shows and waitid reads.
    mutating func pidfdOpen(_ process: String, target: String, flags: UInt32) -> Outcome {
        if flags & ~(Linux.PIDFD_NONBLOCK | Linux.PIDFD_THREAD) != 0 { return .failure(EINVAL) }
        if flags & Linux.PIDFD_NONBLOCK != 0 && !pidfdNonBlock { return .failure(EINVAL) }  // before 5.10
        if flags & Linux.PIDFD_THREAD != 0 {
            // Accepted from Linux 6.9, EINVAL before; and a thread pidfd's f_flags carry O_EXCL, which the
            // model's status flags do not.
            return .beyondModel("PIDFD_THREAD is not modelled (pidfd_open accepts it from Linux 6.9)")
        }
        guard let t = processes[target], t.state != .reaped else { return .failure(ESRCH) }
        // pidfd_open always returns a close-on-exec descriptor. A killed agent is assumed to be still
        // unreaped (a zombie), which pidfd_open accepts; if the runner's reaper already collected it the
        // kernel says ESRCH instead (uncertain, depends on the runner).
        return install(process, target: .pidfd(process: target), access: .readWrite,
                       flags: flags & Linux.PIDFD_NONBLOCK != 0 ? [.nonblock] : [], closeOnExec: true)
    }

    /// The step's pidfd_open (of the target), then kernel/pid.c: pidfd_getfd -> __pidfd_fget, then receive_fd
    /// (always close-on-exec). A reaped target fails in pidfd_open (ESRCH) before pidfd_getfd looks at its
    /// flags (found by `handoff fuzz`: scenarios/fuzz/pidfd-getfd-reaped.yaml).
    mutating func pidfdGetfd(_ process: String, target: String, fd: Int32, flags: UInt32) -> Outcome {
        guard let t = processes[target], t.state != .reaped else { return .failure(ESRCH) }
        // The step's own pidfd takes a number until the copy is made: a table with no free number fails in
        // pidfd_open, one with a single free number in receive_fd (found by `handoff fuzz`).
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        if flags != 0 { return .failure(EINVAL) }
        // __pidfd_fget checks ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS) before it looks at the
        // table, so EPERM comes before ESRCH (exiting target) and EBADF (bad number).
        if ptraceDenied(caller: process, target: target, attach: true) { return .failure(EPERM) }
        // Since Linux 6.9 ("pidfd: getfd should always report ESRCH if a task is exiting") a target
        // that has exited (no files table) gives ESRCH, not EBADF.
        guard t.state == .running else { return .failure(ESRCH) }
        guard let entry = self[tableOf: target][fd] else { return .failure(EBADF) }
        guard lowestFree(process, count: 2) != nil else { return .failure(EMFILE) }
        return duplicate(process, entry.description, minimum: 0, closeOnExec: true)
    }
}
