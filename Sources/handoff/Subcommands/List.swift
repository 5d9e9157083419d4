import ArgumentParser
import HandoffCore

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List scenarios with their summaries and tags.")

    @OptionGroup var selection: ScenarioSelection

    func run() throws {
        for scenario in try selection.load() {
            let tags = scenario.tags.isEmpty ? "" : " [\(scenario.tags.joined(separator: ", "))]"
            print("\(scenario.name)\(tags)\n    \(scenario.summary)")
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Parse and validate scenarios without running them.")

    @OptionGroup var selection: ScenarioSelection

    func run() throws {
        let scenarios = try selection.load()
        print("\(scenarios.count) scenario\(scenarios.count == 1 ? "" : "s") valid")
    }
}
