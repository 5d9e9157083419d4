import CHandoff
import Foundation
import Glibc

/// How the processes of a scenario are contained, so that none outlives it.
public enum ContainmentMode: String, Sendable, CaseIterable {
    /// A cgroup v2 per scenario where the runner can create one, else the /proc sweep.
    case auto
    /// The /proc sweep only (what happens where no cgroup can be created; tests force it with this).
    case processes
    /// Only agents can run: a scenario without a launcher under test starts nothing but agents, which the
    /// tree kills and reaps through their pidfds (and which die with their parents). No cgroup: moving a
    /// process into one costs 10-25 ms here (cgroup.procs takes the threadgroup rwsem for writing).
    case agentsOnly

    /// The modes a caller chooses; `agentsOnly` is the runner's own choice for scenarios without a launcher.
    public static let allCases: [ContainmentMode] = [.auto, .processes]
}

/// Everything one scenario starts - agents, and whatever a launcher under test starts in turn, daemonised
/// or in a new session - and the means to end all of it when the scenario ends, whatever the ending.
///
/// With a cgroup v2 the runner can write to (its own cgroup, or a delegated subtree: `mkdir` there succeeds),
/// the root agent is moved into a cgroup of its own right after `posix_spawn`, before it has been sent any
/// request (it does nothing on its own but say hello), so every process of the scenario is born inside it;
/// teardown writes `cgroup.kill` (Linux 5.14; before that, SIGKILL to each pid in `cgroup.procs` until none
/// is left), waits until the cgroup is empty, reaps the zombies that were re-parented to the runner (a
/// child subreaper) and removes the cgroup. The agent is not spawned with clone3(CLONE_INTO_CGROUP): glibc's
/// posix_spawn cannot do that, and the runner never forks itself (it is multithreaded).
///
/// Without one (no writable cgroup2 mount, cgroup v1 only, a read-only /sys/fs/cgroup), teardown sweeps
/// /proc among the runner's descendants for the scenario's processes: those descending from its root agent,
/// those carrying its marker in their environment (`HANDOFF_SCENARIO=<marker>`, set on the root agent and
/// inherited unless a launcher clears the environment) and those whose working directory lies in its
/// directory. Each is stopped (SIGSTOP, so that nothing forks or orphans its children while the sweep
/// runs), the sweep repeats until it finds no one new, then all are killed and reaped. A process that
/// leaves all three marks behind (a daemon that clears its environment and changes directory after its
/// parent died) escapes the sweep; the cgroup has no such gap.
final class Containment: @unchecked Sendable {
    /// The environment variable carrying the marker.
    static let markerVariable = "HANDOFF_SCENARIO"

    /// The agents of every scenario this runner is running (ProcessTree registers them).
    static let liveAgents = LiveAgents()

    /// Unique per scenario run: the name of its directory (`handoff-<runner pid>-XXXXXX`) and of its cgroup.
    let marker: String
    /// The scenario's directory (canonical), whose processes' working directories mark them as its own.
    let directory: String
    /// The scenario's cgroup directory, absolute; nil when processes are swept instead.
    private(set) var cgroup: String?
    /// The same, as /proc/PID/cgroup shows it (`/path/below/the/mount`).
    private var cgroupName: String?
    /// The cgroup as created, for `killCgroupNow` from another thread (never changes).
    private let createdCgroup: String?
    /// Processes the sweep stopped: their handles (pidfds where there are), kept until they are reaped.
    private var swept: [pid_t: ProcessGuard] = [:]

    var usesCgroup: Bool { cgroup != nil }

    let mode: ContainmentMode

    init(marker: String, directory: String, mode: ContainmentMode) {
        self.marker = marker
        self.directory = directory
        self.mode = mode
        guard mode == .auto, let parent = CgroupHierarchy.runnerCgroup, mkdir(parent.directory + "/" + marker, 0o755) == 0 else {
            createdCgroup = nil
            return
        }
        cgroup = parent.directory + "/" + marker
        cgroupName = (parent.name == "/" ? "" : parent.name) + "/" + marker
        createdCgroup = cgroup
    }

    /// Kills the cgroup's processes now (an interrupt, from the signal thread); teardown does the rest.
    func killCgroupNow() {
        if let createdCgroup { writeFile(createdCgroup + "/cgroup.kill", "1") }
    }

    /// Moves a freshly spawned process (the root agent) into the scenario's cgroup. When that fails the
    /// cgroup is given up, and the sweep takes over.
    func adopt(_ pid: pid_t) {
        guard let cgroup else { return }
        if !writeFile(cgroup + "/cgroup.procs", "\(pid)") {
            rmdir(cgroup)
            self.cgroup = nil
            cgroupName = nil
        }
    }

    /// Kills every process of the scenario (agents included). `root` is the root agent's pid, nil if it
    /// was never spawned. Call `reap()` after the agents have been reaped.
    func killEverything(root: pid_t?) {
        if let cgroup {
            if !writeFile(cgroup + "/cgroup.kill", "1") {
                // Before Linux 5.14: kill what is listed until nothing is (a fork in between is caught next round).
                for _ in 0..<100 {
                    let members = CgroupHierarchy.members(of: cgroup)
                    if members.isEmpty { break }
                    for pid in members { Glibc.kill(pid, SIGKILL) }
                    usleep(1000)
                }
            }
            return
        }
        if mode == .agentsOnly { return }
        stopSweep(root: root)
        for handle in swept.values { handle.signal(SIGKILL) }
    }

    /// Waits for everything killed to have exited, reaps what was re-parented to the runner, and removes
    /// the cgroup. (Only scenarios with a launcher under test get a cgroup or a sweep up front; in
    /// `agentsOnly` every process should have been an agent reaped through its pidfd, see `sweepStrays`.)
    func reap() {
        let deadline = Deadline(secondsFromNow: 5)
        if mode == .agentsOnly { sweepStrays() }
        if let cgroup, let cgroupName {
            while CgroupHierarchy.isPopulated(cgroup) && !deadline.expired { usleep(500) }
            // A task leaves the cgroup's count (cgroup_exit) a moment before it becomes a zombie and hands its
            // children to the runner (exit_notify): reap in passes until one finds nothing more. A zombie
            // that comes later still is reaped when the suite ends (Suite.reapStrays).
            var pass = 0
            while Self.reapZombies(where: { $0 == cgroupName }) > 0 || pass == 0 {
                pass += 1
                if deadline.expired { break }
                usleep(200)
            }
            if rmdir(cgroup) == 0 { self.cgroup = nil }
            return
        }
        // Everyone swept is dead or dying: once all have exited, every zombie's parent is dead too, so each
        // is the runner's child (a subreaper) and can be reaped through its pidfd.
        for (_, handle) in swept { handle.waitExit(until: deadline) }
        for (_, handle) in swept { handle.reap(block: false) }
        swept.removeAll()
    }

    /// Reaps the runner's zombie children whose cgroup `matches`; returns how many.
    @discardableResult
    static func reapZombies(where matches: (String) -> Bool) -> Int {
        let me = getpid()
        var reaped = 0
        for process in ProcessStatus.all() where process.isZombie && process.parent == me {
            guard let name = CgroupHierarchy.name(of: process.pid), matches(name) else { continue }
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid { reaped += 1 }
        }
        return reaped
    }

    // MARK: - The sweep

    /// `agentsOnly`, after the agents were killed and reaped: an agent that breaks the protocol can still
    /// have started processes of its own (a double-forked daemon keeping its channel, a child in a session
    /// of its own), which its SIGKILL does not reach (found with a hostile agent: `sleep` daemons outlived the
    /// run). With the agents dead, each such process is a child of the runner (a child subreaper): a look at
    /// the runner's children, cheap, decides whether the /proc sweep is needed at all.
    private func sweepStrays() {
        // No agent is excepted: the tree's own agents are reaped by now, so one still alive is a stray too.
        if swept.isEmpty && strayChildren(agents: []).isEmpty { return }
        stopSweep(root: nil)
        for handle in swept.values { handle.signal(SIGKILL) }
    }

    /// `agentsOnly`: the runner's live children that are the scenario's but not among `agents` - processes an
    /// agent started behind the protocol and left behind when it ended (re-parented to the runner). Where a
    /// launcher runs, what it starts is its own business: none.
    func strayChildren(agents: Set<pid_t>) -> [pid_t] {
        guard mode == .agentsOnly else { return [] }
        return Self.runnerChildren().filter { pid in
            guard !agents.contains(pid), !Self.liveAgents.isLiveAgent(pid, ofAnotherThan: marker),
                let status = ProcessStatus.read(pid), !status.isZombie
            else { return false }
            return carriesMarker(pid) || worksInDirectory(pid)
        }
    }

    /// `agentsOnly`, before the agents are killed: takes a handle on every descendant of `agents` that is not
    /// one of them - a process an agent started behind the protocol, a forked child whose hello was refused -
    /// so that the sweep kills and reaps it even when it exits on its own before the sweep looks: a zombie
    /// shows neither the marker nor a working directory, and one was left unreaped in the runner (found in CI:
    /// a forked child whose hello named another process exited at its channel's end-of-file).
    func holdUntrackedDescendants(of agents: [pid_t]) {
        guard mode == .agentsOnly else { return }
        let known = Set(agents)
        var parents = agents
        // Bounded: a process tree deeper or wider than this is left to the marker and directory sweep.
        for _ in 0..<8 where !parents.isEmpty && swept.count < 1024 {
            var next: [pid_t] = []
            for parent in parents {
                for child in Self.children(of: "\(parent)") where !known.contains(child) && swept[child] == nil {
                    guard case .success(let handle) = ProcessGuard.open(child) else { continue }
                    // Still that parent's child: not reaped, and the pid not reused, between the read and pidfd_open.
                    guard ProcessStatus.read(child)?.parent == parent else { continue }
                    swept[child] = handle
                    next.append(child)
                }
            }
            parents = next
        }
    }

    /// The runner's children (every thread's, /proc/self/task/TID/children).
    static func runnerChildren() -> [pid_t] { children(of: "self") }

    /// The children of every thread of `process` (a pid, or `self`): /proc/PROCESS/task/TID/children.
    static func children(of process: String) -> [pid_t] {
        guard let tasks = directoryNames("/proc/\(process)/task") else { return [] }
        var children: [pid_t] = []
        for task in tasks {
            guard let text = readFile("/proc/\(process)/task/\(task)/children", limit: 1 << 16) else { continue }
            children += String(decoding: text, as: UTF8.self).split(separator: " ").compactMap { pid_t($0) }
        }
        return children
    }

    /// Stops every process of the scenario among the runner's descendants, round after round until a round
    /// finds no one new (a stopped process cannot fork, so this ends).
    private func stopSweep(root: pid_t?) {
        let me = getpid()
        for _ in 0..<200 {
            var found = false
            let processes = ProcessStatus.all()
            let parents = Dictionary(processes.map { ($0.pid, $0.parent) }, uniquingKeysWith: { first, _ in first })
            for process in processes where process.pid != me && !process.isZombie && swept[process.pid] == nil {
                guard let lineage = Self.lineage(of: process.pid, parents: parents, upTo: me) else { continue }
                let descendsFromRoot = root.map { lineage.contains($0) } ?? false
                guard descendsFromRoot || carriesMarker(process.pid) || worksInDirectory(process.pid) else { continue }
                guard case .success(let handle) = ProcessGuard.open(process.pid) else { continue }
                // The pid could have been reaped and reused between the listing and pidfd_open: the same
                // parent means it is still the process that was listed (a reused pid has a new parent).
                guard ProcessStatus.read(process.pid)?.parent == process.parent else { continue }
                handle.signal(SIGSTOP)
                swept[process.pid] = handle
                found = true
            }
            if !found { return }
        }
    }

    /// The ancestors of `pid` up to (not including) `runner`, or nil when it does not descend from it.
    static func lineage(of pid: pid_t, parents: [pid_t: pid_t], upTo runner: pid_t) -> [pid_t]? {
        var chain = [pid]
        var current = pid
        for _ in 0..<256 {
            guard let parent = parents[current], parent > 0 else { return nil }
            if parent == runner { return chain }
            chain.append(parent)
            current = parent
        }
        return nil
    }

    private func carriesMarker(_ pid: pid_t) -> Bool {
        guard let environment = readFile("/proc/\(pid)/environ", limit: 1 << 20) else { return false }
        let needle = Array("\(Self.markerVariable)=\(marker)".utf8)
        return environment.split(separator: 0).contains { $0.elementsEqual(needle) }
    }

    private func worksInDirectory(_ pid: pid_t) -> Bool {
        guard let cwd = Observer.readLink("/proc/\(pid)/cwd") else { return false }
        return cwd == directory || cwd.hasPrefix(directory + "/")
    }
}

/// The agents of the scenarios running now, by pid, each with its scenario's marker and its handle. Among the
/// runner's children, another scenario's agent is not a stray of this one: one look at its pidfd says so,
/// where the marker and directory checks read /proc three times - and with `--jobs N` every teardown met
/// every running scenario's agents (4 % of the runner's time under TCG).
final class LiveAgents: @unchecked Sendable {
    private let lock = NSLock()
    private var agents: [pid_t: (marker: String, handle: ProcessGuard)] = [:]

    func add(_ pid: pid_t, of marker: String, handle: ProcessGuard) {
        lock.lock()
        agents[pid] = (marker, handle)
        lock.unlock()
    }

    /// At teardown, once the scenario's agents are reaped.
    func removeAll(of marker: String) {
        lock.lock()
        agents = agents.filter { $0.value.marker != marker }
        lock.unlock()
    }

    /// Whether `pid` is, now, an agent of a scenario other than `marker`'s: registered so, and its process not
    /// exited (so the pid is still that agent's, not reused by a stray after its parent agent reaped it).
    func isLiveAgent(_ pid: pid_t, ofAnotherThan marker: String) -> Bool {
        lock.lock()
        let entry = agents[pid]
        lock.unlock()
        guard let entry, entry.marker != marker else { return false }
        return !entry.handle.hasExited
    }
}

/// The cgroup v2 hierarchy as the runner sees it.
enum CgroupHierarchy {
    /// The runner's own cgroup: its directory in the mounted cgroup2 hierarchy and its name as
    /// /proc/self/cgroup gives it. nil when there is no cgroup2 mount covering it.
    static let runnerCgroup: (directory: String, name: String)? = {
        guard let name = name(of: getpid()), let mounts = readFile("/proc/self/mountinfo", limit: 1 << 20) else { return nil }
        for line in String(decoding: mounts, as: UTF8.self).split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
            let fields = line.split(separator: " ").map(String.init)
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields[dash + 1] == "cgroup2",
                fields.count > 4
            else { continue }
            let root = unescapeMountField(fields[3])
            let mountPoint = unescapeMountField(fields[4])
            guard name == root || name.hasPrefix(root == "/" ? "/" : root + "/") else { continue }
            let below = root == "/" ? name : String(name.dropFirst(root.count))
            let directory = mountPoint + (below == "/" ? "" : below)
            if access(directory + "/cgroup.procs", W_OK) == 0 { return (directory, name) }
        }
        return nil
    }()

    /// The cgroup v2 name of a process (`0::/name` in /proc/PID/cgroup, without the ` (deleted)` a zombie's
    /// removed cgroup gets); nil without one.
    static func name(of pid: pid_t) -> String? {
        guard let text = readFile("/proc/\(pid)/cgroup", limit: 64 << 10) else { return nil }
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") where line.hasPrefix("0::") {
            let name = String(line.dropFirst(3))
            return name.hasSuffix(" (deleted)") ? String(name.dropLast(10)) : name
        }
        return nil
    }

    static func members(of cgroup: String) -> [pid_t] {
        guard let text = readFile(cgroup + "/cgroup.procs", limit: 1 << 20) else { return [] }
        return String(decoding: text, as: UTF8.self).split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Whether any live process is in the cgroup (`populated 1` in cgroup.events).
    static func isPopulated(_ cgroup: String) -> Bool {
        guard let text = readFile(cgroup + "/cgroup.events", limit: 4096) else { return false }
        return String(decoding: text, as: UTF8.self).split(separator: "\n").contains("populated 1")
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescapeMountField(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        let source = Array(field.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
                let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
