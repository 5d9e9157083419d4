import ArgumentParser
import Foundation
import Glibc
import HandoffCore

/// The command line: a thin shell over HandoffCore. Synchronous on purpose (an async root command starts
/// Swift's thread pool for nothing).
@main
struct Handoff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handoff",
        abstract: "A conformance and stress harness for file-descriptor passing on Linux.",
        discussion: """
            Scenarios (YAML) drive process trees on the real kernel; after every step each process's descriptor \
            table is compared with a reference model of Linux descriptor semantics.
            Exit status: 0 all passed or skipped, 1 a scenario failed, errored or timed out, 2 usage or scenario \
            error (also: nothing selected, reports or standard output that cannot be written), 130 interrupted.
            """,
        subcommands: [Run.self, List.self, Validate.self, Operations.self, Env.self, Merge.self, Compare.self, StressCommand.self,
                      FuzzCommand.self, AgentCheckCommand.self, Matrix.self],
        defaultSubcommand: Run.self
    )

    /// ArgumentParser's own entry point, except that a usage error (an unknown option, a failed `validate()`,
    /// which ArgumentParser ends with EX_USAGE, 64) exits 2, as documented; its message is printed as usual,
    /// and `--help` still exits 0.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
            // What was printed must have reached stdout (a full disk, /dev/full): a green exit status over
            // output that was lost would be a lie to whoever reads it. Exit 2, as for reports not written.
            if let reason = Console.flushStandardOutput() {
                printError("handoff: cannot write to standard output (\(reason)): what was printed is lost")
                Glibc.exit(2)
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                let message = fullMessage(for: error)
                if !message.isEmpty { printError(message) }
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// The bounds of the numbers the options take: each is checked in `validate()`, so that a number out of
/// range is a usage error (exit 2) rather than a crash or a run that never ends.
enum Limits {
    static let jobs = 1...256
    static let shards = 1...10_000
    /// A week, for `stress --duration`.
    static let maximumDuration: Double = 7 * 86_400

    /// `60`, `60s` or `10m` in seconds (nil when it is not a number); range checks are the caller's.
    static func seconds(in text: String) -> Double? {
        var text = text
        var factor = 1.0
        if text.hasSuffix("m") { factor = 60; text.removeLast() } else if text.hasSuffix("s") { text.removeLast() }
        return Double(text).map { $0 * factor }
    }

    /// A finite number of seconds in (0, a day]; NaN and infinities fail the comparisons.
    static func checkTimeout(_ value: Double, option: String = "--timeout") throws {
        guard value > 0, value <= Scenario.maximumTimeout else {
            throw ValidationError("\(option) must be a number of seconds greater than 0 and at most "
                + "\(Int(Scenario.maximumTimeout)) (a day), not \(value)")
        }
    }

    /// The base of the scenario directories must exist and be writable (see ScenarioDirectory.problem).
    static func checkWorkDirectory(_ workdir: String?) throws {
        if let problem = ScenarioDirectory.problem(base: workdir) {
            throw ValidationError("scenario directories cannot be made in \(problem)")
        }
    }

    static func checkJobs(_ value: Int) throws {
        guard jobs.contains(value) else {
            throw ValidationError("--jobs must be between \(jobs.lowerBound) and \(jobs.upperBound), not \(value)")
        }
    }
}

/// Which scenarios: paths plus a selection, shared by every subcommand.
struct ScenarioSelection: ParsableArguments {
    @Argument(help: "Scenario files or directories (default: scenarios/).")
    var paths: [String] = []

    @Option(name: .customLong("filter"), help: "Only scenarios whose name contains this text.")
    var filters: [String] = []

    /// The one --filter (a second is refused: ArgumentParser would keep only the last, silently).
    var filter: String? { filters.first }

    @Option(name: .customLong("tag"), help: "Only scenarios with this tag (repeatable).")
    var tags: [String] = []

    var resolvedPaths: [String] { paths.isEmpty ? ["scenarios"] : paths }

    func validate() throws {
        // An empty text would select everything (--filter) or nothing (--tag) while looking like a choice.
        if filters.count > 1 {
            throw ValidationError("--filter is given \(filters.count) times; it takes one text that a scenario's name contains "
                + "(to select by several, give the paths, or --tag)")
        }
        if filter?.isEmpty == true { throw ValidationError("--filter needs a text to look for in scenario names, not an empty one") }
        if tags.contains("") { throw ValidationError("--tag needs a tag name, not an empty one") }
        if paths.contains("") { throw ValidationError("a scenario path is empty") }
    }

    /// Loads and validates; on any scenario error prints every error and exits 2. The result may be empty:
    /// `whyEmpty()` says why.
    func load() throws -> [Scenario] {
        let load = Suite.load(resolvedPaths, selection: SelectionOptions(filter: filter, tags: tags))
        if !load.errors.isEmpty {
            // One line each, whatever a file name contains.
            for error in load.errors { printError(Console.printable(error.description)) }
            printError("\(load.errors.count) scenario error\(load.errors.count == 1 ? "" : "s"); nothing was run")
            throw ExitCode(2)
        }
        return load.scenarios
    }

    /// `load()`, where an empty selection is a usage error (exit 2) saying why: nothing to `doing`.
    func loadSome(toDo doing: String) throws -> [Scenario] {
        let scenarios = try load()
        if scenarios.isEmpty {
            printError("handoff: nothing to \(doing): \(whyEmpty())")
            throw ExitCode(2)
        }
        return scenarios
    }

    /// Why `load()` selected nothing: no scenario file at all, or a filter or tag that matches none of them.
    func whyEmpty() -> String {
        let files = (try? ScenarioDiscovery.find(resolvedPaths).count) ?? 0
        let places = resolvedPaths.map { "'\($0)'" }.joined(separator: ", ")
        if files == 0 { return Console.printable("no scenario files (*.yaml, *.yml) in \(places)") }
        let criteria = (filter.map { ["--filter '\($0)'"] } ?? []) + tags.map { "--tag '\($0)'" }
        return Console.printable("no scenario matches \(criteria.joined(separator: " ")) "
            + "(\(files) scenario file\(files == 1 ? "" : "s") in \(places))")
    }
}

/// Which agent program drives the scenario processes, shared by run and stress.
struct AgentSelection: ParsableArguments {
    @Option(help: """
        The agent: swift (handoff's own, the default; or $HANDOFF_AGENT), c, python, python-inherit, go, go-restore-cloexec (`make agents`), \
        or the path of any program that speaks docs/protocol.md.
        """)
    var agent: String?

    @Option(name: .customLong("agent-env"), help: "NAME=VALUE added to the agent's environment (repeatable), e.g. LD_PRELOAD=... (with a dynamically linked agent: --agent c)")
    var agentEnvironment: [String] = []

    /// The agent, or one line and exit 2 when it cannot be used.
    func resolve() throws -> AgentChoice {
        do {
            return try AgentChoice.resolve(agent, environment: agentEnvironment)
        } catch {
            printError("handoff: \(error)")
            throw ExitCode(2)
        }
    }

    /// The execution options for this agent. Kernel probes are asked of handoff's own agent when it is there.
    func executionOptions(_ choice: AgentChoice, timeout: Double, identity: IdentityMode = .auto,
                          workDirectory: String?) -> ExecutionOptions {
        let ownAgent = Suite.defaultAgentPath()
        return ExecutionOptions(timeout: timeout, identity: identity, agentPath: choice.path, workDirectory: workDirectory,
                                agentEnvironment: choice.environment,
                                probeAgentPath: FileManager.default.isExecutableFile(atPath: ownAgent) ? ownAgent : choice.path)
    }
}

/// `--sandbox`, shared by run and stress.
struct SandboxSelection: ParsableArguments {
    @Option(help: """
        Launchers under test run with the file system read-only except their scenario's directory (bubblewrap; \
        /tmp included): auto (where bubblewrap works here; the report says whether), on (or exit 2), off.
        """)
    var sandbox: SandboxMode = .auto

    /// The sandbox for these scenarios and the line the report keeps; only scenarios that launch something
    /// need one (the probe costs a bubblewrap start).
    func resolve(for scenarios: [Scenario]) throws -> (sandbox: LauncherSandbox?, note: String?) {
        guard scenarios.contains(where: { !$0.requires.programs.isEmpty }) else { return (nil, nil) }
        switch LauncherSandbox.resolve(sandbox) {
        case .success(let resolved): return (resolved.sandbox, resolved.note)
        case .failure(let error):
            printError("handoff: \(error)")
            throw ExitCode(2)
        }
    }
}

extension SandboxMode: ExpressibleByArgument {}

/// A report directory that cannot be written: one line and exit 2, before anything runs.
func prepareReportDirectory(_ directory: String) throws {
    // An empty name once meant "/": report.json and its siblings were written at the root of the filesystem.
    if directory.isEmpty {
        printError("handoff: --report needs a directory, not an empty name")
        throw ExitCode(2)
    }
    do {
        try ReportFiles.prepare(directory)
    } catch {
        printError(Console.printable("handoff: cannot write reports to \(directory): \(error.reason)"))
        throw ExitCode(2)
    }
}
