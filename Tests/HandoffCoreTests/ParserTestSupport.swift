import Foundation
import Testing

@testable import HandoffCore

// Helpers of the parser's test files (ScenarioParserTests, ScenarioValidationTests): a scenario document made of
// step lines, its parse, and the error it fails with.

/// A scenario whose steps start on line 3, each step line written as `  - ...` (keys at column 5).
func document(_ steps: String) -> String {
    "summary: s\nsteps:\n" + steps
}

func parse(_ yaml: String) throws(ScenarioError) -> Scenario {
    try ScenarioParser.parse(yaml: yaml, file: "t.yaml", name: "t")
}

/// The steps of a scenario made of these step lines.
func steps(_ lines: String) throws(ScenarioError) -> [Step] {
    try parse(document(lines)).steps
}

/// The last step.
func lastStep(_ lines: String) throws(ScenarioError) -> Step {
    try steps(lines).last!
}

/// The error a scenario fails with; nil if it parses.
func failure(_ yaml: String) -> ScenarioError? {
    do {
        _ = try parse(yaml)
        return nil
    } catch {
        return error
    }
}

func stepFailure(_ lines: String) -> ScenarioError? {
    failure(document(lines))
}

/// Asserts the error's line, column and that its message contains every fragment.
func expectError(_ error: ScenarioError?, _ line: Int, _ column: Int, _ fragments: String...,
                         sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    guard let error else {
        Issue.record("expected an error at \(line):\(column)", sourceLocation: sourceLocation)
        return
    }
    #expect(error.location.file == "t.yaml", sourceLocation: sourceLocation)
    #expect(error.location.line == line && error.location.column == column,
            "at \(error.location.line):\(error.location.column): \(error.message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    }
}
