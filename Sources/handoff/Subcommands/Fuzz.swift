import ArgumentParser
import Foundation
import HandoffCore

struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Random scenarios against the model, each failure shrunk to a minimal YAML reproducer.",
        discussion: """
            Scenarios are generated from the operations' declarations (weighted toward fork-then-send, exec after \
            dup2, sockets passed over themselves, limits) and judged after every step by the same oracle as \
            `handoff run`. A failing scenario is shrunk (fewer processes, steps and arguments, same finding) and \
            written as finding-N.yaml in the report folder, which `handoff run` reproduces. A finding is a kernel \
            difference or a model error: read the repro to decide which. Exit 1 when anything was found.
            """)

    @Option(help: "The run's seed (printed when not given); the same seed generates the same scenarios.")
    var seed: UInt64?

    @Option(help: "How long to run (60, 60s, 10m). Without --duration or --count: 30s.")
    var duration: String?

    @Option(help: "How many scenarios to run.")
    var count: Int?

    @Option(help: "Scenarios run in parallel.")
    var jobs: Int = 2

    @Option(help: "Only these operations, comma-separated keywords (see `handoff operations`).")
    var ops: String?

    @Option(help: "Processes per scenario, main included.")
    var maxProcesses: Int = 4

    @Option(help: "Steps per scenario.")
    var maxSteps: Int = 24

    @Option(help: "Candidate runs the shrinker may spend on one finding.")
    var shrinkBudget: Int = 600

    @Option(help: "Where fuzz.json, fuzz.md, fuzz.html and the finding-N.yaml repros go.")
    var report: String = "reports/fuzz"

    @Option(help: "Where each scenario's private directory is made (default: $TMPDIR, else /tmp).")
    var workdir: String?

    @Flag(name: .customLong("print"), help: "Print the scenarios --seed and --count generate (YAML), without running them.")
    var printOnly = false

    @OptionGroup var agentSelection: AgentSelection

    @Option(name: .customLong("break-model"), help: ArgumentHelp(
        "Break a model rule on purpose to show it is found (dup2-keeps-cloexec, fork-drops-cloexec, fifo-open-misses-partner).", visibility: .hidden))
    var brokenRules: [BrokenModelRule] = []

    var seconds: Double? { duration.flatMap(Limits.seconds(in:)) }

    var operations: Set<OperationKind>? {
        guard let ops else { return nil }
        return Set(ops.split(separator: ",").compactMap { OperationKind(rawValue: $0.trimmingCharacters(in: .whitespaces)) })
    }

    func validate() throws {
        if let duration {
            guard let seconds, seconds > 0, seconds <= Limits.maximumDuration else {
                throw ValidationError("--duration must be a positive time of at most 7 days, such as 60s or 10m, not '\(duration)'")
            }
        }
        if let count, !(1...10_000_000).contains(count) { throw ValidationError("--count must be between 1 and 10000000") }
        try Limits.checkJobs(jobs)
        // Not for --print, which makes no directory.
        if !printOnly { try Limits.checkWorkDirectory(workdir) }
        guard (1...16).contains(maxProcesses) else { throw ValidationError("--max-processes must be between 1 and 16") }
        guard (1...200).contains(maxSteps) else { throw ValidationError("--max-steps must be between 1 and 200") }
        guard (1...100_000).contains(shrinkBudget) else { throw ValidationError("--shrink-budget must be between 1 and 100000") }
        if let ops {
            let words = ops.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            for word in words where OperationKind(rawValue: word) == nil || FuzzLimits.excluded.contains(OperationKind(rawValue: word)!) {
                throw ValidationError("--ops: '\(word)' is not an operation the fuzzer draws (one of: "
                    + OperationKind.allCases.filter { !FuzzLimits.excluded.contains($0) }.map(\.keyword).joined(separator: ", ") + ")")
            }
            // `--ops read` alone can draw nothing (a read needs a descriptor none of them makes): say so rather
            // than run no scenario.
            let limits = FuzzLimits(operations: operations, maxProcesses: maxProcesses, maxSteps: maxSteps)
            let available = Fuzzer.availableOperations()
            if (0..<16).allSatisfy({ FuzzGenerator.program(seed: UInt64($0), limits: limits, available: available).steps.isEmpty }) {
                throw ValidationError("--ops \(ops): no scenario can be built from these operations alone (they need a "
                    + "descriptor or a process none of them creates); add one that makes it, e.g. open, pipe, socketpair or fork")
            }
        }
    }

    func run() throws {
        if printOnly {
            guard let count, let seed else { throw ValidationError("--print needs --seed and --count") }
            let limits = FuzzLimits(operations: operations, maxProcesses: maxProcesses, maxSteps: maxSteps)
            let available = Fuzzer.availableOperations()
            for index in 0..<count {
                let caseSeed = Fuzzer.caseSeed(seed, index)
                let program = FuzzGenerator.program(seed: caseSeed, limits: limits, available: available)
                Swift.print("--- # case \(index) (seed \(caseSeed))")
                Swift.print(program.yaml(summary: "fuzz case \(index)"), terminator: "")
            }
            return
        }
        if let problem = ActiveRuns.installInterruptHandler(onSignal: { signal in
            printError("handoff fuzz: signal \(signal): stopping")
        }) {
            printError("handoff fuzz: \(problem); an interrupt will not clean up")
        }
        let agent = try agentSelection.resolve()
        try prepareReportDirectory(report)
        let seed = self.seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        var execution = agentSelection.executionOptions(agent, timeout: 10, workDirectory: workdir)
        execution.brokenModelRules = Set(brokenRules)
        let limits = FuzzLimits(operations: operations, maxProcesses: maxProcesses, maxSteps: maxSteps)
        let options = FuzzOptions(seed: seed, count: count, seconds: count == nil && seconds == nil ? 30 : seconds, jobs: jobs,
                                  limits: limits, execution: execution, reportDirectory: report, shrinkBudget: shrinkBudget)
        print("fuzz: seed \(seed), " + (count.map { "\($0) scenarios" } ?? "for \(Int(options.seconds ?? 30)) s")
            + ", \(jobs) jobs" + (brokenRules.isEmpty ? "" : ", model broken on purpose: "
            + brokenRules.map(\.rawValue).joined(separator: ", ")))
        var shown = 0
        let result = Fuzzer.run(options) { report in
            for finding in report.findings.dropFirst(shown) {
                print("FINDING \(Console.printable(finding.summary))")
                print("  case \(finding.index) (seed \(finding.seed)): \(finding.originalSteps) steps shrunk to "
                    + "\(finding.shrunkSteps) in \(finding.shrinkRuns) runs; repro: \(self.report)/\(finding.repro)")
            }
            shown = report.findings.count
            fflush(nil)
        }
        var writeFailure: String?
        do {
            try result.write(to: report)
        } catch {
            writeFailure = Console.printable("handoff fuzz: cannot write reports to \(report): \(error)")
        }
        print(String(format: "fuzz: %d scenarios in %.1f s (%.1f/s, %.0f steps/s): %d passed, %d failed, %d skipped, "
            + "%d not judged, %d discarded, %d refused by the parser; %d of %d operations ran, %d pairs; %d finding%@",
            result.scenarios, result.durationSeconds, result.scenariosPerSecond, result.stepsPerSecond, result.passed,
            result.failed, result.skipped, result.errors, result.discarded, result.invalid, result.operationCounts.count,
            result.operations.count, result.pairs.count, result.findings.count, result.findings.count == 1 ? "" : "s"))
        for sample in result.errorSamples.prefix(3) { print("  not judged: \(Console.printable(sample))") }
        for sample in result.invalidSamples.prefix(3) { print("  refused (a generator bug): \(Console.printable(sample))") }
        if let writeFailure { printError(writeFailure) }
        if ActiveRuns.shared.isInterrupted { throw ExitCode(130) }
        if writeFailure != nil { throw ExitCode(2) }
        if !result.findings.isEmpty || result.errors > 0 || result.invalid > 0 { throw ExitCode(1) }
        // Nothing judged is not a green run (a --duration too short for one batch, or nothing drawable).
        if result.scenarios == 0 {
            printError("handoff fuzz: no scenario was run" + (result.discarded > 0 ? " (\(result.discarded) discarded)" : ""))
            throw ExitCode(2)
        }
    }
}

extension BrokenModelRule: ExpressibleByArgument {}
