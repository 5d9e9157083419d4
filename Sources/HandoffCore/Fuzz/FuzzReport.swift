import Foundation

/// A shrunk finding of `handoff fuzz`.
public struct FuzzFinding: Codable, Sendable {
    /// Which generated scenario (0-based) and its own seed.
    public var index: Int
    public var seed: UInt64
    public var signature: FindingSignature
    /// The first divergence, as `handoff run` prints it.
    public var summary: String
    public var originalSteps: Int
    public var shrunkSteps: Int
    public var shrinkRuns: Int
    public var shrinkSeconds: Double
    /// Whether the finding came back when the scenario ran again (a one-off is not shrunk).
    public var reproduces: Bool
    /// The repro's file name in the report folder (or why it could not be written).
    public var repro: String
}

/// What a fuzz run did: throughput, coverage of the declared operations and of pairs of them, and findings.
/// Written as fuzz.json, fuzz.md and fuzz.html.
public struct FuzzReport: Encodable, Sendable {
    public var seed: UInt64
    public var durationSeconds: Double = 0
    public var maxProcesses: Int
    public var maxSteps: Int
    /// The operations drawn from, and those left out because this system lacks what they need.
    public var operations: [String]
    public var unavailable: [String]
    /// Model rules broken on purpose for this run (`--break-model`); empty in a real run.
    public var brokenModelRules: [String]

    /// Generated scenarios judged (passed or failed), skipped, or not judged.
    public var scenarios = 0
    public var passed = 0
    public var failed = 0
    public var skipped = 0
    /// The generator's misses, stopped by the runner: a step the model predicts waits forever, or a name whose
    /// creating step failed. Not judged further.
    public var discarded = 0
    /// Discards by cause: `waits forever`, `name never created`, `past the model`.
    public var discardCauses: [String: Int] = [:]
    public var discardSamples: [String] = []
    /// The harness could not judge (timeouts included), with a few reasons.
    public var errors = 0
    public var errorSamples: [String] = []
    /// Programs the parser refused: a generator bug.
    public var invalid = 0
    public var invalidSamples: [String] = []
    public var steps = 0
    /// Times each operation ran, and distinct ordered pairs of operations that ran one after the other.
    public var operationCounts: [String: Int] = [:]
    public var pairs: [String] = []
    public var findings: [FuzzFinding] = []
    /// Failing scenarios whose signature was already found (or over the limit): counted, not shrunk.
    public var repeatedFindings = 0

    /// Set by `finish`: throughput (one decimal) and the operations that never ran.
    public var scenariosPerSecond = 0.0
    public var stepsPerSecond = 0.0
    public var notCovered: [String] = []
    /// The ordered pairs seen so far, for `count` (not reported: `pairs` is).
    private var seenPairs: Set<String> = []

    init(seed: UInt64, limits: FuzzLimits, available: Set<OperationKind>, broken: Set<BrokenModelRule>) {
        self.seed = seed
        maxProcesses = limits.maxProcesses
        maxSteps = limits.maxSteps
        let chosen = OperationKind.allCases.filter {
            (limits.operations?.contains($0) ?? true) && !FuzzLimits.excluded.contains($0)
        }
        operations = chosen.filter(available.contains).map(\.keyword)
        unavailable = chosen.filter { !available.contains($0) }.map(\.keyword)
        brokenModelRules = broken.map(\.rawValue).sorted()
    }

    enum CodingKeys: String, CodingKey {
        case seed, durationSeconds, maxProcesses, maxSteps, operations, unavailable, brokenModelRules, scenarios, passed,
             failed, skipped, discarded, discardCauses, discardSamples, errors, errorSamples, invalid, invalidSamples, steps,
             operationCounts, pairs, findings, repeatedFindings, scenariosPerSecond, stepsPerSecond, notCovered
    }

    /// The figures that follow from the counts, after `seconds` of running.
    mutating func finish(after seconds: Double) {
        durationSeconds = seconds
        scenariosPerSecond = seconds > 0 ? (Double(scenarios) / seconds * 10).rounded() / 10 : 0
        stepsPerSecond = seconds > 0 ? (Double(steps) / seconds * 10).rounded() / 10 : 0
        notCovered = operations.filter { operationCounts[$0] == nil }
        pairs.sort()
    }

    /// Why a scenario that ended in an ERROR is a discard (the generator's miss), or nil: not judged.
    static func discardCause(_ reason: String) -> String? {
        if reason.contains("was never created") { return "name never created" }
        if reason.contains("would block forever") || reason.contains("would never finish") { return "waits forever" }
        if reason.contains(HarnessError.beyondModelPrefix) { return "past the model" }
        return nil
    }

    /// Counts one judged scenario: its status, and the operations that actually ran.
    mutating func count(_ result: ScenarioResult) {
        switch result.status {
        case .pass: passed += 1
        // A generated step states no `error:`, so a call that fails is a CHECK finding of its own: noise here.
        // Only divergences from the model count.
        case .fail where result.findings.allSatisfy({ $0.kind == .check }): passed += 1
        case .fail: failed += 1
        case .skip: skipped += 1
        case .error, .timeout:
            // The generator's misses, found by the runner before anything was judged wrongly: a step the model
            // says waits forever, a name whose creating step failed, a step past what the model follows (where
            // the answer is the filesystem's or the runner's: a SEEK_HOLE in a file with a gap, FIONREAD of the
            // agents' log) - the generator does not track sizes, offsets and gaps to steer around those.
            if let reason = result.reason, let cause = Self.discardCause(reason) {
                discarded += 1
                discardCauses[cause, default: 0] += 1
                if discardSamples.count < 5 { discardSamples.append("\(result.name): \(reason)") }
                return
            }
            errors += 1
            if errorSamples.count < 10 { errorSamples.append("\(result.name): \(result.reason ?? result.status.rawValue)") }
        }
        scenarios += 1
        var previous: String?
        for record in result.steps where record.process != nil {
            let keyword = String(record.operation.split(separator: ".").last ?? "").split(separator: " ").first.map(String.init) ?? ""
            steps += 1
            operationCounts[keyword, default: 0] += 1
            if let previous, seenPairs.insert(previous + " > " + keyword).inserted { pairs.append(previous + " > " + keyword) }
            previous = keyword
        }
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// The Markdown report: the numbers, coverage, and each finding with its repro.
    public func markdown() -> String {
        var text = "# handoff fuzz\n\n"
        text += "Seed \(seed), \(String(format: "%.1f", durationSeconds)) s: **\(scenarios) scenarios** "
            + "(\(String(format: "%.1f", scenariosPerSecond))/s), \(steps) steps (\(String(format: "%.0f", stepsPerSecond))/s); "
            + "\(passed) passed, \(failed) failed, \(skipped) skipped, \(errors) not judged, \(discarded) discarded "
            + "(a step the model predicts waits forever, or a name whose creating step failed), \(invalid) refused by the parser.\n\n"
        if !brokenModelRules.isEmpty {
            text += "**Model rules broken on purpose:** \(brokenModelRules.joined(separator: ", ")) (a demonstration, not a real run).\n\n"
        }
        text += "## Findings\n\n"
        if findings.isEmpty {
            text += "None.\n\n"
        } else {
            text += "| finding | case | steps | shrink | repro |\n|---|---|---|---|---|\n"
            for finding in findings {
                text += "| \(finding.summary.replacingOccurrences(of: "|", with: "\\|")) | \(finding.index) (seed \(finding.seed)) | "
                    + "\(finding.originalSteps) → \(finding.shrunkSteps) | \(finding.shrinkRuns) runs, "
                    + "\(String(format: "%.1f", finding.shrinkSeconds)) s\(finding.reproduces ? "" : ", did not reproduce") | "
                    + "`\(finding.repro)` |\n"
            }
            if repeatedFindings > 0 { text += "\n\(repeatedFindings) more failing scenarios repeated a finding above.\n" }
            text += "\n"
        }
        text += "## Coverage\n\n"
        text += "\(operationCounts.count) of \(operations.count) operations ran; \(pairs.count) distinct pairs of consecutive "
            + "operations (of \(operations.count * operations.count) possible).\n\n"
        text += "| operation | runs |\n|---|---|\n"
        for operation in operations { text += "| `\(operation)` | \(operationCounts[operation] ?? 0) |\n" }
        if !unavailable.isEmpty { text += "\nNot drawn (unavailable here): \(unavailable.joined(separator: ", ")).\n" }
        if !errorSamples.isEmpty {
            text += "\n## Not judged\n\n" + errorSamples.map { "- " + $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n") + "\n"
        }
        if !invalidSamples.isEmpty {
            text += "\n## Refused by the parser (generator bugs)\n\n" + invalidSamples.map { "- " + $0 }.joined(separator: "\n") + "\n"
        }
        return text
    }

    public func html() -> String {
        HTMLReport.page(title: "handoff fuzz", body: "<pre>" + HTMLReport.escape(markdown()) + "</pre>")
    }

    /// fuzz.json, fuzz.md and fuzz.html in `directory`, each written atomically.
    public func write(to directory: String) throws {
        try ReportFiles.write(json(), to: ReportFiles.join(directory, "fuzz.json"))
        try ReportFiles.write(markdown(), to: ReportFiles.join(directory, "fuzz.md"))
        try ReportFiles.write(html(), to: ReportFiles.join(directory, "fuzz.html"))
    }
}
