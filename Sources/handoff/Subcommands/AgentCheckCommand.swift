import ArgumentParser
import Foundation
import HandoffCore

struct AgentCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-check",
        abstract: "Check that an agent keeps the protocol (docs/protocol.md), apart from the kernel's conformance.",
        discussion: """
            Each check starts the agent as the runner does and holds its answers and its table (/proc) to the \
            contract: start-up and hello, start-up failures, malformed requests, errors, every verb, the channel's \
            invisibility, loops. Checks of operations the agent declares unsupported are skipped. Exit 1 when a \
            check fails. Run it until it is clean, then the catalog with `handoff run --agent`.
            """)

    @OptionGroup var agentSelection: AgentSelection

    @Option(help: "Only checks whose name contains this text.")
    var filter: String?

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() throws {
        let agent = try agentSelection.resolve()
        let report = AgentCheck.run(agentPath: agent.path, environment: agent.environment, filter: filter)
        if report.results.isEmpty {
            printError("handoff agent-check: no check matches --filter '\(filter ?? "")'")
            throw ExitCode(2)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for line in AgentCheck.text(report).split(separator: "\n") { print(Console.printable(String(line))) }
        }
        if report.failed > 0 { throw ExitCode(1) }
    }
}
