import CHandoff
import Foundation

/// KTAP/TAP as kernel developers read kselftest output: version, plan, `ok`/`not ok`, `# SKIP reason`,
/// and the diff as `#` diagnostics.
public enum TAPReport {
    public static func header(count: Int) -> String { "TAP version 13\n1..\(count)" }

    public static func line(_ number: Int, _ result: ScenarioResult) -> String {
        var text: String
        // A '#' in the description starts a directive ("leak # TODO" turned a failure into a TODO for TAP
        // consumers): escaped as TAP 13 allows, with backslashes escaped first.
        let name = Console.printable(result.name).replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "#", with: "\\#")
        switch result.status {
        case .pass: text = "ok \(number) \(name)"
        case .skip: text = "ok \(number) \(name) # SKIP \(Console.printable(result.reason ?? ""))"
        case .fail, .error, .timeout:
            text = "not ok \(number) \(name)"
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
            + Console.duration(report.durationSeconds) + ".\n"
        if report.environment.taintChanged {
            text += "\n> **Kernel taint changed during the run: \(report.environment.taintBefore ?? -1) → "
                + "\(report.environment.taintAfter ?? -1).**\n"
        }
        let bad = report.scenarios.filter { $0.status == .fail || $0.status == .error || $0.status == .timeout }
        if !bad.isEmpty {
            text += "\n### Failures\n"
            for result in bad {
                text += "\n#### `\(Console.printable(result.name))` (\(result.status.rawValue), "
                    + "\(Console.duration(result.durationSeconds)))\n\n```\n\(result.diff)\n```\n"
            }
        }
        let skipped = report.scenarios.filter { $0.status == .skip }
        if !skipped.isEmpty {
            text += "\n### Skipped\n\n| scenario | reason |\n|---|---|\n"
            for result in skipped {
                text += "| `\(Console.printable(result.name))` | \(Console.printable(result.reason ?? "")) |\n"
            }
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

/// The console's words for results (the text lines of `handoff run`, and the closing line CI reads).
public enum Console {
    public static func line(for result: ScenarioResult) -> String {
        let label = result.status.rawValue.uppercased().padding(toLength: 7, withPad: " ", startingAt: 0)
        var line = "\(label) \(result.name) (\(duration(result.durationSeconds)))"
        if result.status == .skip, let reason = result.reason { line += ": \(reason)" }
        return printable(line)
    }

    public static func indented(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
    }

    /// A duration as people read it: `9.3 ms` below a second, `5.01 s` from one second up.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "\(seconds) s" }
        // Below 0.99995 s the millisecond form rounds to at most 999.9 ms.
        return seconds < 0.99995 ? String(format: "%.1f ms", seconds * 1000) : String(format: "%.2f s", seconds)
    }

    /// The closing line CI parsers read: `N passed, N failed, N skipped`, where failed counts failures,
    /// errors and timeouts alike (each is a red result); a breakdown precedes it when there are errors.
    public static func closing(_ summary: RunReport.Summary) -> String {
        var text = ""
        if summary.errors > 0 {
            text += "(\(summary.failed) failed on findings, \(summary.errors - summary.timedOut) errors, "
                + "\(summary.timedOut) timed out)\n"
        }
        return text + "\(summary.passed) passed, \(summary.failed + summary.errors) failed, \(summary.skipped) skipped"
    }

    /// One line of text, whatever it quotes: line breaks and other control characters (from a scenario's file
    /// name, a YAML string) are shown escaped (`\n`, `\r`, `\u{1B}`), so that nothing a scenario contains can
    /// start a line of its own - a GitHub workflow command (`::error::`), a fake result or TAP line.
    /// Flushes what was printed to stdout: nil when it all got there, else the failed write's errno name.
    public static func flushStandardOutput() -> String? {
        let failed = handoff_flush_stdout()
        return failed == 0 ? nil : Errno.name(of: failed)
    }

    public static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isLineControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case _ where isLineControl(scalar): out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// C0 controls but tab, DEL, C1 controls (U+0085 is NEL) and the Unicode line and paragraph separators.
    static func isLineControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
            || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
