import Foundation

/// Which agent program drives a scenario's processes: handoff's own Swift agent, one of the other-language
/// agents under `agents/` (IMPLEMENTATIONS.md), or any executable that speaks docs/protocol.md.
public struct AgentChoice: Sendable, Equatable, Codable {
    /// The name it was chosen by (`swift`, `c`, `python`, `go`) or the path as given.
    public var name: String
    public var path: String
    /// `NAME=VALUE` entries added to the root agent's environment (`--agent-env`, e.g. LD_PRELOAD).
    public var environment: [String]

    public init(name: String, path: String, environment: [String] = []) {
        self.name = name
        self.path = path
        self.environment = environment
    }

    /// Why an agent cannot be used: a usage error (exit 2), printed as it is.
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The agents handoff knows by name, and where `make agents` puts each below the agents folder.
    public static let known: [(name: String, relativePath: String)] = [
        ("c", "c/build/handoff-agent-c"),
        ("python", "python/handoff-agent-py"),
        // Python with os.set_inheritable after the calls PEP 446 makes close-on-exec (IMPLEMENTATIONS.md).
        ("python-inherit", "python/handoff-agent-py-inherit"),
        ("go", "go/build/handoff-agent-go"),
        // A diagnostic build: the ForkExec child sets close-on-exec again, which no Go library does.
        ("go-restore-cloexec", "go/build/handoff-agent-go-restore-cloexec"),
    ]

    /// `swift` (or nothing): the Swift agent beside handoff (or $HANDOFF_AGENT); a known name: its program
    /// under the agents folder; anything else: a path. Fails with what was tried when it is not executable.
    public static func resolve(_ spec: String?, environment: [String] = []) throws(Problem) -> AgentChoice {
        for entry in environment where !entry.contains("=") || entry.hasPrefix("=") {
            throw Problem("--agent-env \(entry): expected NAME=VALUE")
        }
        let choice: AgentChoice
        switch spec {
        case nil, "swift":
            choice = AgentChoice(name: "swift", path: Suite.defaultAgentPath(), environment: environment)
        case let name? where known.contains { $0.name == name }:
            let relative = known.first { $0.name == name }?.relativePath ?? name
            let candidates = agentsFolders().map { $0 + "/" + relative }
            guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw Problem("the \(name) agent is not built (looked for \(candidates.joined(separator: ", "))); "
                    + "run `make agents`, or pass --agent PATH")
            }
            choice = AgentChoice(name: name, path: found, environment: environment)
        case let path?:
            choice = AgentChoice(name: path, path: path, environment: environment)
        }
        guard FileManager.default.isExecutableFile(atPath: choice.path) else {
            throw Problem("agent not found at \(choice.path) (build it, or pass --agent NAME|PATH; names: swift, "
                + known.map(\.name).joined(separator: ", ") + ")")
        }
        return choice
    }

    /// $HANDOFF_AGENTS, then `agents/` in the checkout the running handoff was built in (it sits in
    /// `.build/<configuration>/`), then `agents/` in the current directory.
    static func agentsFolders() -> [String] {
        var folders: [String] = []
        if let folder = ProcessInfo.processInfo.environment["HANDOFF_AGENTS"], !folder.isEmpty { folders.append(folder) }
        var directory = ((Observer.readLink("/proc/self/exe") ?? CommandLine.arguments[0]) as NSString)
            .deletingLastPathComponent
        for _ in 0..<4 where directory != "/" && !directory.isEmpty {
            directory = (directory as NSString).deletingLastPathComponent
            if FileManager.default.fileExists(atPath: directory + "/agents") { folders.append(directory + "/agents"); break }
        }
        folders.append(FileManager.default.currentDirectoryPath + "/agents")
        return folders
    }
}
