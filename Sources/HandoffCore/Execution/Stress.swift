import Foundation
import Glibc
import HandoffProtocol

/// `handoff stress`: the suite over and over, in a seeded random order, in parallel, with the full oracle on
/// every run - and the runner's and the system's resources sampled between rounds, so that what only
/// shows over time (descriptors, processes, in-flight sockets that never go away) becomes a finding.
public struct StressOptions: Sendable {
    public var seconds: Double?
    public var rounds: Int?
    public var jobs: Int
    public var seed: UInt64
    public var execution: ExecutionOptions

    public init(seconds: Double?, rounds: Int?, jobs: Int, seed: UInt64, execution: ExecutionOptions) {
        self.seconds = seconds
        self.rounds = rounds
        self.jobs = jobs
        self.seed = seed
        self.execution = execution
    }
}

/// Resource counts at one moment.
public struct ResourceSample: Codable, Sendable, Equatable {
    public var seconds: Double
    public var round: Int
    /// Descriptors open in the runner itself.
    public var runnerDescriptors: Int
    /// The runner's resident set, KiB.
    public var runnerResidentKiB: Int
    /// Live (non-zombie) agent processes descended from the runner (other runs' agents do not count), and
    /// the runner's unreaped children.
    public var agents: Int
    public var runnerChildren: Int
    /// /proc/sys/fs/file-nr: open file handles system-wide.
    public var fileHandles: Int
    /// Unix sockets in /proc/net/unix (in-flight descriptors the garbage collector never released show here).
    public var unixSockets: Int

    public static func take(seconds: Double, round: Int) -> ResourceSample {
        let descriptors = directoryNames("/proc/self/fd")?.count ?? -1
        let statm = (Observer.readSmallFile("/proc/self/statm") ?? "").split(separator: " ")
        let resident = statm.count > 1 ? (Int(statm[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024 : -1
        let fileNr = (Observer.readSmallFile("/proc/sys/fs/file-nr") ?? "").split(whereSeparator: \.isWhitespace)
        let unix = (try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8))?.split(separator: "\n").count ?? 1
        let (agents, children) = processCounts()
        return ResourceSample(seconds: seconds, round: round, runnerDescriptors: descriptors - 1,  // minus the listing's own
                              runnerResidentKiB: resident, agents: agents, runnerChildren: children,
                              fileHandles: Int(fileNr.first ?? "") ?? -1, unixSockets: unix - 1)
    }

    static func processCounts() -> (agents: Int, children: Int) {
        let (agents, children) = agentsAndChildren()
        return (agents.count, children.count)
    }

    /// Live agents descended from this process, and its children (zombies included).
    static func agentsAndChildren() -> (agents: [pid_t], children: [pid_t]) {
        let me = getpid()
        let processes = ProcessStatus.all()
        let parents = Dictionary(processes.map { ($0.pid, $0.parent) }, uniquingKeysWith: { first, _ in first })
        let liveAgents = processes.filter { $0.isAgent && !$0.isZombie }.map(\.pid)
        let children = processes.filter { $0.parent == me }.map(\.pid)
        func descendsFromRunner(_ pid: pid_t) -> Bool {
            var current = pid
            for _ in 0..<64 {
                guard let parent = parents[current], parent > 1 else { return false }
                if parent == me { return true }
                current = parent
            }
            return false
        }
        return (liveAgents.filter(descendsFromRunner), children)
    }
}

public struct StressFailure: Codable, Sendable {
    public var round: Int
    public var scenario: String
    public var status: ScenarioStatus
    public var diff: String
}

public struct StressReport: Codable, Sendable {
    public var seed: UInt64
    public var rounds: Int
    public var runs: Int
    public var durationSeconds: Double
    public var failures: [StressFailure]
    public var samples: [ResourceSample]
    /// Resources that grew over the run and did not come back: each is a finding.
    public var leaks: [String]
    /// Scenarios per second and steps per second over the whole run.
    public var scenariosPerSecond: Double
    public var stepsPerSecond: Double
    /// Per operation kind: count and p50/p90/p99/max of the in-agent syscall time, nanoseconds (bucket lower
    /// bounds: within 12.5 %).
    public var latency: [String: [String: Double]]

    public var succeeded: Bool { failures.isEmpty && leaks.isEmpty }
}

/// A small, seedable generator (SplitMix64): the same seed gives the same order on every machine.
public struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

public enum Stress {
    /// Runs rounds until the time or the round count is reached (or an interrupt). `progress` is told about
    /// each round as it ends.
    public static func run(_ scenarios: [Scenario], options: StressOptions,
                           progress: @escaping @Sendable (Int, [ScenarioResult], ResourceSample) -> Void = { _, _, _ in })
        -> StressReport
    {
        let started = monotonicNow()
        func elapsed() -> Double { Double(monotonicNow() - started) / 1e9 }
        var generator = SeededGenerator(seed: options.seed)
        // libdispatch opens its event loop's descriptors (an epoll, an eventfd, a timerfd) the first time
        // something needs its manager - a timer in a round, sometimes: open them before the baseline is
        // taken, or a clean run shows three "leaked" descriptors after round 1 (found by a hostile round).
        let warmed = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(1)) { warmed.signal() }
        warmed.wait()
        var samples = [ResourceSample.take(seconds: 0, round: 0)]
        var failures: [StressFailure] = []
        // Latency per operation kind in fixed-size histograms, so that memory stays flat however long it runs.
        var histograms: [String: [UInt64]] = [:]
        var runs = 0, steps = 0, round = 0
        // Nothing to run is no round at all (not a loop that spins for the whole duration).
        while !ActiveRuns.shared.isInterrupted && !scenarios.isEmpty {
            if let rounds = options.rounds, round >= rounds { break }
            if let seconds = options.seconds, elapsed() >= seconds, round > 0 { break }
            round += 1
            let order = scenarios.shuffled(using: &generator)
            let results = Suite.run(order, options: options.execution, jobs: options.jobs)
            for result in results {
                runs += 1
                steps += result.steps.count
                if result.status == .fail || result.status == .error || result.status == .timeout {
                    failures.append(StressFailure(round: round, scenario: result.name, status: result.status, diff: result.diff))
                }
                for step in result.steps {
                    guard let nanoseconds = step.syscallNanoseconds, let dot = step.operation.lastIndex(of: ".") else { continue }
                    let kind = String(step.operation[step.operation.index(after: dot)...])
                    histograms[kind, default: [UInt64](repeating: 0, count: LatencyBuckets.count)][LatencyBuckets.bucket(nanoseconds)] += 1
                }
            }
            let sample = ResourceSample.take(seconds: elapsed(), round: round)
            samples.append(sample)
            progress(round, results, sample)
        }
        let duration = elapsed()
        var latency: [String: [String: Double]] = [:]
        for (operation, buckets) in histograms {
            let stats = LoopRecord.Operation(step: 0, operation: operation, buckets: buckets.enumerated().filter { $0.element > 0 }
                .map { LoopRecord.Bucket(lowerBoundNanoseconds: LatencyBuckets.lowerBound($0.offset), count: $0.element) })
            latency[operation] = ["count": Double(stats.count), "p50": Double(stats.p50Nanoseconds),
                                  "p90": Double(stats.p90Nanoseconds), "p99": Double(stats.p99Nanoseconds),
                                  "max": Double(stats.maxNanoseconds)]
        }
        return StressReport(seed: options.seed, rounds: round, runs: runs, durationSeconds: duration, failures: failures,
                            samples: samples, leaks: leaks(in: samples), scenariosPerSecond: Double(runs) / max(duration, 1e-9),
                            stepsPerSecond: Double(steps) / max(duration, 1e-9), latency: latency)
    }

    /// Growth that does not return. Between rounds nothing of the harness may remain: the runner's own
    /// descriptors, agents and unreaped children must be back exactly where they started. System-wide counts
    /// (file handles, unix sockets) move with everything else on the machine, so they count as leaking only
    /// when even their lowest value over the last third of the run stays well above the start.
    static func leaks(in samples: [ResourceSample]) -> [String] {
        guard let first = samples.first, samples.count >= 2 else { return [] }
        var leaks: [String] = []
        let rounds = samples.dropFirst()
        if let worst = rounds.max(by: { $0.runnerDescriptors < $1.runnerDescriptors }), worst.runnerDescriptors > first.runnerDescriptors {
            leaks.append("runner descriptors: \(first.runnerDescriptors) at the start, \(worst.runnerDescriptors) after round \(worst.round)")
        }
        if let worst = rounds.max(by: { $0.agents < $1.agents }), worst.agents > first.agents {
            leaks.append("agent processes: \(first.agents) at the start, \(worst.agents) alive after round \(worst.round)")
        }
        if let worst = rounds.max(by: { $0.runnerChildren < $1.runnerChildren }), worst.runnerChildren > first.runnerChildren {
            leaks.append("unreaped children: \(first.runnerChildren) at the start, \(worst.runnerChildren) after round \(worst.round)")
        }
        let tail = samples.suffix(max(1, samples.count / 3))
        let tolerance = 256
        if let low = tail.map(\.fileHandles).min(), low > first.fileHandles + tolerance {
            leaks.append("system file handles: \(first.fileHandles) at the start, never below \(low) over the last rounds")
        }
        if let low = tail.map(\.unixSockets).min(), low > first.unixSockets + tolerance / 4 {
            leaks.append("unix sockets: \(first.unixSockets) at the start, never below \(low) over the last rounds")
        }
        // The runner's RSS settles after warm-up; a steady climb over the second half is a leak.
        let half = Array(samples.suffix(samples.count / 2))
        if half.count >= 4, let start = half.first?.runnerResidentKiB, let end = half.last?.runnerResidentKiB,
            end > start + 16 * 1024
        {
            leaks.append("runner RSS: grew from \(start) KiB to \(end) KiB over the second half of the run")
        }
        return leaks
    }
}
