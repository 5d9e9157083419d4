// Runs a matrix plan: one `handoff run` per environment, one after the other (each already runs its
// scenarios in parallel, and two environments at once would skew each other's timings), then one
// comparison of all their reports. Each run is this executable started afresh, so an environment is run
// exactly as `handoff run` runs it by hand, and a crash in one column cannot take the others with it.

import CHandoff
import Foundation
import Glibc

/// What became of one environment.
public struct MatrixOutcome: Codable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// The run ended with a verdict (exit 0 or 1) and a report.
        case ran
        /// The environment cannot run here (exit 2: a runtime missing, a kernel not fetched): the reason.
        case unavailable
        /// A signal stopped the matrix during this run (or before it).
        case interrupted
    }

    public var name: String
    public var status: Status
    public var optional: Bool
    /// `handoff run` exactly as started, for a reader who wants to repeat one column.
    public var command: [String]
    public var exitStatus: Int32?
    /// Why it did not run: the last line the run printed on stderr.
    public var reason: String?
    /// The run's report folder, relative to the matrix report folder.
    public var reportDirectory: String
    public var wallSeconds: Double
}

/// Runs the environments of a plan in turn. `forward(signal:)` may be called from a signal thread.
public final class MatrixRun: @unchecked Sendable {
    public let plan: MatrixPlan
    public let runner: String
    public let reportDirectory: String
    private let lock = NSLock()
    private var currentGroup: pid_t = 0
    private var interruptedBySignal: Int32 = 0

    public init(plan: MatrixPlan, runner: String, reportDirectory: String) {
        self.plan = plan
        self.runner = runner
        self.reportDirectory = reportDirectory
    }

    public var interrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return interruptedBySignal != 0
    }

    /// Passes SIGINT/SIGTERM/SIGHUP to the running `handoff run` (its own process group), which then kills
    /// its scenarios and writes what it has; no further environment starts.
    public func forward(signal: Int32) {
        lock.lock()
        interruptedBySignal = signal
        let group = currentGroup
        lock.unlock()
        if group > 0 { Glibc.kill(-group, signal) }
    }

    /// The `handoff run` command line of `environment` (the runner's path first).
    public func command(for environment: MatrixEnvironment) -> [String] {
        var arguments = [runner, "run"] + plan.scenarios
        if let filter = plan.filter { arguments.append("--filter=" + filter) }  // "=": a value may start with "-"
        for tag in plan.tags { arguments.append("--tag=" + tag) }
        if let jobs = plan.jobs { arguments += ["--jobs", String(jobs)] }
        if let timeout = plan.timeout { arguments += ["--timeout", String(timeout)] }
        return arguments + ["--report", reportDirectory + "/" + environment.name] + environment.runArguments
    }

    /// Runs every environment; `announce` is told before each starts. Reports land in
    /// `reportDirectory/NAME`; each run's stderr is passed through and kept in `NAME.stderr`.
    public func run(announce: (MatrixEnvironment, [String]) -> Void) -> [(MatrixOutcome, RunReport?)] {
        var results: [(MatrixOutcome, RunReport?)] = []
        for environment in plan.environments {
            let command = self.command(for: environment)
            var outcome = MatrixOutcome(name: environment.name, status: .interrupted, optional: environment.optional,
                                        command: command, exitStatus: nil, reason: nil,
                                        reportDirectory: environment.name, wallSeconds: 0)
            if interrupted {
                outcome.reason = "not started: the matrix was interrupted"
                results.append((outcome, nil))
                continue
            }
            announce(environment, command)
            let started = monotonicNow()
            let (status, errorText) = runOne(command, stderrPath: reportDirectory + "/\(environment.name).stderr")
            outcome.wallSeconds = Double(monotonicNow() - started) / 1e9
            outcome.exitStatus = status
            let report = try? RunReport.load(reportDirectory + "/\(environment.name)/report.json")
            let lastLine = errorText.split(separator: "\n").last.map(String.init)
            switch status {
            case 0 where report != nil, 1 where report != nil:
                outcome.status = .ran
            case 130:
                outcome.status = .interrupted
                outcome.reason = "interrupted"
            default:
                outcome.status = interrupted ? .interrupted : .unavailable
                outcome.reason = lastLine ?? "handoff run exited with status \(status.map(String.init) ?? "unknown") and no message"
            }
            results.append((outcome, outcome.status == .ran ? report : nil))
        }
        return results
    }

    /// Starts one run with stdout passed through and stderr into a file (echoed afterwards), and waits.
    private func runOne(_ command: [String], stderrPath: String) -> (Int32?, String) {
        let errorFile = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard errorFile >= 0 else { return (nil, "cannot create \(stderrPath): \(Errno.name(of: errno))") }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let pid: pid_t
        do {
            pid = try HelperProcess.spawn(command[0], Array(command.dropFirst()), stdin: null, stdout: 1, stderr: errorFile)
        } catch {
            close(errorFile)
            if null >= 0 { close(null) }
            return (nil, "\(error)")
        }
        close(errorFile)
        if null >= 0 { close(null) }
        lock.lock()
        currentGroup = pid
        let early = interruptedBySignal
        lock.unlock()
        if early != 0 { Glibc.kill(-pid, early) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        lock.lock()
        currentGroup = 0
        lock.unlock()
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        if !text.isEmpty { FileHandle.standardError.write(Data(text.utf8)) }
        // WIFEXITED / WEXITSTATUS; a run killed by a signal has no exit status.
        if status & 0x7f == 0 { return ((status >> 8) & 0xff, text) }
        return (nil, text + "handoff run was killed by signal \(status & 0x7f)\n")
    }
}

/// The matrix report: the plan's environments with what became of each, and the comparison of the runs
/// that ran (the first one that ran is the baseline).
public struct MatrixReport: Codable, Sendable {
    public static let currentSchemaVersion = 1

    public var schemaVersion = MatrixReport.currentSchemaVersion
    public var plan: String
    public var environments: [MatrixOutcome]
    public var comparison: Comparison

    public init(plan: String, outcomes: [(MatrixOutcome, RunReport?)], timingThreshold: Double = 1.5) {
        self.plan = plan
        environments = outcomes.map(\.0)
        comparison = Comparison(reports: outcomes.compactMap { outcome, report in report.map { (label: outcome.name, report: $0) } },
                                timingThreshold: timingThreshold)
    }

    /// Environments that should have run and did not: unavailable and not optional.
    public var missingEnvironments: [MatrixOutcome] {
        environments.filter { $0.status == .unavailable && !$0.optional }
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public var markdown: String {
        var text = "## handoff matrix: \(plan)\n\n| environment | status | command |\n|---|---|---|\n"
        for environment in environments {
            let status = environment.status == .ran ? "ran (exit \(environment.exitStatus ?? 0), "
                + String(format: "%.1f s)", environment.wallSeconds)
                : environment.status.rawValue + (environment.optional ? " (optional)" : "") + ": " + (environment.reason ?? "")
            text += "| \(Comparison.markdownCell(environment.name)) | \(Comparison.markdownCell(status)) | `"
                + Comparison.markdownCell(environment.command.dropFirst().joined(separator: " ")) + "` |\n"
        }
        if comparison.runs.isEmpty { return text + "\nNo environment ran.\n" }
        return text + "\n" + comparison.markdown.replacingOccurrences(of: "## handoff compare:", with: "### runs compared:")
    }
}
