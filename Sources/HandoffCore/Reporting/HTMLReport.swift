import Foundation

/// report.html: one self-contained page (no network, no script) that a person opens: the summary, every
/// failure with its diff, a timing chart per operation (SVG), and for a comparison the cases × runs matrix.
public enum HTMLReport {
    public static func render(_ report: RunReport) -> String {
        let summary = report.summary
        var body = "<h1>handoff: \(summary.passed) passed, \(summary.failed) failed, \(summary.skipped) skipped"
            + (summary.errors > 0 ? ", \(summary.errors) errors" : "") + "</h1>\n"
        body += "<p class=\"meta\">Kernel <code>\(escape(report.environment.kernel))</code> on "
            + "\(escape(report.environment.machine)), started \(escape(report.startedAt)), "
            + Console.duration(report.durationSeconds) + ".</p>\n"
        if report.environment.taintChanged {
            body += "<p class=\"warn\">Kernel taint changed during the run: \(report.environment.taintBefore ?? -1) → "
                + "\(report.environment.taintAfter ?? -1).</p>\n"
        }
        body += bar(summary)
        let bad = report.scenarios.filter { $0.status == .fail || $0.status == .error || $0.status == .timeout }
        if !bad.isEmpty {
            body += "<h2>Failures</h2>\n"
            for result in bad {
                body += "<section class=\"failure\"><h3><span class=\"status \(result.status.rawValue)\">"
                    + "\(result.status.rawValue.uppercased())</span> \(escape(result.name))</h3>\n"
                body += "<p>\(escape(result.summary))</p>\n<pre>\(escape(result.diff))</pre></section>\n"
            }
        }
        body += "<h2>Time in the system call, per operation</h2>\n" + timingChart(report)
        body += "<h2>All scenarios</h2>\n<table><tr><th>scenario</th><th>status</th><th>time</th><th>steps</th><th>note</th></tr>\n"
        for result in report.scenarios {
            body += "<tr><td><code>\(escape(result.name))</code></td><td><span class=\"status \(result.status.rawValue)\">"
                + "\(result.status.rawValue)</span></td><td>" + Console.duration(result.durationSeconds)
                + "</td><td>\(result.steps.count)</td><td>\(escape(result.reason ?? result.findings.first?.summary ?? ""))</td></tr>\n"
        }
        body += "</table>\n"
        return page(title: "handoff report", body: body)
    }

    public static func render(_ comparison: Comparison) -> String {
        page(title: "handoff compare", body: "<h1>handoff compare: \(comparison.runs.map { escape($0.label) }.joined(separator: " vs "))</h1>\n"
            + body(of: comparison))
    }

    /// The environments of a matrix with what became of each, then the comparison of those that ran.
    public static func render(_ matrix: MatrixReport) -> String {
        var html = "<h1>handoff matrix: \(escape(matrix.plan))</h1>\n<table><tr><th>environment</th><th>status</th>"
            + "<th>seconds</th><th>command</th></tr>\n"
        for environment in matrix.environments {
            let status = environment.status.rawValue + (environment.optional && environment.status != .ran ? " (optional)" : "")
            let why = environment.reason.map { "<br><small>\(escape($0))</small>" } ?? ""
            html += "<tr><td>\(escape(environment.name))</td><td><span class=\"status \(environment.status == .ran ? "pass" : "skip")\">"
                + "\(escape(status))</span>\(why)</td><td>" + String(format: "%.1f", environment.wallSeconds)
                + "</td><td><code>\(escape(environment.command.dropFirst().joined(separator: " ")))</code></td></tr>\n"
        }
        html += "</table>\n"
        html += matrix.comparison.runs.isEmpty ? "<p>No environment ran.</p>\n" : body(of: matrix.comparison)
        return page(title: "handoff matrix", body: html)
    }

    static func body(of comparison: Comparison) -> String {
        let runs = comparison.runs
        var body = "<table><tr><th>run</th><th>kernel, setting</th><th>passed</th><th>failed</th><th>skipped</th>"
            + "<th>errors</th><th>seconds</th></tr>\n"
        for run in runs {
            let counts = run.summary.map { [$0.passed, $0.failed, $0.skipped, $0.errors].map { "<td>\($0)</td>" }.joined() }
                ?? "<td></td><td></td><td></td><td></td>"
            body += "<tr><td>\(escape(run.label))</td><td>\(escape(run.describedKernel))</td>\(counts)<td>"
                + (run.durationSeconds.map { String(format: "%.1f", $0) } ?? "") + "</td></tr>\n"
        }
        body += "</table>\n"
        func header() -> String {
            "<tr><th>scenario</th>" + runs.map { "<th>\(escape($0.label))</th>" }.joined() + "</tr>\n"
        }
        func row(_ name: String) -> String {
            var html = "<tr><td><code>\(escape(name))</code></td>"
            for index in runs.indices {
                guard let status = comparison.matrix[name]?[index] else { html += "<td>absent</td>"; continue }
                let why = comparison.reasons[name]?[index].map { "<br><small>\(escape($0))</small>" } ?? ""
                html += "<td><span class=\"status \(escape(status))\">\(escape(status))</span>\(why)</td>"
            }
            return html + "</tr>\n"
        }
        let divergent = comparison.divergentScenarios
        body += "<h2>Cases that differ (\(divergent.count) of \(comparison.matrix.count))</h2>\n"
        body += divergent.isEmpty ? "<p>Every case has one status in every run.</p>\n"
            : "<table>" + header() + divergent.map(row).joined() + "</table>\n"
        if !comparison.changes.isEmpty {
            body += "<h2>Changes from \(escape(runs.first?.label ?? "the baseline"))</h2>\n<ul>\n"
            for change in comparison.changes {
                body += "<li><b>\(change.kind.rawValue)</b> <code>\(escape(change.scenario))</code> in "
                    + "\(escape(change.run)): \(escape(change.baseline)) → \(escape(change.observed))</li>\n"
            }
            body += "</ul>\n"
        }
        for run in runs.dropFirst() {
            guard let differences = run.fingerprintDifferences else { continue }
            body += "<h2>What sets \(escape(run.label)) apart from \(escape(runs[0].label))</h2>\n"
            body += differences.isEmpty ? "<p>Nothing the fingerprint records.</p>\n"
                : "<ul>\n" + differences.map { "<li>\(escape($0.text))</li>\n" }.joined() + "</ul>\n"
        }
        body += "<h2>Timing changes</h2>\n"
        for run in runs where run.timingNotComparable != nil {
            body += "<p>\(escape(run.label)) is not compared: \(escape(run.timingNotComparable ?? ""))</p>\n"
        }
        body += comparison.timing.isEmpty ? "<p>No operation's median moved beyond ×"
            + String(format: "%.2f", comparison.timingThreshold) + ".</p>\n" : "<ul>\n" + comparison.timing.map {
                "<li><code>\(escape($0.operation))</code> in \(escape($0.run)): "
                    + String(format: "%.1f µs → %.1f µs (×%.2f)", $0.baselineMedianNanoseconds / 1000,
                             $0.medianNanoseconds / 1000, $0.ratio) + "</li>"
            }.joined(separator: "\n") + "</ul>\n"
        body += "<details><summary>Every case (\(comparison.matrix.count))</summary><table>" + header()
            + comparison.matrix.keys.sorted().map(row).joined() + "</table></details>\n"
        return body
    }

    /// A stacked bar of the statuses.
    static func bar(_ summary: RunReport.Summary) -> String {
        let total = max(1, summary.total)
        var x = 0.0
        var svg = "<svg class=\"bar\" viewBox=\"0 0 600 24\" width=\"600\" height=\"24\" role=\"img\" aria-label=\"statuses\">"
        for (count, status) in [(summary.passed, "pass"), (summary.failed, "fail"), (summary.errors, "error"),
                                (summary.skipped, "skip")] where count > 0 {
            let width = 600.0 * Double(count) / Double(total)
            svg += "<rect class=\"\(status)\" x=\"\(x)\" y=\"0\" width=\"\(width)\" height=\"24\"><title>\(status): \(count)</title></rect>"
            x += width
        }
        return svg + "</svg>\n"
    }

    /// One row per operation kind: the median and p90 of the in-agent syscall time, on a log scale.
    static func timingChart(_ report: RunReport) -> String {
        var samples: [String: [UInt64]] = [:]
        for scenario in report.scenarios {
            for step in scenario.steps {
                guard let nanoseconds = step.syscallNanoseconds, let dot = step.operation.lastIndex(of: ".") else { continue }
                samples[String(step.operation[step.operation.index(after: dot)...]), default: []].append(nanoseconds)
            }
        }
        if samples.isEmpty { return "<p>No timed steps.</p>\n" }
        let operations = samples.keys.sorted()
        let rowHeight = 22.0, labelWidth = 110.0, chartWidth = 460.0
        let maxLog = log10(Double(samples.values.flatMap { $0 }.max() ?? 1) + 1)
        let height = Double(operations.count) * rowHeight + 30
        var svg = "<svg viewBox=\"0 0 \(Int(labelWidth + chartWidth + 120)) \(Int(height))\" width=\"\(Int(labelWidth + chartWidth + 120))\" "
            + "height=\"\(Int(height))\" role=\"img\" aria-label=\"syscall time per operation\">"
        for (index, operation) in operations.enumerated() {
            let sorted = samples[operation]!.sorted()
            // The titles print the nanoseconds as recorded: through Double and Int, a value past Int.max (a
            // report.json edited or written by a hostile agent) trapped.
            let medianValue = sorted[sorted.count / 2], p90Value = sorted[min(sorted.count - 1, sorted.count * 9 / 10)]
            let median = Double(medianValue), p90 = Double(p90Value)
            let y = Double(index) * rowHeight + 4
            func width(_ value: Double) -> Double { max(1, chartWidth * log10(value + 1) / max(maxLog, 1)) }
            svg += "<text x=\"0\" y=\"\(y + 14)\" class=\"label\">\(escape(operation))</text>"
            svg += "<rect class=\"p90\" x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(width(p90))\" height=\"16\"><title>p90 \(p90Value) ns</title></rect>"
            svg += "<rect class=\"median\" x=\"\(labelWidth)\" y=\"\(y + 4)\" width=\"\(width(median))\" height=\"8\"><title>median \(medianValue) ns</title></rect>"
            svg += "<text x=\"\(labelWidth + chartWidth + 8)\" y=\"\(y + 14)\" class=\"label\">"
                + String(format: "%.1f µs (n=%d)", median / 1000, sorted.count) + "</text>"
        }
        svg += "<text x=\"\(labelWidth)\" y=\"\(height - 4)\" class=\"axis\">log scale: bar = p90, inner bar = median</text>"
        return svg + "</svg>\n"
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
        code, pre { font: 13px ui-monospace, monospace; }
        pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
        table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: left; }
        .status { padding: 0 6px; border-radius: 3px; color: #fff; }
        .pass { background: #2e7d32; fill: #2e7d32; } .fail { background: #c62828; fill: #c62828; }
        .error, .timeout { background: #ef6c00; fill: #ef6c00; } .skip { background: #757575; fill: #9e9e9e; }
        .warn { background: #fff3cd; padding: .5em; border: 1px solid #e0c060; }
        .meta { color: #555; } .p90 { fill: #90caf9; } .median { fill: #1565c0; } .label { font-size: 12px; }
        .axis { font-size: 11px; fill: #666; }
        </style></head>
        <body>
        \(body)
        </body></html>

        """
    }

    /// Markup characters as entities; control characters (which HTML does not allow, and a scenario's
    /// summary or a name may hold) shown as `\u{1B}`, as on the console (Console.printable), line breaks kept.
    static func escape(_ text: String) -> String {
        let visible = text.unicodeScalars.contains { $0 != "\n" && Console.isLineControl($0) }
            ? text.split(separator: "\n", omittingEmptySubsequences: false).map { Console.printable(String($0)) }.joined(separator: "\n")
            : text
        return visible.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
