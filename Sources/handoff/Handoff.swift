import ArgumentParser
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
            error, 130 interrupted.
            """,
        subcommands: [Run.self, List.self, Validate.self, Operations.self, Env.self, Merge.self, Compare.self, StressCommand.self],
        defaultSubcommand: Run.self
    )
}

/// Which scenarios: paths plus a selection, shared by every subcommand.
struct ScenarioSelection: ParsableArguments {
    @Argument(help: "Scenario files or directories (default: scenarios/).")
    var paths: [String] = []

    @Option(help: "Only scenarios whose name contains this text.")
    var filter: String?

    @Option(name: .customLong("tag"), help: "Only scenarios with this tag (repeatable).")
    var tags: [String] = []

    var resolvedPaths: [String] { paths.isEmpty ? ["scenarios"] : paths }

    /// Loads and validates; on any scenario error prints every error and exits 2.
    func load() throws -> [Scenario] {
        let load = Suite.load(resolvedPaths, selection: SelectionOptions(filter: filter, tags: tags))
        if !load.errors.isEmpty {
            for error in load.errors { printError(error.description) }
            printError("\(load.errors.count) scenario error\(load.errors.count == 1 ? "" : "s"); nothing was run")
            throw ExitCode(2)
        }
        return load.scenarios
    }
}
