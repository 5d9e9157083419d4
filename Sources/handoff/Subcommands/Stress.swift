import ArgumentParser
import Foundation
import HandoffCore

struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Run scenarios over and over, in a seeded random order, watching for leaks over time.",
        discussion: """
            Every run keeps the full oracle. Between rounds the runner's descriptors, RSS and children, the agents \
            alive, /proc/sys/fs/file-nr and the unix sockets are sampled; growth that does not return is a leak. \
            A failure prints the round and the seed to reproduce it. Exit 1 on any failure or leak.
            """)

    @OptionGroup var selection: ScenarioSelection
    @OptionGroup var agentSelection: AgentSelection
    @OptionGroup var sandboxSelection: SandboxSelection

    @Option(help: "How long to run, in seconds (suffix s or m accepted: 60s, 10m).")
    var duration: String?

    @Option(help: "How many rounds (each runs every selected scenario once).")
    var iterations: Int?

    @Option(help: "Scenarios run in parallel.")
    var jobs: Int = 2

    @Option(help: "The seed of the order (printed when not given).")
    var seed: UInt64?

    @Option(help: "Seconds before a scenario's process tree is killed.")
    var timeout: Double = 10

    @Option(help: "Where stress.json goes.")
    var report: String = "reports/stress"

    @Option(help: "Where each scenario's private directory is made (default: $TMPDIR, else /tmp).")
    var workdir: String?

    var seconds: Double? {
        duration.flatMap(Limits.seconds(in:))
    }

    func validate() throws {
        if duration != nil {
            // NaN and infinities fail the comparisons.
            guard let seconds, seconds > 0, seconds <= Limits.maximumDuration else {
                throw ValidationError("--duration must be a positive time of at most 7 days (\(Int(Limits.maximumDuration)) s), "
                    + "such as 60s or 10m, not '\(duration!)'")
            }
        }
        if let iterations, iterations < 1 { throw ValidationError("--iterations must be at least 1") }
        try Limits.checkJobs(jobs)
        try Limits.checkTimeout(timeout)
        try Limits.checkWorkDirectory(workdir)
    }

    func run() throws {
        if let problem = ActiveRuns.installInterruptHandler(onSignal: { signal in
            printError("handoff: signal \(signal): stopping the stress run")
        }) {
            printError("handoff: \(problem); an interrupt will not clean up")
        }
        let scenarios = try selection.loadSome(toDo: "stress")
        let agent = try agentSelection.resolve()
        // Before the run: an unwritable --report must not cost the whole duration.
        try prepareReportDirectory(report)
        let seed = self.seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        let rounds = iterations ?? (seconds == nil ? 1 : nil)
        print("stress: \(scenarios.count) scenarios, seed \(seed), "
            + (seconds.map { "for \(Int($0)) s" } ?? "\(rounds ?? 1) rounds") + ", \(jobs) jobs")
        var execution = agentSelection.executionOptions(agent, timeout: timeout, workDirectory: workdir)
        execution.launcherSandbox = try sandboxSelection.resolve(for: scenarios).sandbox
        let options = StressOptions(seconds: seconds, rounds: rounds, jobs: jobs, seed: seed, execution: execution)
        let stress = Stress.run(scenarios, options: options) { round, results, sample in
            let bad = results.filter { $0.status == .fail || $0.status == .error || $0.status == .timeout }
            for result in bad {
                // ERROR and TIMEOUT as `run` prints them: the harness's failures are not the kernel's.
                print("\(result.status.rawValue.uppercased()) \(Console.printable(result.name)) in round \(round) "
                    + "(reproduce: the same command with --seed \(seed) --iterations \(round))")
                print(Console.indented(result.diff))
            }
            print("round \(round): \(results.count - bad.count)/\(results.count) passed; runner fds \(sample.runnerDescriptors), "
                + "RSS \(sample.runnerResidentKiB) KiB, agents \(sample.agents), file-nr \(sample.fileHandles), "
                + "unix sockets \(sample.unixSockets)")
            fflush(nil)
        }
        var writeFailure: String?
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try ReportFiles.write(try encoder.encode(stress), to: report + "/stress.json")
        } catch {
            writeFailure = Console.printable("handoff stress: cannot write reports to \(report): \(error)")
        }
        print(String(format: "%d rounds, %d runs in %.1f s: %.1f scenarios/s, %.0f steps/s", stress.rounds, stress.runs,
                     stress.durationSeconds, stress.scenariosPerSecond, stress.stepsPerSecond))
        for operation in stress.latency.keys.sorted() {
            let stats = stress.latency[operation]!
            print("  " + operation.padding(toLength: 16, withPad: " ", startingAt: 0)
                + String(format: "n=%-7.0f p50 %7.1f µs  p90 %7.1f µs  p99 %7.1f µs  max %8.1f µs", stats["count"]!,
                         stats["p50"]! / 1000, stats["p90"]! / 1000, stats["p99"]! / 1000, stats["max"]! / 1000))
        }
        for leak in stress.leaks { print("LEAK-OVER-TIME \(leak)") }
        if let writeFailure { printError(writeFailure) }
        print(stress.succeeded ? "stress: clean (seed \(seed))" : "stress: \(stress.failures.count) failures, "
            + "\(stress.leaks.count) leaks (seed \(seed))")
        if ActiveRuns.shared.isInterrupted { throw ExitCode(130) }
        if writeFailure != nil { throw ExitCode(2) }
        if !stress.succeeded { throw ExitCode(1) }
    }
}
