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
        let choice = try AgentChoice.resolve(own, environment: ["HANDOFF_X=/x.so"])
        #expect(choice.name == own && choice.path == own && choice.environment == ["HANDOFF_X=/x.so"])
    }

    /// Agents start in their scenario's directory: a relative path given on the command line would name
    /// nothing there (every case was an ERROR: posix_spawn ENOENT).
    @Test func aRelativePathIsMadeAbsolute() throws {
        let own = try AgentChoice.resolve(nil).path
        let directory = (own as NSString).deletingLastPathComponent
        let saved = FileManager.default.currentDirectoryPath
        defer { FileManager.default.changeCurrentDirectoryPath(saved) }
        FileManager.default.changeCurrentDirectoryPath((directory as NSString).deletingLastPathComponent)
        let relative = (directory as NSString).lastPathComponent + "/handoff-agent"
        let choice = try AgentChoice.resolve(relative)
        #expect(choice.name == relative)
        #expect(choice.path.hasPrefix("/") && choice.path.hasSuffix("/" + relative), "\(choice.path)")
    }

    /// LD_PRELOAD reaches only a dynamically linked agent: with a static one (the Swift agent is) the library
    /// never loads and a broken implementation injected so passed every case; that is a usage error now. A
    /// script (its interpreter is dynamic) is taken.
    @Test func ldPreloadIntoAStaticAgentIsRefused() throws {
        let own = try AgentChoice.resolve(nil).path
        try #require(AgentChoice.isStaticExecutable(own), "the Swift agent is linked statically")
        do {
            _ = try AgentChoice.resolve(nil, environment: ["LD_PRELOAD=/x.so"])
            Issue.record("LD_PRELOAD into a static agent was accepted")
        } catch {
            #expect(error.description.contains("statically linked"), "\(error)")
        }
        #expect(!AgentChoice.isStaticExecutable("/bin/sh"))
        #expect(!AgentChoice.isStaticExecutable("/nonexistent"))
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-agent-script-\(getpid())").path
        defer { unlink(script) }
        #expect(FileManager.default.createFile(atPath: script, contents: Data("#!/bin/sh\n".utf8),
                                               attributes: [.posixPermissions: 0o755]))
        #expect(!AgentChoice.isStaticExecutable(script))
        #expect(try AgentChoice.resolve(script, environment: ["LD_PRELOAD=/x.so"]).path == script)
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
