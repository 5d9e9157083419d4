import CHandoff
import Foundation
import Glibc

/// Scenarios found and parsed from the command line's paths, and what could not be parsed.
public struct SuiteLoad: Sendable {
    public var scenarios: [Scenario]
    public var errors: [ScenarioError]
}

public struct SelectionOptions: Sendable {
    /// Substring of the scenario name.
    public var filter: String?
    /// Keep scenarios carrying any of these tags (none: keep all).
    public var tags: [String]

    public init(filter: String? = nil, tags: [String] = []) {
        self.filter = filter
        self.tags = tags
    }
}

public enum Suite {
    /// Finds, parses and validates every scenario under `paths`, then applies the selection.
    public static func load(_ paths: [String], selection: SelectionOptions = .init()) -> SuiteLoad {
        var scenarios: [Scenario] = []
        var errors: [ScenarioError] = []
        let files: [(path: String, root: String?)]
        do {
            files = try ScenarioDiscovery.find(paths)
        } catch {
            return SuiteLoad(scenarios: [], errors: [error])
        }
        for file in files {
            do {
                scenarios += try ScenarioParser.loadAll(path: file.path, root: file.root)
            } catch {
                errors.append(error)
            }
        }
        scenarios = scenarios.filter { scenario in
            (selection.filter.map { scenario.name.contains($0) } ?? true)
                && (selection.tags.isEmpty || !Set(selection.tags).isDisjoint(with: scenario.tags))
        }
        return SuiteLoad(scenarios: scenarios, errors: errors)
    }

    /// Where handoff-agent is: $HANDOFF_AGENT, or beside the running executable.
    public static func defaultAgentPath() -> String {
        if let path = ProcessInfo.processInfo.environment["HANDOFF_AGENT"], !path.isEmpty { return path }
        let executable = Observer.readLink("/proc/self/exe") ?? CommandLine.arguments[0]
        return (executable as NSString).deletingLastPathComponent + "/handoff-agent"
    }

    /// Runs the scenarios on `jobs` threads (each scenario is independent) and returns their results in
    /// input order. `progress` is called, serialized, as each scenario ends.
    public static func run(_ scenarios: [Scenario], options: ExecutionOptions, jobs: Int = 1,
                           progress: @escaping @Sendable (ScenarioResult) -> Void = { _ in }) -> [ScenarioResult] {
        // Orphaned agents re-parent to the runner, which reaps them: nothing of a run outlives it.
        _ = handoff_set_child_subreaper()
        let state = SuiteState(count: scenarios.count)
        let workers = max(1, min(jobs, scenarios.count))
        let finished = DispatchSemaphore(value: 0)
        for _ in 0..<workers {
            // Each root agent dies with the thread that spawned it (PR_SET_PDEATHSIG follows the thread), so
            // a worker thread lives until its last scenario has been torn down.
            let thread = Thread {
                while let index = state.next() {
                    let scenario = scenarios[index]
                    let result: ScenarioResult
                    if ActiveRuns.shared.isInterrupted {
                        result = ScenarioResult(name: scenario.name, file: scenario.file, summary: scenario.summary,
                                                tags: scenario.tags, status: .error, reason: "interrupted before it ran")
                    } else if let reason = SystemProbe.unmet(scenario) {
                        result = ScenarioResult(name: scenario.name, file: scenario.file, summary: scenario.summary,
                                                tags: scenario.tags, status: .skip, reason: reason)
                    } else {
                        result = ScenarioExecution(scenario: scenario, options: options).run(
                            register: ActiveRuns.shared.add, unregister: ActiveRuns.shared.remove)
                    }
                    state.finish(index, result, progress)
                }
                finished.signal()
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
        for _ in 0..<workers { finished.wait() }
        reapStrayAgents()
        return state.results.map { $0! }
    }

    /// Agents no scenario adopted (a launcher under test may start more than a scenario attaches) die with
    /// their launcher and are re-parented to the runner: reap those zombies so that nothing is left.
    static func reapStrayAgents() {
        let me = getpid()
        for process in ProcessStatus.all() where process.isZombie && process.parent == me && process.isAgent {
            var status: Int32 = 0
            waitpid(process.pid, &status, WNOHANG)
        }
    }
}

private final class SuiteState: @unchecked Sendable {
    private let lock = NSLock()
    private var nextIndex = 0
    private let count: Int
    var results: [ScenarioResult?]

    init(count: Int) {
        self.count = count
        results = Array(repeating: nil, count: count)
    }

    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        if nextIndex >= count { return nil }
        nextIndex += 1
        return nextIndex - 1
    }

    func finish(_ index: Int, _ result: ScenarioResult, _ progress: (ScenarioResult) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        results[index] = result
        progress(result)
    }
}

/// The process trees running now, so that an interrupt can end them all.
public final class ActiveRuns: @unchecked Sendable {
    public static let shared = ActiveRuns()
    private let lock = NSLock()
    private var trees: [ObjectIdentifier: ProcessTree] = [:]
    private var interrupted = false

    func add(_ tree: ProcessTree) {
        lock.lock()
        trees[ObjectIdentifier(tree)] = tree
        let kill = interrupted
        lock.unlock()
        if kill { tree.killAll(markInterrupted: true) }
    }

    func remove(_ tree: ProcessTree) {
        lock.lock()
        trees[ObjectIdentifier(tree)] = nil
        lock.unlock()
    }

    public var isInterrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return interrupted
    }

    /// Kills every agent of every running scenario; the scenarios then end as `error: interrupted` and
    /// tear down normally (reaping everything).
    public func interrupt() {
        lock.lock()
        interrupted = true
        let all = Array(trees.values)
        lock.unlock()
        for tree in all { tree.killAll(markInterrupted: true) }
    }

    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and its future threads, and takes them on a
    /// dedicated thread that calls interrupt(). Call it first thing, before any other thread exists.
    public static func installInterruptHandler(onSignal: @escaping @Sendable (Int32) -> Void) {
        _ = handoff_block_termination_signals()
        let thread = Thread {
            while true {
                let signal = handoff_wait_termination_signal()
                if signal <= 0 { continue }
                ActiveRuns.shared.interrupt()
                onSignal(signal)
            }
        }
        thread.start()
    }
}
