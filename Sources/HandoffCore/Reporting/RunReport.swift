import Foundation

/// Everything one `handoff run` produced; serialized as report.json (schema in docs/reports.md and
/// docs/report.schema.json).
public struct RunReport: Codable, Sendable {
    public static let currentSchemaVersion = 1

    public struct Summary: Codable, Sendable, Equatable {
        public var total: Int
        public var passed: Int
        public var failed: Int
        public var skipped: Int
        /// Scenarios that could not be judged: harness errors and timeouts.
        public var errors: Int
        public var timedOut: Int

        public init(_ results: [ScenarioResult]) {
            total = results.count
            passed = results.filter { $0.status == .pass }.count
            failed = results.filter { $0.status == .fail }.count
            skipped = results.filter { $0.status == .skip }.count
            errors = results.filter { $0.status == .error || $0.status == .timeout }.count
            timedOut = results.filter { $0.status == .timeout }.count
        }

        /// Whether the run counts as green: nothing failed, errored or timed out.
        public var succeeded: Bool { failed == 0 && errors == 0 }
    }

    public struct Environment: Codable, Sendable {
        public var kernel: String
        public var machine: String
        public var identityOracle: String
        public var fingerprint: Fingerprint?
        /// /proc/sys/kernel/tainted before and after the run; a change is reported prominently.
        public var taintBefore: Int?
        public var taintAfter: Int?
        /// The agent program (`--agent`); absent in reports written before it existed.
        public var agent: AgentChoice?
        /// Where `run --in ENV` ran the suite, with its options; absent for a run on the spot. The fingerprint
        /// is then the inside one.
        public var runIn: RunInRecord?
        /// `--sandbox`: whether launchers ran with a read-only file system, and why not (absent in reports
        /// written before it existed).
        public var launcherSandbox: String?

        public var taintChanged: Bool {
            if let taintBefore, let taintAfter { return taintBefore != taintAfter }
            return false
        }
    }

    public var schemaVersion: Int
    public var tool: String
    public var startedAt: String
    public var durationSeconds: Double
    public var environment: Environment
    public var summary: Summary
    public var scenarios: [ScenarioResult]
    /// Per-operation percentiles of system-call, overhead and observation time, and the mean cost per scenario
    /// and step; absent when no step ran (and in reports written before it existed).
    public var timing: RunTiming?

    public init(startedAt: Date, durationSeconds: Double, identityMode: IdentityMode, scenarios: [ScenarioResult],
                fingerprint: Fingerprint? = nil, taintBefore: Int? = nil, taintAfter: Int? = nil,
                agent: AgentChoice? = nil) {
        schemaVersion = Self.currentSchemaVersion
        tool = "handoff"
        let formatter = ISO8601DateFormatter()
        self.startedAt = formatter.string(from: startedAt)
        self.durationSeconds = durationSeconds
        environment = Environment(kernel: SystemProbe.kernelRelease, machine: SystemProbe.machine,
                                  identityOracle: identityMode.rawValue, fingerprint: fingerprint,
                                  taintBefore: taintBefore, taintAfter: taintAfter, agent: agent)
        summary = Summary(scenarios)
        self.scenarios = scenarios
        timing = RunTiming(scenarios)
    }

    /// report.json: indented with sorted keys for people and diffs; `compact` (a `run --kernel` guest's, which
    /// only the host reads and writes again) without either: no keys sorted in some 30,000 objects and 38 %
    /// fewer bytes to encode and copy (1.4 instead of 2.3 MB for the catalog), work the guest does under emulation.
    public func json(compact: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = compact ? [] : [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Every file a run writes into --report: what `write(to:)` writes, and what `run --in` and `run --kernel`
    /// add beside it.
    public static let fileNames = ["report.json", "junit.xml", "report.tap", "summary.md", "report.html",
                                   "env.json", "vm.json", "console.log"]

    /// Removes an earlier run's files from `directory`, before a run that may end without a report (an
    /// interrupted or failed `--in` or `--kernel` run left the last green report.json for CI to publish).
    public static func removeEarlierFiles(in directory: String) {
        for name in fileNames { unlink(directory + "/" + name) }
    }

    /// Writes report.json, junit.xml, report.tap, summary.md and report.html into `directory` (created if
    /// needed), each one atomically (ReportFiles.write): a reader never sees a partial file, and a failure
    /// leaves the previous file in place.
    public func write(to directory: String) throws(ReportFiles.WriteError) {
        try ReportFiles.prepare(directory)
        let json: Data
        do {
            json = try self.json()
        } catch {
            throw ReportFiles.WriteError(path: directory + "/report.json", reason: "cannot encode the report: \(error)")
        }
        try ReportFiles.write(json, to: directory + "/report.json")
        try ReportFiles.write(JUnitReport.render(self), to: directory + "/junit.xml")
        try ReportFiles.write(TAPReport.render(self), to: directory + "/report.tap")
        try ReportFiles.write(MarkdownReport.render(self), to: directory + "/summary.md")
        try ReportFiles.write(HTMLReport.render(self), to: directory + "/report.html")
    }

    /// What the guest of `run --kernel` does instead of `write(to:)`: report.json alone, compact, into the
    /// memory it shares with the host (ReportRegion). Under emulation rendering the other formats costs
    /// seconds, and the host renders them from report.json anyway.
    public func sendToHost() throws(ReportFiles.WriteError) {
        let json: Data
        do {
            json = try self.json(compact: true)
        } catch {
            throw ReportFiles.WriteError(path: "the report region", reason: "cannot encode the report: \(error)")
        }
        do {
            try ReportRegion.write(Array(json))
        } catch {
            throw ReportFiles.WriteError(path: "the report region", reason: error.description)
        }
    }
}

extension ScenarioResult {
    /// The readable diff for a failure: each finding with the step that caused it. One line per part, whatever
    /// a file name or a quoted value contains (Console.printable).
    public var diff: String {
        var lines: [String] = []
        var lastStep: SourceLocation?
        for finding in findings {
            if finding.step != lastStep {
                lines.append(Console.printable("\(finding.step.file):\(finding.step.line): after \(finding.operation)"))
                lastStep = finding.step
            }
            lines.append("  " + Console.printable(finding.summary))
        }
        if let reason, status != .pass, status != .skip { lines.append(Console.printable(reason)) }
        return lines.joined(separator: "\n")
    }
}
