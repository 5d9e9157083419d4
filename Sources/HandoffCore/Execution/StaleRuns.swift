import Foundation
import Glibc

/// What SIGKILLed runs left behind: scenario directories and cgroups named `handoff-<pid>-...` whose runner
/// is dead. Removed (a cgroup after killing what still runs in it) once per base directory per process.
enum StaleRuns {
    private static let lock = NSLock()
    private nonisolated(unsafe) static var swept: Set<String> = []

    static func sweepOnce(base: String) {
        lock.lock()
        let first = swept.insert(base).inserted
        lock.unlock()
        guard first else { return }
        sweep(base: base)
        if let cgroup = CgroupHierarchy.runnerCgroup { sweepCgroups(under: cgroup.directory) }
    }

    /// A new private folder (mode 0700, mkdtemp: never an existing path or a symlink's target) named
    /// `handoff-<pid>[-<label>]-XXXXXX` in `base`, the one form every temporary folder of a run takes, so that
    /// the folders a SIGKILLed run left are swept by the next. nil, with errno set, when it cannot be made.
    static func makeFolder(in base: String, label: String = "") -> String? {
        var template = Array("\(base)/handoff-\(getpid())\(label.isEmpty ? "" : "-" + label)-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let pointer = buffer.baseAddress, mkdtemp(pointer) != nil else { return nil }
            return String(cString: pointer)
        }
    }

    /// The runner pid in a name `handoff-<pid>-...`, if it has that form.
    static func runnerPid(inName name: String) -> pid_t? {
        let parts = name.split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "handoff", let pid = pid_t(parts[1]), pid > 0 else { return nil }
        return pid
    }

    /// A runner pid that no longer exists (a live pid, even reused by something else, is left alone).
    static func isDead(_ pid: pid_t) -> Bool {
        pid != getpid() && Glibc.kill(pid, 0) != 0 && errno == ESRCH
    }

    static func sweep(base: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: base) else { return }
        let me = geteuid()
        for name in entries {
            guard let pid = runnerPid(inName: name), isDead(pid) else { continue }
            let path = base + "/" + name
            var info = stat()
            // Only our own directories (a shared /tmp holds other users' too), never through a symlink.
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == me else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    static func sweepCgroups(under parent: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for name in entries {
            guard let pid = runnerPid(inName: name), isDead(pid) else { continue }
            let cgroup = parent + "/" + name
            // The name's pid is a pid in its runner's namespace, which need not be ours: a runner inside
            // `--in userns` or bwrap shares the host's cgroup tree but not its pids, and took a live host
            // run's cgroups (and runc's container cgroup, once named `handoff-<pid>-...`) for dead ones.
            guard judgeable(members: CgroupHierarchy.members(of: cgroup), namespaceOf: pidNamespace(of:),
                            own: pidNamespace(of: getpid()))
            else { continue }
            if !writeFile(cgroup + "/cgroup.kill", "1") {
                for pid in CgroupHierarchy.members(of: cgroup) where pid > 0 { Glibc.kill(pid, SIGKILL) }
            }
            let deadline = Deadline(secondsFromNow: 2)
            while CgroupHierarchy.isPopulated(cgroup) && !deadline.expired { usleep(1000) }
            rmdir(cgroup)
        }
    }

    /// Whether a cgroup's members say that its runner lived in our PID namespace, so that the pid in its
    /// name means what `isDead` asks: no member is hidden from us (cgroup.procs shows a task outside our
    /// namespace as 0) and at least one is in our namespace itself (a scenario's root agent always is; its
    /// descendants may be in namespaces of their own). An empty cgroup is judged by its name alone: removing
    /// it kills nothing.
    static func judgeable(members: [pid_t], namespaceOf: (pid_t) -> String?, own: String?) -> Bool {
        if members.isEmpty { return true }
        guard let own, !members.contains(where: { $0 <= 0 }) else { return false }
        return members.contains { namespaceOf($0) == own }
    }

    /// /proc/PID/ns/pid (`pid:[inode]`), nil when unreadable.
    static func pidNamespace(of pid: pid_t) -> String? { Observer.readLink("/proc/\(pid)/ns/pid") }
}
