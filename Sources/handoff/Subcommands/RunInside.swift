import ArgumentParser
import Foundation
import HandoffCore

extension Run {
    /// `run --in ENV`: the suite runs in the environment (its console lines are the inner run's, passed
    /// through); the inner report, with the environment recorded, is written to --report. The exit status is
    /// the inner run's verdict; an environment that cannot run here is exit 2 with the reason.
    func runInside(_ environment: RunEnvironment, scenarios: [Scenario]) throws {
        let runner = EnvironmentRun.currentExecutable
        var programs: [String] = []
        for name in scenarios.flatMap(\.requires.programs) {
            if let path = SystemProbe.program(named: name), !programs.contains(path) { programs.append(path) }
        }
        let run = EnvironmentRun(environment: environment, runner: runner, agent: Suite.defaultAgentPath(),
                                 scenarioPaths: selection.resolvedPaths, runArguments: innerArguments, programs: programs)
        if let problem = ActiveRuns.installInterruptHandler(onSignal: { signal in
            printError("handoff: signal \(signal): passing it to the run in \(environment.label)")
            run.forward(signal: signal)
        }) {
            printError("handoff: \(problem); an interrupt will not clean up")
        }
        let outcome: EnvironmentRun.Outcome
        do {
            outcome = try run.run()
        } catch {
            printError(Console.printable("handoff: \(error)"))
            if ActiveRuns.shared.isInterrupted { throw ExitCode(130) }
            throw ExitCode(2)
        }
        do {
            try outcome.report.write(to: report)
            if let json = outcome.environmentJSON { try ReportFiles.write(json, to: report + "/env.json") }
        } catch {
            printError(Console.printable("handoff: cannot write reports to \(report): \(error)"))
            throw ExitCode(2)
        }
        appendStepSummary(outcome.report)
        let record = outcome.record
        // A comment line in a TAP stream.
        print((format == .tap ? "# " : "") + String(format: "handoff: ran in %@%@: suite %.2f s, %.2f s from start to exit, %.2f s to prepare; reports in %@",
                     environment.label, record.runtime.map { " (\($0))" } ?? "", outcome.report.durationSeconds,
                     record.wallSeconds, record.setupSeconds, report))
        if outcome.interrupted || ActiveRuns.shared.isInterrupted { throw ExitCode(130) }
        if !outcome.report.summary.succeeded { throw ExitCode(1) }
    }
}
