import Foundation
import Glibc

/// `handoff fuzz`: random scenarios generated from the operations' declarations, each judged step by step
/// by the same oracle as `handoff run`. A failing one is shrunk to a minimal scenario, written as YAML that
/// `handoff run` reproduces; a finding is then a kernel difference or a model error, decided by reading it.
public struct FuzzOptions: Sendable {
    public var seed: UInt64
    /// Stop after this many scenarios, or after this many seconds (whichever is set; both: the first).
    public var count: Int?
    public var seconds: Double?
    public var jobs: Int
    public var limits: FuzzLimits
    public var execution: ExecutionOptions
    /// Where repro files go (`finding-N.yaml`).
    public var reportDirectory: String
    /// Candidate runs the shrinker may spend per finding.
    public var shrinkBudget: Int
    /// Distinct findings (by signature) shrunk; more of the same are counted.
    public var maxFindings: Int

    public init(seed: UInt64, count: Int?, seconds: Double?, jobs: Int, limits: FuzzLimits, execution: ExecutionOptions,
                reportDirectory: String, shrinkBudget: Int = 600, maxFindings: Int = 10) {
        self.seed = seed
        self.count = count
        self.seconds = seconds
        self.jobs = jobs
        self.limits = limits
        self.execution = execution
        self.reportDirectory = reportDirectory
        self.shrinkBudget = shrinkBudget
        self.maxFindings = maxFindings
    }
}

public enum Fuzzer {
    /// The seed of the `index`-th scenario of a run: a repro names it, and the same run seed gives the same
    /// scenarios whatever `--jobs` is.
    public static func caseSeed(_ seed: UInt64, _ index: Int) -> UInt64 {
        var generator = SeededGenerator(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        return generator.next()
    }

    /// The operations whose system needs are met here: the others would only be skipped.
    public static func availableOperations() -> Set<OperationKind> {
        Set(OperationKind.allCases.filter { kind in
            kind.declaration.needs.syscalls.allSatisfy { SystemProbe.syscallProblem($0) == nil }
        })
    }

    /// Runs until the count or the time is reached (or an interrupt); `progress` hears about each batch.
    public static func run(_ options: FuzzOptions, progress: (FuzzReport) -> Void = { _ in }) -> FuzzReport {
        let started = monotonicSeconds()
        let available = availableOperations()
        var report = FuzzReport(seed: options.seed, limits: options.limits, available: available,
                                broken: options.execution.brokenModelRules)
        var index = 0
        let batchSize = max(2, options.jobs * 8)
        func done() -> Bool {
            if ActiveRuns.shared.isInterrupted { return true }
            if let count = options.count, index >= count { return true }
            if let seconds = options.seconds, monotonicSeconds() - started >= seconds { return true }
            return options.count == nil && options.seconds == nil
        }
        while !done() {
            var size = batchSize
            if let count = options.count { size = min(size, count - index) }
            var programs: [FuzzProgram] = []
            var caseIndexes: [Int] = []
            var scenarios: [Scenario] = []
            for offset in 0..<size {
                let program = FuzzGenerator.program(seed: caseSeed(options.seed, index + offset), limits: options.limits,
                                                    available: available)
                // No step could be drawn (operations that all need something none of them creates): nothing to
                // run, and not the parser's refusal of a generator mistake.
                if program.steps.isEmpty {
                    report.discarded += 1
                    report.discardCauses["no step could be drawn", default: 0] += 1
                    continue
                }
                let scenario: Scenario
                switch program.parse(name: "fuzz-\(index + offset)") {
                case .success(let parsed):
                    scenario = parsed
                case .failure(let error):
                    // The generator's own mistake: reported with the parser's reason, never run.
                    report.invalid += 1
                    if report.invalidSamples.count < 5 { report.invalidSamples.append("seed \(program.seed): \(error)") }
                    continue
                }
                programs.append(program)
                caseIndexes.append(index + offset)
                scenarios.append(scenario)
            }
            index += size
            let results = Suite.run(scenarios, options: options.execution, jobs: options.jobs)
            for (position, result) in results.enumerated() {
                report.count(result)
                guard let signature = FindingSignature(result) else { continue }
                if report.findings.contains(where: { $0.signature == signature }) || report.findings.count >= options.maxFindings {
                    report.repeatedFindings += 1
                    continue
                }
                report.findings.append(shrink(programs[position], caseIndex: caseIndexes[position], result: result,
                                              signature: signature, options: options))
            }
            report.finish(after: monotonicSeconds() - started)
            progress(report)
        }
        report.finish(after: monotonicSeconds() - started)
        return report
    }

    /// Shrinks a failing program and writes the repro.
    static func shrink(_ program: FuzzProgram, caseIndex: Int, result: ScenarioResult, signature: FindingSignature,
                       options: FuzzOptions) -> FuzzFinding {
        let began = monotonicSeconds()
        let first = result.findings.first { $0.kind != .check }!
        var shrinker = Shrinker(budget: options.shrinkBudget) { candidates in
            var scenarios: [Scenario] = []
            var valid: [Int] = []
            for (position, candidate) in candidates.enumerated() {
                if let scenario = candidate.scenario(name: "fuzz-shrink") {
                    scenarios.append(scenario)
                    valid.append(position)
                }
            }
            var answers = Array(repeating: false, count: candidates.count)
            for (position, outcome) in zip(valid, Suite.run(scenarios, options: options.execution, jobs: options.jobs)) {
                answers[position] = FindingSignature(outcome) == signature
            }
            return answers
        }
        // The finding must come back before anything is removed: a one-off is reported as such.
        let reproduces = shrinker.firstFailing([program], batch: 1) != nil
        let shrunk = reproduces
            ? shrinker.shrink(program, findingStep: program.stepIndex(line: first.step.line), batch: options.jobs)
            : program
        // The repro states what the kernel did at each step (`error:` where a call failed), so that it reads as
        // a scenario of the catalog: once the model is right, it passes.
        let annotated = annotate(shrunk, options: options)
        var finding = FuzzFinding(index: caseIndex, seed: program.seed, signature: signature, summary: first.summary,
                                  originalSteps: program.steps.count, shrunkSteps: shrunk.steps.count,
                                  shrinkRuns: shrinker.runs, shrinkSeconds: monotonicSeconds() - began,
                                  reproduces: reproduces, repro: "")
        let name = "finding-\(caseIndex).yaml"
        let comments = [
            "handoff fuzz --seed \(options.seed): case \(caseIndex) (case seed \(program.seed)), "
                + "\(program.steps.count) steps shrunk to \(shrunk.steps.count)",
            "finding: \(first.summary)",
            "reproduce: handoff run " + (options.execution.brokenModelRules.isEmpty ? "" :
                options.execution.brokenModelRules.map { "--break-model \($0.rawValue) " }.sorted().joined()) + name,
        ]
        let yaml = annotated.yaml(summary: "Fuzz finding: \(signature) (seed \(program.seed))",
                               comments: comments.map { $0.replacingOccurrences(of: "\n", with: " ") })
        do {
            try ReportFiles.write(yaml, to: ReportFiles.join(options.reportDirectory, name))
            finding.repro = name
        } catch {
            finding.repro = "not written: \(error)"
        }
        return finding
    }

    /// `program` with an `error:` on each step that failed on the kernel, from one more run of it.
    static func annotate(_ program: FuzzProgram, options: FuzzOptions) -> FuzzProgram {
        guard let scenario = program.scenario(name: "fuzz-repro") else { return program }
        let result = Suite.run([scenario], options: options.execution, jobs: 1)[0]
        var annotated = program
        for record in result.steps {
            guard let error = record.error, let index = program.stepIndex(line: record.line),
                annotated.steps[index].kind.declaration.expectations.contains(.error),
                !annotated.steps[index].arguments.contains(where: { $0.key == "error" })
            else { continue }
            annotated.steps[index].arguments.append(FuzzArgument("error", .word(error)))
        }
        return annotated
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
