import CHandoff
import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// Processes a scenario starts without the harness knowing - a launcher's daemons, double-forked, in a new
/// session - end with the scenario, however it ends, with a cgroup or with the /proc sweep. Serialized:
/// spawns process trees.
@Suite(.serialized, .leavesNoChildren) struct ContainmentTests {
    static let launcherInstalled = SystemProbe.program(named: "systemd-socket-activate") != nil

    enum Ending: String, CaseIterable {
        case pass, fail, error, timeout
    }

    /// Another scenario's live agent is passed over by the stray check on one look at its pidfd; one that has
    /// exited is not (its pid could be a stray's once its parent agent reaped it), nor one of this scenario.
    @Test func anotherScenariosLiveAgentIsNotAStray() throws {
        let child = try ObservationRaceTests.Child()
        defer { child.reap() }
        let handle = try ProcessGuard.open(child.pid).get()
        let agents = LiveAgents()
        agents.add(child.pid, of: "b", handle: handle)
        #expect(agents.isLiveAgent(child.pid, ofAnotherThan: "a"))
        #expect(!agents.isLiveAgent(child.pid, ofAnotherThan: "b"))
        agents.removeAll(of: "a")
        #expect(agents.isLiveAgent(child.pid, ofAnotherThan: "a"))
        agents.removeAll(of: "b")
        #expect(!agents.isLiveAgent(child.pid, ofAnotherThan: "a"))
        agents.add(child.pid, of: "b", handle: handle)
        child.killToZombie()
        #expect(!agents.isLiveAgent(child.pid, ofAnotherThan: "a"))
    }

    /// A launcher (sh) that leaves two daemons behind - one double-forked into a new session, one simply in
    /// the background - writes their pids into `pids`, then execs systemd-socket-activate, whose service
    /// is adopted. `mark` is in the daemons' environment, for finding survivors.
    func daemonScenario(mark: String, pids: String, ending: Ending = .pass, launcherSleeps: Int = 0) throws -> Scenario {
        let script = "(setsid sleep 300 & echo $! > \"$PIDS/setsid\"); sleep 301 & echo $! > \"$PIDS/background\"; "
            + "sleep \(launcherSleeps); exec systemd-socket-activate --listen=\"$1\" --setenv=\"$2\" \"$0\""
        var yaml = """
            summary: daemons a launcher leaves behind
            requires: {programs: [sh, systemd-socket-activate]}
            timeout: \(ending == .timeout ? 1 : 10)
            steps:
              - main.fork: {as: client}
              - main.launch:
                  program: sh
                  args: ["-c", \(quote(script)), "{@agent}", "{@dir}/svc.sock", "{@control}"]
                  env: {HANDOFF_TEST_MARK: \(quote(mark)), PIDS: \(quote(pids))}
                  listen: [{unix: svc.sock}]
              - client.connect: {address: {unix: svc.sock}, as: conn}
              - main.attach: {as: service}
              - client.pipe: {as: [r, w]}
              - client.write: {fd: w, data: "ab"}
              - client.read: {fd: r, count: 2}
              - check: {open: {service: [0, 1, 2, 3]}}

            """
        if ending == .fail { yaml += "  - check: {open: {service: [0, 1, 2]}}\n" }
        // A timeout: the client is stopped after its read (injections(for:)), so this step is never answered.
        // (A poll the model says waits out a time longer than the limit is refused before it runs, as the
        // scenario's own error.)
        if ending == .timeout { yaml += "  - client.write: {fd: w, data: \"c\"}\n" }
        return try scenario(yaml)
    }

    func quote(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Faults that make the scenario end as `ending` (steps counted from 1).
    func injections(for ending: Ending) -> [Injection] {
        switch ending {
        case .pass, .fail: return []
        case .timeout: return [Injection(afterStep: 7, process: "client", fault: .signal(SIGSTOP))]
        case .error: return [Injection(afterStep: 4, process: "service", fault: .signal(SIGKILL))]
        }
    }

    /// Live processes whose environment holds `mark`.
    func survivors(_ mark: String) -> [pid_t] {
        let needle = Array("HANDOFF_TEST_MARK=\(mark)".utf8)
        return ProcessStatus.all().filter { process in
            guard !process.isZombie, let environment = readFile("/proc/\(process.pid)/environ", limit: 1 << 20) else {
                return false
            }
            return environment.split(separator: 0).contains { $0.elementsEqual(needle) }
        }.map(\.pid)
    }

    func pidDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "handoff-pids-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The daemons really were started: both wrote their pids.
    func daemonsStarted(_ pids: String) -> Bool {
        ["setsid", "background"].allSatisfy { name in
            (try? String(contentsOfFile: pids + "/" + name, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) } != nil
        }
    }

    static let cases: [(ContainmentMode, Ending)] = ContainmentMode.allCases.flatMap { mode in Ending.allCases.map { (mode, $0) } }

    @Test(.enabled(if: launcherInstalled, "needs systemd-socket-activate"), arguments: cases)
    func nothingALauncherLeavesBehindSurvivesTheScenario(mode: ContainmentMode, ending: Ending) throws {
        let mark = UUID().uuidString
        let pids = try pidDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        let options = ExecutionOptions(agentPath: agentPath, injections: injections(for: ending), containment: mode)
        let result = Suite.run([try daemonScenario(mark: mark, pids: pids, ending: ending)], options: options)[0]
        let expected: ScenarioStatus = switch ending {
        case .pass: .pass
        case .fail: .fail
        case .error: .error
        case .timeout: .timeout
        }
        #expect(result.status == expected, "\(result.diff)")
        #expect(daemonsStarted(pids), "the launcher never started its daemons: the test would prove nothing")
        #expect(survivors(mark).isEmpty, "\(mode), \(ending): daemons survived the scenario")
        #expect(agentProcesses().isEmpty)
        #expect(childProcesses().isEmpty, "everything was reaped")
    }

    @Test(.enabled(if: launcherInstalled, "needs systemd-socket-activate"), arguments: ContainmentMode.allCases)
    func anInterruptEndsTheDaemonsToo(mode: ContainmentMode) throws {
        let mark = UUID().uuidString
        let pids = try pidDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        // The launcher takes 30 s to listen: the interrupt comes while the runner waits for it.
        let scenario = try daemonScenario(mark: mark, pids: pids, launcherSleeps: 30)
        let options = ExecutionOptions(timeout: 60, agentPath: agentPath, containment: mode)
        _ = handoff_set_child_subreaper()
        let started = monotonicNow()
        let result = ScenarioExecution(scenario: scenario, options: options).run(register: { tree in
            // What ActiveRuns.interrupt() does to each tree on Ctrl-C (the shared instance stays usable).
            DispatchQueue.global().asyncAfter(deadline: .now() + 1) { tree.killAll(markInterrupted: true) }
        })
        #expect(result.status == .error)
        #expect(result.reason == "interrupted")
        #expect(Double(monotonicNow() - started) / 1e9 < 10)
        #expect(daemonsStarted(pids))
        #expect(survivors(mark).isEmpty, "\(mode): daemons survived the interrupt")
        #expect(childProcesses().isEmpty)
    }

    @Test(.enabled(if: launcherInstalled, "needs systemd-socket-activate"), arguments: ContainmentMode.allCases)
    func concurrentScenariosEndOnlyTheirOwnProcesses(mode: ContainmentMode) throws {
        let marks = (0..<3).map { _ in UUID().uuidString }
        let pids = try (0..<3).map { _ in try pidDirectory() }
        defer { for path in pids { try? FileManager.default.removeItem(atPath: path) } }
        // One ends early (a failed check), the others go on meanwhile and must not lose a process to its end.
        let scenarios = [
            try daemonScenario(mark: marks[0], pids: pids[0], ending: .fail),
            try daemonScenario(mark: marks[1], pids: pids[1]),
            try daemonScenario(mark: marks[2], pids: pids[2]),
        ] + Suite.load([packageRoot + "/scenarios/fork", packageRoot + "/scenarios/socket-activation"]).scenarios
        let results = Suite.run(scenarios, options: ExecutionOptions(agentPath: agentPath, containment: mode), jobs: 2)
        #expect(results[0].status == .fail)
        for result in results.dropFirst() {
            #expect(result.status == .pass || result.status == .skip, "\(result.name): \(result.diff)")
        }
        for mark in marks { #expect(survivors(mark).isEmpty) }
        #expect(childProcesses().isEmpty)
    }

    /// Without pidfds (gVisor, kernels before 5.3) agents are held by pid and start time: every ending still
    /// kills and reaps everything, the launcher's daemons included, and the catalog passes.
    @Test(.enabled(if: launcherInstalled, "needs systemd-socket-activate"), arguments: Ending.allCases)
    func withoutPidfdsNothingSurvivesEither(ending: Ending) throws {
        ProcessGuard.simulateMissingPidfds = true
        defer { ProcessGuard.simulateMissingPidfds = false }
        let mark = UUID().uuidString
        let pids = try pidDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        let options = ExecutionOptions(agentPath: agentPath, injections: injections(for: ending), containment: .processes)
        let result = Suite.run([try daemonScenario(mark: mark, pids: pids, ending: ending)], options: options)[0]
        #expect(result.status.rawValue == ending.rawValue, "\(result.diff)")
        #expect(daemonsStarted(pids))
        #expect(survivors(mark).isEmpty)
        #expect(childProcesses().isEmpty)
    }

    @Test func withoutPidfdsTheCatalogPassesAndLeavesNoProcess() throws {
        ProcessGuard.simulateMissingPidfds = true
        defer { ProcessGuard.simulateMissingPidfds = false }
        let load = Suite.load([packageRoot + "/scenarios"])
        for result in Suite.run(load.scenarios, options: ExecutionOptions(agentPath: agentPath), jobs: 2) {
            #expect(result.status == .pass || (result.status == .skip && result.reason != nil),
                    "\(result.name): \(result.status) \(result.diff)")
        }
        #expect(agentProcesses().isEmpty)
        #expect(childProcesses().isEmpty)
    }

    @Test func theCatalogPassesWithTheProcessSweep() throws {
        let load = Suite.load([packageRoot + "/scenarios"])
        let options = ExecutionOptions(agentPath: agentPath, containment: .processes)
        for result in Suite.run(load.scenarios, options: options, jobs: 2) {
            #expect(result.status == .pass || (result.status == .skip && result.reason != nil),
                    "\(result.name): \(result.status) \(result.diff)")
        }
        #expect(agentProcesses().isEmpty)
        #expect(childProcesses().isEmpty)
    }

    @Test(.enabled(if: CgroupHierarchy.runnerCgroup != nil && Self.launcherInstalled,
                   "needs a writable cgroup2 and systemd-socket-activate"))
    func aScenarioRunsInACgroupOfItsOwnWhichIsRemovedAfterwards() throws {
        let parent = try #require(CgroupHierarchy.runnerCgroup)
        // While the client's poll waits out its time (longer than the scenario's), look at where the agents are.
        let seen = Locked<[String?]>([])
        let look = DispatchWorkItem {
            let processes = ProcessStatus.all()
            let parents = Dictionary(processes.map { ($0.pid, $0.parent) }, uniquingKeysWith: { first, _ in first })
            let agents = processes.filter { $0.isAgent && Containment.lineage(of: $0.pid, parents: parents, upTo: getpid()) != nil }
            seen.value = agents.map { CgroupHierarchy.name(of: $0.pid) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.7, execute: look)
        // A scenario with a launcher under test: only those run in a cgroup (without one, every process is
        // an agent the tree holds). The client, stopped, never answers its last step.
        let pids = try pidDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        let result = run(try daemonScenario(mark: UUID().uuidString, pids: pids, ending: .timeout),
                         timeout: 1.5, injections: injections(for: .timeout))
        look.wait()
        #expect(result.status == .timeout)
        let names = seen.value
        #expect(names.count == 2, "the client and the launcher's service")
        let prefix = (parent.name == "/" ? "" : parent.name) + "/handoff-\(getpid())-"
        #expect(names.allSatisfy { $0?.hasPrefix(prefix) == true } && Set(names).count == 1, "\(names)")
        let cgroup = try #require(names.first ?? nil)
        #expect(!FileManager.default.fileExists(atPath: parent.directory + String(cgroup.dropFirst(parent.name == "/" ? 0 : parent.name.count))),
                "the cgroup was removed")
    }

    /// A pid that no process has.
    func deadPid() -> pid_t {
        var pid: pid_t = 4_000_000
        while kill(pid, 0) == 0 || errno != ESRCH { pid -= 1 }
        return pid
    }

    @Test(.enabled(if: CgroupHierarchy.runnerCgroup != nil, "needs a writable cgroup2"))
    func aDeadRunnersCgroupIsKilledAndRemoved() throws {
        let parent = try #require(CgroupHierarchy.runnerCgroup)
        let cgroup = parent.directory + "/handoff-\(deadPid())-stale"
        #expect(mkdir(cgroup, 0o755) == 0)
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["300"]
        try sleeper.run()
        #expect(writeFile(cgroup + "/cgroup.procs", "\(sleeper.processIdentifier)"))
        StaleRuns.sweepCgroups(under: parent.directory)
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: cgroup))
    }

    @Test func staleCgroupsAreJudgedOnlyFromTheirRunnersPidNamespace() {
        let own = "pid:[1]"
        let namespaces: [pid_t: String] = [10: own, 11: "pid:[2]", 12: "pid:[2]"]
        let lookup: (pid_t) -> String? = { namespaces[$0] }
        #expect(StaleRuns.judgeable(members: [10, 11], namespaceOf: lookup, own: own), "root agent here, a child in its own namespace")
        #expect(!StaleRuns.judgeable(members: [11, 12], namespaceOf: lookup, own: own), "a container's processes: none in ours")
        #expect(!StaleRuns.judgeable(members: [10, 0], namespaceOf: lookup, own: own), "a member hidden from us")
        #expect(!StaleRuns.judgeable(members: [10], namespaceOf: lookup, own: nil))
        #expect(StaleRuns.judgeable(members: [], namespaceOf: lookup, own: own))
        // A wrong expectation fails: the container's members are not ours.
        #expect(StaleRuns.judgeable(members: [11], namespaceOf: lookup, own: own) == false)
    }

    @Test func containerIDsAreNeverTakenForScenarioCgroups() {
        let id = EnvironmentRun.containerID(runner: deadPid())
        #expect(StaleRuns.runnerPid(inName: id) == nil, "\(id)")
        #expect(StaleRuns.runnerPid(inName: "handoff-\(deadPid())-x") != nil)
    }

    /// The SIGKILL of `--in runc` (exit 137): a runner in another PID namespace sharing the cgroup tree took
    /// the container's cgroup for a dead run's and killed the container. A cgroup whose only member lives in
    /// another PID namespace is left alone, whatever its name says.
    @Test(.enabled(if: CgroupHierarchy.runnerCgroup != nil && SystemProbe.program(named: "unshare") != nil
                   && SystemProbe.heldCapabilities.contains("CAP_SYS_ADMIN"), "needs a writable cgroup2, unshare and CAP_SYS_ADMIN"))
    func aCgroupOfAnotherPidNamespaceIsLeftAlone() throws {
        let parent = try #require(CgroupHierarchy.runnerCgroup)
        let cgroup = parent.directory + "/handoff-\(deadPid())-foreign"
        #expect(mkdir(cgroup, 0o755) == 0)
        let wrapper = Process()
        wrapper.executableURL = URL(fileURLWithPath: try #require(SystemProbe.program(named: "unshare")))
        wrapper.arguments = ["--pid", "--fork", "--kill-child", "/bin/sleep", "300"]
        try wrapper.run()
        // The sleeper dies first (unshare then exits and is reaped): killing unshare first would orphan it
        // to the test process, a subreaper, as a zombie no one reaps.
        var inner: pid_t?
        defer {
            _ = writeFile(cgroup + "/cgroup.kill", "1")
            if let inner { kill(inner, SIGKILL) } else { kill(wrapper.processIdentifier, SIGKILL) }
            wrapper.waitUntilExit()
            let deadline = Deadline(secondsFromNow: 2)
            while CgroupHierarchy.isPopulated(cgroup) && !deadline.expired { usleep(1000) }
            rmdir(cgroup)
        }
        for _ in 0..<500 where inner == nil {
            inner = ProcessStatus.all().first { $0.parent == wrapper.processIdentifier }?.pid
            if inner == nil { usleep(2000) }
        }
        let sleeper = try #require(inner)
        #expect(writeFile(cgroup + "/cgroup.procs", "\(sleeper)"))
        StaleRuns.sweepCgroups(under: parent.directory)
        #expect(kill(sleeper, 0) == 0, "the other namespace's process lives")
        #expect(FileManager.default.fileExists(atPath: cgroup))
    }
}

final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
