import Foundation

/// KTAP/TAP as kernel developers read kselftest output: version, plan, `ok`/`not ok`, `# SKIP reason`,
/// and the diff as `#` diagnostics.
public enum TAPReport {
    public static func header(count: Int) -> String { "TAP version 13\n1..\(count)" }

    public static func line(_ number: Int, _ result: ScenarioResult) -> String {
        var text: String
        switch result.status {
        case .pass: text = "ok \(number) \(result.name)"
        case .skip: text = "ok \(number) \(result.name) # SKIP \(result.reason ?? "")"
        case .fail, .error, .timeout:
            text = "not ok \(number) \(result.name)"
            if result.status != .fail { text += " # \(result.status.rawValue.uppercased())" }
            for line in result.diff.split(separator: "\n") { text += "\n# " + line }
        }
        return text
    }

    public static func render(_ report: RunReport) -> String {
        var lines = [header(count: report.scenarios.count)]
        for (index, result) in report.scenarios.enumerated() { lines.append(line(index + 1, result)) }
        let summary = report.summary
        lines.append("# \(summary.passed) passed, \(summary.failed + summary.errors) failed, \(summary.skipped) skipped")
        if report.environment.taintChanged {
            lines.append("# WARNING: kernel taint changed during the run: \(report.environment.taintBefore ?? -1) -> "
                + "\(report.environment.taintAfter ?? -1)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set).
public enum MarkdownReport {
    public static func render(_ report: RunReport) -> String {
        let summary = report.summary
        var text = "## handoff: \(summary.passed) passed, \(summary.failed) failed, \(summary.skipped) skipped"
        if summary.errors > 0 { text += ", \(summary.errors) errors" }
        text += "\n\nKernel `\(report.environment.kernel)` on \(report.environment.machine), "
            + String(format: "%.2f s.\n", report.durationSeconds)
        if report.environment.taintChanged {
            text += "\n> **Kernel taint changed during the run: \(report.environment.taintBefore ?? -1) → "
                + "\(report.environment.taintAfter ?? -1).**\n"
        }
        let bad = report.scenarios.filter { $0.status == .fail || $0.status == .error || $0.status == .timeout }
        if !bad.isEmpty {
            text += "\n### Failures\n"
            for result in bad {
                text += "\n#### `\(result.name)` (\(result.status.rawValue))\n\n```\n\(result.diff)\n```\n"
            }
        }
        let skipped = report.scenarios.filter { $0.status == .skip }
        if !skipped.isEmpty {
            text += "\n### Skipped\n\n| scenario | reason |\n|---|---|\n"
            for result in skipped { text += "| `\(result.name)` | \(result.reason ?? "") |\n" }
        }
        return text
    }
}

/// GitHub Actions workflow commands: one `::error` per failed scenario, pointing at the failing step's line.
public enum GitHubAnnotations {
    public static func lines(for result: ScenarioResult) -> [String] {
        guard result.status == .fail || result.status == .error || result.status == .timeout else { return [] }
        if let finding = result.findings.first {
            return ["::error file=\(escapeProperty(finding.step.file)),line=\(finding.step.line),"
                + "title=\(escapeProperty("handoff \(finding.kind.rawValue)"))::\(escapeData(result.name + ": " + finding.summary))"]
        }
        return ["::error file=\(escapeProperty(result.file)),title=handoff \(result.status.rawValue)::"
            + escapeData(result.name + ": " + (result.reason ?? result.status.rawValue))]
    }

    static func escapeData(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    static func escapeProperty(_ text: String) -> String {
        escapeData(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
