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
        // Files are parsed in parallel, results kept in file order. Parsing is the runner's largest start-up
        // cost, and under qemu's TCG (`run --kernel`) it took 7 s of a 2-CPU guest's time on one CPU.
        let parsed = ParsedFiles(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            let file = files[index]
            do throws(ScenarioError) {
                parsed.set(index, .success(try ScenarioParser.loadAll(path: file.path, root: file.root)))
            } catch {
                parsed.set(index, .failure(error))
            }
        }
        // Reports key cases by name: two cases of one name (two files named alike under different roots, a
        // matrix with a value twice) made a report that merge and compare then refused.
        var firstFile: [String: String] = [:]
        for (index, result) in parsed.results.enumerated() {
            switch result {
            case .success(let loaded):
                for scenario in loaded {
                    if let earlier = firstFile[scenario.name] {
                        let what = earlier == files[index].path ? "a matrix value that repeats"
                            : "the same name as \(earlier) (run them from a folder both are under)"
                        errors.append(ScenarioError(SourceLocation(file: files[index].path, line: 0, column: 0),
                                                    "case '\(scenario.name)' twice in this run: \(what)"))
                        continue
                    }
                    firstFile[scenario.name] = files[index].path
                    scenarios.append(scenario)
                }
            case .failure(let error): errors.append(error)
            case nil: break
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
    /// input order. `progress` is called, serialized, as each scenario ends. Scenario directories and
    /// cgroups that SIGKILLed runs left behind are removed first. When not even one worker thread can be
    /// created (RLIMIT_NPROC), every scenario is an error saying so.
    public static func run(_ scenarios: [Scenario], options: ExecutionOptions, jobs: Int = 1,
                           progress: @escaping @Sendable (ScenarioResult) -> Void = { _ in }) -> [ScenarioResult] {
        // Orphaned agents re-parent to the runner, which reaps them: nothing of a run outlives it.
        _ = handoff_set_child_subreaper()
        StaleRuns.sweepOnce(base: ScenarioDirectory.base(options.workDirectory))
        let state = SuiteState(count: scenarios.count)
        let workers = max(1, min(jobs, scenarios.count))
        let finished = DispatchSemaphore(value: 0)
        var started = 0
        var failure: Int32 = 0
        // Several workers each keep to one CPU (the n-th they may use, modulo their count), and so do the agents
        // they spawn, which inherit the mask: a step's request and answer then wake a process on the same CPU.
        // Under qemu's TCG a wake-up across virtual CPUs is an emulated interrupt, and this took the catalog's
        // kernel run at two jobs from 38 to 27-29 s. On the host it moves the catalog by a tenth either way
        // (two jobs a little faster, four a little slower: docs/kernels.md).
        let pin = workers > 1
        for worker in 0..<workers {
            // Each root agent dies with the thread that spawned it (PR_SET_PDEATHSIG follows the thread), so
            // a worker thread lives until its last scenario has been torn down.
            failure = startThread(stackSize: 4 << 20) {
                if pin { _ = handoff_pin_thread_to_nth_cpu(Int32(worker)) }
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
            if failure != 0 { break }
            started += 1
        }
        if started == 0 {
            // A harness limit, not a finding: nothing of the scenarios ran.
            let reason = "the runner cannot create a worker thread: \(HarnessError.system(call: "pthread_create", errno: failure))"
            while let index = state.next() {
                let scenario = scenarios[index]
                state.finish(index, ScenarioResult(name: scenario.name, file: scenario.file, summary: scenario.summary,
                                                   tags: scenario.tags, status: .error, reason: reason), progress)
            }
        }
        for _ in 0..<started { finished.wait() }
        reapStrays()
        return state.results.map { $0! }
    }

    /// Agents no scenario adopted (a launcher under test may start more than a scenario attaches) die with
    /// their launcher and are re-parented to the runner, and so may a scenario process that became a
    /// zombie only after its scenario's teardown: reap those zombies so that nothing is left.
    static func reapStrays() {
        let me = getpid()
        for process in ProcessStatus.all() where process.isZombie && process.parent == me && process.isAgent {
            var status: Int32 = 0
            waitpid(process.pid, &status, WNOHANG)
        }
        Containment.reapZombies(where: { $0.split(separator: "/").last?.hasPrefix("handoff-\(me)-") == true })
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

/// Per-file parse results written by concurrent workers, one slot each.
private final class ParsedFiles: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var results: [Result<[Scenario], ScenarioError>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<[Scenario], ScenarioError>) {
        lock.lock()
        results[index] = result
        lock.unlock()
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
    /// Returns why not when the thread cannot be created (the signals are then left to kill the runner).
    @discardableResult
    public static func installInterruptHandler(onSignal: @escaping @Sendable (Int32) -> Void) -> String? {
        _ = handoff_block_termination_signals()
        let failure = startThread(stackSize: 1 << 20) {
            while true {
                let signal = handoff_wait_termination_signal()
                if signal <= 0 { continue }
                ActiveRuns.shared.interrupt()
                onSignal(signal)
            }
        }
        if failure == 0 { return nil }
        _ = handoff_unblock_termination_signals()
        return "cannot create the signal thread: \(HarnessError.system(call: "pthread_create", errno: failure))"
    }
}

/// Starts a detached thread running `body`. Returns 0, or pthread_create's error (EAGAIN at RLIMIT_NPROC):
/// unlike Foundation's Thread, whose start() fails silently and leaves the caller waiting forever.
func startThread(stackSize: Int, _ body: @escaping @Sendable () -> Void) -> Int32 {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackSize)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, &attributes, { context in
        Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, context)
    if result != 0 { Unmanaged<ThreadBody>.fromOpaque(context).release() }
    return result
}

private final class ThreadBody: @unchecked Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
