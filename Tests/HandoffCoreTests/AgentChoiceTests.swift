import Foundation
import HandoffCore
import Testing

/// `--agent NAME|PATH` and `--agent-env`: what is accepted, and the message when it cannot be used.
struct AgentChoiceTests {
    @Test func swiftIsHandoffsOwnAgent() throws {
        let choice = try AgentChoice.resolve(nil)
        #expect(choice.name == "swift")
        #expect(choice.path.hasSuffix("/handoff-agent"))
        #expect(try AgentChoice.resolve("swift") == choice)
    }

    @Test func aPathIsUsedAsItIs() throws {
        let own = try AgentChoice.resolve(nil).path
        let choice = try AgentChoice.resolve(own, environment: ["LD_PRELOAD=/x.so"])
        #expect(choice.name == own && choice.path == own && choice.environment == ["LD_PRELOAD=/x.so"])
    }

    @Test func aMissingAgentSaysWhatWasTried() {
        #expect(throws: AgentChoice.Problem.self) { try AgentChoice.resolve("/nonexistent/agent") }
        do {
            _ = try AgentChoice.resolve("/nonexistent/agent")
        } catch {
            #expect(error.description.contains("/nonexistent/agent"))
            #expect(error.description.contains("python"))
        }
    }

    @Test func environmentEntriesMustBeNameEqualsValue() {
        for bad in ["FOO", "=1", ""] {
            #expect(throws: AgentChoice.Problem.self) { try AgentChoice.resolve(nil, environment: [bad]) }
        }
        #expect(throws: Never.self) { try AgentChoice.resolve(nil, environment: ["A=", "B=x=y"]) }
    }
}
