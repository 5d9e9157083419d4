import ArgumentParser
import Foundation
import HandoffCore

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List scenarios with their summaries and tags.")

    @OptionGroup var selection: ScenarioSelection

    func run() throws {
        // As `validate` and `run`: an empty selection is an error, not an empty list that looks fine.
        for scenario in try selection.loadSome(toDo: "list") {
            let tags = scenario.tags.isEmpty ? "" : " [\(scenario.tags.joined(separator: ", "))]"
            print("\(scenario.name)\(tags)\n    \(scenario.summary)")
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Parse and validate scenarios without running them.")

    @OptionGroup var selection: ScenarioSelection

    func run() throws {
        let scenarios = try selection.loadSome(toDo: "validate")
        print("\(scenarios.count) scenario\(scenarios.count == 1 ? "" : "s") valid")
    }
}

struct Env: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what this system offers: kernel, container signs, seccomp, capabilities, probes.")

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let fingerprint = Fingerprint.current(agentPath: Suite.defaultAgentPath())
        if json {
            print(String(decoding: try Env.json(fingerprint), as: UTF8.self))
        } else {
            print(fingerprint.text)
        }
    }

    /// What `--json` prints (also written by `run --write-env`, for `run --in`).
    static func json(_ fingerprint: Fingerprint) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(fingerprint)
    }
}

struct Operations: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every operation a scenario step can perform, from the operations' declarations.")

    @Flag(help: "Print the Markdown table kept in docs/scenarios.md.")
    var markdown = false

    func run() throws {
        print(markdown ? OperationReference.markdownTable() : OperationReference.text())
    }
}
