import ArgumentParser
import Foundation
import HandoffCore

struct Matrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Run the same scenarios in several environments (containers, kernels, agents) and compare them.",
        discussion: """
            FILE lists the environments (docs/environments.md#matrix). Each runs as `handoff run` would, one after \
            the other, its reports in --report/NAME; then matrix.json, matrix.md and matrix.html set them side by \
            side: the cases that differ with their reasons, the changes from the first environment that ran, the \
            fingerprint differences that explain them, and timing only between comparable environments. \
            Exit status: 2 for a bad file or an environment that cannot run here (unless marked optional), 130 \
            interrupted, 1 for what --fail-on names, else 0.
            """)

    @Argument(help: "The matrix file (YAML).")
    var file: String

    @Option(help: "Directory for the matrix reports and one folder per environment.")
    var report: String = "reports/matrix"

    @Option(help: "Run only this environment of the file (repeatable).")
    var only: [String] = []

    @Option(help: """
        Exit 1 when the matrix has one (repeatable; default: regression): regression (a case that passed in the \
        first environment fails, errors or times out in another, or is absent there), missing (a case absent \
        from some environment), failure (any environment with a failing, erroring or timed-out case).
        """)
    var failOn: [FailOn] = [.regression]

    enum FailOn: String, ExpressibleByArgument, CaseIterable {
        case regression, missing, failure
    }

    func run() throws {
        var plan: MatrixPlan
        do {
            plan = try MatrixPlan.load(file)
        } catch {
            printError(Console.printable(error.description))
            throw ExitCode(2)
        }
        if !only.isEmpty {
            let unknown = only.filter { name in !plan.environments.contains { $0.name == name } }
            if !unknown.isEmpty {
                printError(Console.printable("handoff matrix: --only \(unknown.joined(separator: ", ")): not in \(file) "
                    + "(it has \(plan.environments.map(\.name).joined(separator: ", ")))"))
                throw ExitCode(2)
            }
            plan.environments = plan.environments.filter { only.contains($0.name) }
        }
        try prepareReportDirectory(report)
        // One summary for the whole matrix: the runs it starts must not each append theirs.
        let stepSummary = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"]
        unsetenv("GITHUB_STEP_SUMMARY")
        let matrix = MatrixRun(plan: plan, runner: EnvironmentRun.currentExecutable, reportDirectory: report)
        if let problem = ActiveRuns.installInterruptHandler(onSignal: { signal in
            printError("handoff matrix: signal \(signal): passing it to the run in progress; no further environment starts")
            matrix.forward(signal: signal)
        }) {
            printError("handoff matrix: \(problem); an interrupt will not clean up")
        }
        let outcomes = matrix.run { environment, command in
            print("== \(environment.name): \(command.dropFirst().joined(separator: " "))")
            fflush(nil)
        }
        let result = MatrixReport(plan: file, outcomes: outcomes)
        do {
            try ReportFiles.write(try result.json(), to: report + "/matrix.json")
            try ReportFiles.write(result.markdown, to: report + "/matrix.md")
            try ReportFiles.write(HTMLReport.render(result), to: report + "/matrix.html")
        } catch {
            printError(Console.printable("handoff matrix: cannot write reports to \(report): \(error)"))
            throw ExitCode(2)
        }
        appendStepSummary(markdown: result.markdown, path: stepSummary)
        for environment in result.environments {
            let line = environment.status == .ran
                ? "\(environment.name): ran, exit \(environment.exitStatus ?? 0)"
                : "\(environment.name): \(environment.status.rawValue)\(environment.optional ? " (optional)" : ""): \(environment.reason ?? "")"
            print(Console.printable(line))
        }
        let comparison = result.comparison
        print("matrix: \(comparison.runs.count) of \(result.environments.count) environments ran, "
            + "\(comparison.divergentScenarios.count) of \(comparison.matrix.count) cases differ; reports in \(report)")
        if matrix.interrupted { throw ExitCode(130) }
        if !result.missingEnvironments.isEmpty {
            printError("handoff matrix: \(result.missingEnvironments.map(\.name).joined(separator: ", ")) could not run here "
                + "(mark an environment `optional: true` where that is expected)")
            throw ExitCode(2)
        }
        if comparison.runs.isEmpty || comparison.matrix.isEmpty {
            printError("handoff matrix: no environment ran a scenario (empty is not green)")
            throw ExitCode(2)
        }
        var reasons: [String] = []
        if failOn.contains(.regression) && comparison.hasRegression {
            reasons.append("\(comparison.changes.filter { $0.kind == .regression }.count) regression(s) from \(comparison.runs[0].label)")
        }
        if failOn.contains(.missing) && comparison.hasMissing {
            reasons.append("\(comparison.matrix.values.filter { $0.contains(nil) }.count) case(s) missing from an environment")
        }
        if failOn.contains(.failure) {
            let failing = comparison.runs.filter { !($0.summary?.succeeded ?? true) }.map(\.label)
            if !failing.isEmpty { reasons.append("failures in \(failing.joined(separator: ", "))") }
        }
        if !reasons.isEmpty {
            printError("handoff matrix: " + reasons.joined(separator: "; ") + " (--fail-on)")
            throw ExitCode(1)
        }
    }
}
