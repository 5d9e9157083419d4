import Foundation

/// Several runs side by side (different kernels, containers, implementations): the matrix of cases ×
/// runs, and what changed from the first run (the baseline) to each other run.
public struct Comparison: Codable, Sendable {
    public static let currentSchemaVersion = 1

    public struct Run: Codable, Sendable {
        public var label: String
        public var kernel: String
        public var startedAt: String
        /// Where and through what it ran, when not the host and handoff's own agent: `agent go`, `in runc`.
        public var setting: String?
        /// What sets this run's environment apart from the baseline's (empty for the baseline; nil when either
        /// report has no fingerprint): the reasons a reader looks for beside a divergence.
        public var fingerprintDifferences: [FingerprintDifference]?
        /// Why this run's timings are not set beside the baseline's (an emulated CPU, gVisor, another kernel);
        /// nil when they are.
        public var timingNotComparable: String?
        /// The run's counts and wall time (absent in comparisons written before they were recorded).
        public var summary: RunReport.Summary?
        public var durationSeconds: Double?

        /// `6.18.44, agent go, in runc`: what tells two columns apart besides their labels.
        public var describedKernel: String { ([kernel] + (setting.map { [$0] } ?? [])).joined(separator: ", ") }
    }

    public enum ChangeKind: String, Codable, Sendable {
        /// pass in the baseline, fail/error/timeout here; or in the baseline (any status) and absent here.
        case regression
        /// fail/error/timeout in the baseline, pass here.
        case fix
        /// skipped here but not in the baseline.
        case newSkip = "new-skip"
        /// error or timeout here but not in the baseline.
        case newError = "new-error"
        /// both failed, with different findings.
        case findingsDiffer = "findings-differ"
        /// here but absent from the baseline: a case this run added (the other way round is a regression).
        case added
    }

    public struct Change: Codable, Sendable {
        public var kind: ChangeKind
        public var scenario: String
        public var run: String
        public var baseline: String
        public var observed: String
    }

    public struct TimingChange: Codable, Sendable {
        public var operation: String
        public var run: String
        public var baselineMedianNanoseconds: Double
        public var medianNanoseconds: Double
        public var ratio: Double
    }

    public var schemaVersion = Comparison.currentSchemaVersion
    public var runs: [Run]
    /// scenario name -> status per run (nil where a run lacks it), in run order.
    public var matrix: [String: [String?]]
    /// scenario name -> per run, why it did not pass (the skip or error reason, the first finding); nil for a
    /// pass or an absent case. Only scenarios with some such cell are listed.
    public var reasons: [String: [String?]]
    public var changes: [Change]
    public var timing: [TimingChange]
    /// What counts as a timing change: the median of an operation's in-agent syscall time moved by more than
    /// this factor either way, and by more than `timingFloorNanoseconds`.
    public var timingThreshold: Double
    public var timingFloorNanoseconds: Double

    public var hasRegression: Bool { changes.contains { $0.kind == .regression } }
    /// Whether some case is absent from some run: the runs did not cover the same cases.
    public var hasMissing: Bool { matrix.values.contains { $0.contains(nil) } }

    public init(reports: [(label: String, report: RunReport)], timingThreshold: Double = 1.5,
                timingFloorNanoseconds: Double = 2000) {
        let baselineFingerprint = reports.first?.report.environment.fingerprint
        runs = reports.map { entry in
            let environment = entry.report.environment
            var setting: [String] = []
            if let agent = environment.agent, agent.name != "swift" { setting.append("agent \(agent.name)") }
            if let runIn = environment.runIn, runIn.name != "host" { setting.append("in \(runIn.name)") }
            var run = Run(label: entry.label, kernel: environment.kernel, startedAt: entry.report.startedAt,
                          setting: setting.isEmpty ? nil : setting.joined(separator: ", "))
            run.summary = entry.report.summary
            run.durationSeconds = entry.report.durationSeconds
            if let fingerprint = environment.fingerprint, let baselineFingerprint {
                run.fingerprintDifferences = fingerprint.differences(from: baselineFingerprint)
                run.timingNotComparable = fingerprint.timingIncomparability(with: baselineFingerprint)
            } else if environment.kernel != reports.first?.report.environment.kernel {
                run.timingNotComparable = "different kernels"
            }
            return run
        }
        self.timingThreshold = timingThreshold
        self.timingFloorNanoseconds = timingFloorNanoseconds
        var names: [String] = []
        var named: Set<String> = []  // `names` as a set: a search of the list per case made 50,000 cases take 20 s
        var byRun: [[String: ScenarioResult]] = []
        for (_, report) in reports {
            var results: [String: ScenarioResult] = [:]
            for result in report.scenarios {
                if named.insert(result.name).inserted { names.append(result.name) }
                results[result.name] = result
            }
            byRun.append(results)
        }
        matrix = [:]
        reasons = [:]
        for name in names {
            matrix[name] = byRun.map { $0[name]?.status.rawValue }
            let why = byRun.map { $0[name].flatMap(Comparison.reason) }
            if why.contains(where: { $0 != nil }) { reasons[name] = why }
        }
        changes = []
        timing = []
        guard let baseline = byRun.first else { return }
        let baselineTimes = Comparison.medians(reports[0].report)
        for (index, results) in byRun.enumerated().dropFirst() {
            let label = reports[index].label
            for name in names {
                changes += Comparison.change(name, baseline[name], results[name], run: label)
            }
            if runs[index].timingNotComparable != nil { continue }
            let times = Comparison.medians(reports[index].report)
            for operation in Set(baselineTimes.keys).intersection(times.keys).sorted() {
                let before = baselineTimes[operation]!, after = times[operation]!
                let ratio = before > 0 ? after / before : 0
                if abs(after - before) > timingFloorNanoseconds && (ratio > timingThreshold || ratio < 1 / timingThreshold) {
                    timing.append(TimingChange(operation: operation, run: label, baselineMedianNanoseconds: before,
                                               medianNanoseconds: after, ratio: ratio))
                }
            }
        }
    }

    /// Why a case did not pass, in one line: nil for a pass.
    static func reason(_ result: ScenarioResult) -> String? {
        result.status == .pass ? nil : result.findings.first?.summary ?? result.reason ?? result.status.rawValue
    }

    static func change(_ name: String, _ before: ScenarioResult?, _ after: ScenarioResult?, run: String) -> [Change] {
        guard let before, let after else {
            // A case the baseline ran and this run lacks is a regression: a dropped scenario (a renamed file, a
            // shard left out, a crash before the report) must not turn a gate green.
            return [Change(kind: before == nil ? .added : .regression, scenario: name, run: run,
                           baseline: before?.status.rawValue ?? "absent", observed: after?.status.rawValue ?? "absent")]
        }
        func red(_ status: ScenarioStatus) -> Bool { status == .fail || status == .error || status == .timeout }
        let summary = { (result: ScenarioResult) in reason(result) ?? "pass" }
        var result: [Change] = []
        if before.status == .pass && red(after.status) {
            result.append(Change(kind: .regression, scenario: name, run: run, baseline: "pass", observed: summary(after)))
        } else if red(before.status) && after.status == .pass {
            result.append(Change(kind: .fix, scenario: name, run: run, baseline: summary(before), observed: "pass"))
        } else if after.status == .skip && before.status != .skip {
            result.append(Change(kind: .newSkip, scenario: name, run: run, baseline: before.status.rawValue,
                                 observed: after.reason ?? "skip"))
        }
        if (after.status == .error || after.status == .timeout) && before.status != after.status && before.status != .pass {
            result.append(Change(kind: .newError, scenario: name, run: run, baseline: before.status.rawValue,
                                 observed: summary(after)))
        }
        if before.status == .fail && after.status == .fail
            && before.findings.map(\.summary) != after.findings.map(\.summary)
        {
            result.append(Change(kind: .findingsDiffer, scenario: name, run: run, baseline: summary(before),
                                 observed: summary(after)))
        }
        return result
    }

    /// Median in-agent syscall time per operation kind (`dup2`, `recv`, ...).
    static func medians(_ report: RunReport) -> [String: Double] {
        var samples: [String: [UInt64]] = [:]
        for scenario in report.scenarios {
            for step in scenario.steps {
                guard let nanoseconds = step.syscallNanoseconds, let dot = step.operation.lastIndex(of: ".") else { continue }
                samples[String(step.operation[step.operation.index(after: dot)...]), default: []].append(nanoseconds)
            }
        }
        return samples.mapValues { values in
            let sorted = values.sorted()
            return Double(sorted[sorted.count / 2])
        }
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Scenarios whose status is not the same in every run (absent counts as a status).
    public var divergentScenarios: [String] {
        matrix.keys.sorted().filter { name in Set(matrix[name]!.map { $0 ?? "absent" }).count > 1 }
    }

    /// A cell as a reader wants it: the status and, where it did not pass, why.
    public func cell(_ name: String, run index: Int) -> String {
        guard let status = matrix[name]?[index] else { return "absent" }
        guard let why = reasons[name]?[index], why != status else { return status }
        return "\(status): \(why)"
    }

    /// For a CI step summary: the runs, the cases that differ with their reasons, the changes from the
    /// baseline, what sets each environment apart, and timing between comparable runs only.
    public var markdown: String {
        var text = "## handoff compare: \(runs.map(\.label).joined(separator: " vs "))\n\n"
        text += "| run | kernel, setting | passed | failed | skipped | errors | seconds |\n|---|---|--:|--:|--:|--:|--:|\n"
        for run in runs {
            let counts = run.summary.map { "\($0.passed) | \($0.failed) | \($0.skipped) | \($0.errors)" } ?? "- | - | - | -"
            text += "| \(Self.markdownCell(run.label)) | \(Self.markdownCell(run.describedKernel)) | \(counts) | "
                + (run.durationSeconds.map { String(format: "%.1f", $0) } ?? "-") + " |\n"
        }
        let divergent = divergentScenarios
        text += "\n### cases that differ (\(divergent.count) of \(matrix.count); the others have one status in every run)\n\n"
        if !divergent.isEmpty {
            text += "| scenario | " + runs.map { Self.markdownCell($0.label) }.joined(separator: " | ") + " |\n"
            text += "|---|" + runs.map { _ in "---|" }.joined() + "\n"
            for name in divergent {
                text += "| `\(name)` | " + runs.indices.map { Self.markdownCell(cell(name, run: $0)) }.joined(separator: " | ") + " |\n"
            }
        }
        for kind in [ChangeKind.regression, .fix, .newSkip, .newError, .findingsDiffer, .added] {
            let selected = changes.filter { $0.kind == kind }
            if selected.isEmpty { continue }
            text += "\n### \(kind.rawValue) (\(selected.count))\n\n"
            for change in selected {
                text += "- `\(change.scenario)` in \(change.run): \(change.baseline) → \(change.observed)\n"
            }
        }
        for run in runs.dropFirst() {
            guard let differences = run.fingerprintDifferences else { continue }
            text += "\n### what sets \(run.label) apart from \(runs[0].label)\n\n"
            text += differences.isEmpty ? "Nothing the fingerprint records.\n" : differences.map { "- \($0.text)\n" }.joined()
        }
        text += "\n### timing (median in-agent syscall time per operation; threshold ×"
            + String(format: "%.2f", timingThreshold) + " and " + String(format: "%.0f", timingFloorNanoseconds / 1000)
            + " µs)\n\n"
        for run in runs where run.timingNotComparable != nil {
            text += "- \(run.label) is not compared: \(run.timingNotComparable ?? "")\n"
        }
        if timing.isEmpty { text += "No operation moved beyond the threshold.\n" }
        for change in timing {
            text += "- `\(change.operation)` in \(change.run): " + String(format: "%.1f µs → %.1f µs (×%.2f)\n",
                change.baselineMedianNanoseconds / 1000, change.medianNanoseconds / 1000, change.ratio)
        }
        return text
    }

    /// A table cell: pipes and line breaks would break the row.
    static func markdownCell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}

extension RunReport {
    /// Several reports of one suite (shards) as one: scenarios concatenated in order, summary recomputed.
    public static func merged(_ reports: [RunReport]) throws -> RunReport {
        guard var merged = reports.first else { throw MergeError.nothingToMerge }
        var seen = Set(merged.scenarios.map(\.name))
        for report in reports.dropFirst() {
            for scenario in report.scenarios {
                if seen.contains(scenario.name) { throw MergeError.duplicate(scenario.name) }
                seen.insert(scenario.name)
                merged.scenarios.append(scenario)
            }
            merged.durationSeconds = max(merged.durationSeconds, report.durationSeconds)
            if report.environment.taintChanged { merged.environment.taintAfter = report.environment.taintAfter }
        }
        merged.summary = Summary(merged.scenarios)
        merged.timing = RunTiming(merged.scenarios)
        return merged
    }

    public enum MergeError: Error, CustomStringConvertible {
        case nothingToMerge
        case duplicate(String)

        public var description: String {
            switch self {
            case .nothingToMerge: return "no reports to merge"
            case .duplicate(let name): return "scenario \(name) appears in more than one report (overlapping shards?)"
            }
        }
    }
}

extension Suite {
    /// Shard `index` (1-based) of `count`: every count-th scenario in name order, so that shards never
    /// overlap and together cover the suite.
    public static func shard(_ scenarios: [Scenario], index: Int, count: Int) -> [Scenario] {
        scenarios.sorted { $0.name < $1.name }.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
    }
}
