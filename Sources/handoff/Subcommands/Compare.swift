import ArgumentParser
import Foundation
import HandoffCore

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the report.json files of several shards into one report (all formats).")

    @Argument(help: "report.json files.")
    var reports: [String]

    @Option(help: "Directory for the merged reports.")
    var report: String = "reports/merged"

    func run() throws {
        try prepareReportDirectory(report)
        let merged: RunReport
        do {
            let loaded = try reports.map(RunReport.load)
            // Which two files hold one scenario (a shard given twice, overlapping shards): merged() knows the
            // reports, not their paths.
            var holder: [String: String] = [:]
            for (path, report) in zip(reports, loaded) {
                for scenario in report.scenarios {
                    if let first = holder[scenario.name] {
                        throw ReportFiles.ReadError(path: path, reason: "scenario '\(String(scenario.name.prefix(200)))' is also in \(first) "
                            + "(the same report twice, or overlapping shards?)")
                    }
                    holder[scenario.name] = path
                }
            }
            merged = try RunReport.merged(loaded)
        } catch {
            printError(Console.printable("handoff merge: \(error)"))
            throw ExitCode(2)
        }
        var writeFailure: String?
        do {
            try merged.write(to: report)
        } catch {
            writeFailure = Console.printable("handoff merge: cannot write reports to \(report): \(error)")
        }
        if let writeFailure { printError(writeFailure) }
        print(Console.closing(merged.summary))
        if writeFailure != nil { throw ExitCode(2) }
        if merged.summary.total == 0 {
            printError("handoff merge: the reports hold no scenario (empty is not green)")
            throw ExitCode(2)
        }
        if !merged.summary.succeeded { throw ExitCode(1) }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare runs (kernels, containers, implementations): cases × runs, regressions, fixes, timing.",
        discussion: "The first report is the baseline. Writes comparison.json and comparison.md to --report.")

    @Argument(help: "report.json files; the first is the baseline.")
    var reports: [String]

    @Option(help: "A label per report, in order (default: the file names).")
    var label: [String] = []

    @Option(help: """
        Exit 1 when the comparison has one (repeatable): regression (a case that passed in the baseline fails, \
        errors or times out in a run, or a case of the baseline is absent from a run), missing (a case is \
        absent from some run, either way).
        """)
    var failOn: [FailOn] = []

    @Option(help: "A timing change is a median that moved by more than this factor.")
    var threshold: Double = 1.5

    @Option(help: "Directory for comparison.json and comparison.md.")
    var report: String = "reports/compare"

    enum FailOn: String, ExpressibleByArgument, CaseIterable {
        case regression, missing
    }

    func validate() throws {
        if reports.count < 2 { throw ValidationError("compare needs at least two reports") }
        if !label.isEmpty && label.count != reports.count { throw ValidationError("give one --label per report") }
        if !(threshold > 1 && threshold.isFinite) {
            throw ValidationError("--threshold must be a finite factor greater than 1, not \(threshold)")
        }
    }

    func run() throws {
        try prepareReportDirectory(report)
        let loaded: [RunReport]
        do {
            loaded = try reports.map(RunReport.load)
        } catch {
            printError(Console.printable("handoff compare: \(error)"))
            throw ExitCode(2)
        }
        let labels = label.isEmpty ? reports.map { ($0 as NSString).deletingLastPathComponent.isEmpty ? $0 : $0 } : label
        let comparison = Comparison(reports: Array(zip(labels, loaded)).map { (label: $0.0, report: $0.1) },
                                    timingThreshold: threshold)
        var writeFailure: String?
        do {
            try ReportFiles.write(try comparison.json(), to: report + "/comparison.json")
            try ReportFiles.write(comparison.markdown, to: report + "/comparison.md")
            try ReportFiles.write(HTMLReport.render(comparison), to: report + "/comparison.html")
        } catch {
            writeFailure = Console.printable("handoff compare: cannot write reports to \(report): \(error)")
        }
        print(comparison.markdown)
        if let writeFailure {
            printError(writeFailure)
            throw ExitCode(2)
        }
        if comparison.matrix.isEmpty {
            printError("handoff compare: the reports hold no scenario: nothing to compare")
            throw ExitCode(2)
        }
        var reasons: [String] = []
        if failOn.contains(.regression) && comparison.hasRegression {
            let count = comparison.changes.filter { $0.kind == .regression }.count
            reasons.append("\(count) regression\(count == 1 ? "" : "s")")
        }
        if failOn.contains(.missing) && comparison.hasMissing {
            let count = comparison.matrix.values.filter { $0.contains(nil) }.count
            reasons.append("\(count) case\(count == 1 ? "" : "s") missing from a run")
        }
        if !reasons.isEmpty {
            printError("handoff compare: " + reasons.joined(separator: ", ") + " (--fail-on)")
            throw ExitCode(1)
        }
    }
}
