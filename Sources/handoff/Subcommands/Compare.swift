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
        do {
            let merged = try RunReport.merged(try reports.map(RunReport.load))
            try merged.write(to: report)
            print(Console.closing(merged.summary))
            if !merged.summary.succeeded { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("handoff merge: \(error)")
            throw ExitCode(2)
        }
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

    @Option(help: "Exit 1 when the comparison has one: regression.")
    var failOn: FailOn?

    @Option(help: "A timing change is a median that moved by more than this factor.")
    var threshold: Double = 1.5

    @Option(help: "Directory for comparison.json and comparison.md.")
    var report: String = "reports/compare"

    enum FailOn: String, ExpressibleByArgument {
        case regression
    }

    func validate() throws {
        if reports.count < 2 { throw ValidationError("compare needs at least two reports") }
        if !label.isEmpty && label.count != reports.count { throw ValidationError("give one --label per report") }
        if threshold <= 1 { throw ValidationError("--threshold must be greater than 1") }
    }

    func run() throws {
        let loaded: [RunReport]
        do {
            loaded = try reports.map(RunReport.load)
        } catch {
            printError("handoff compare: \(error)")
            throw ExitCode(2)
        }
        let labels = label.isEmpty ? reports.map { ($0 as NSString).deletingLastPathComponent.isEmpty ? $0 : $0 } : label
        let comparison = Comparison(reports: Array(zip(labels, loaded)).map { (label: $0.0, report: $0.1) },
                                    timingThreshold: threshold)
        try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
        try comparison.json().write(to: URL(fileURLWithPath: report + "/comparison.json"))
        try Data(comparison.markdown.utf8).write(to: URL(fileURLWithPath: report + "/comparison.md"))
        try Data(HTMLReport.render(comparison).utf8).write(to: URL(fileURLWithPath: report + "/comparison.html"))
        print(comparison.markdown)
        if failOn == .regression && comparison.hasRegression { throw ExitCode(1) }
    }
}
