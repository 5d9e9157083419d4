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
            // Absolute: agents start in their scenario's directory, where a relative path names nothing.
            let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            choice = AgentChoice(name: path, path: absolute, environment: environment)
        }
        guard FileManager.default.isExecutableFile(atPath: choice.path) else {
            throw Problem("agent not found at \(choice.path) (build it, or pass --agent NAME|PATH; names: swift, "
                + known.map(\.name).joined(separator: ", ") + ")")
        }
        // LD_PRELOAD is read by the dynamic loader: a statically linked agent (the Swift one is) would run
        // without the library, and a broken implementation injected so would pass every case unseen.
        for entry in environment where entry.hasPrefix("LD_PRELOAD=") || entry.hasPrefix("LD_LIBRARY_PATH=") {
            if isStaticExecutable(choice.path) {
                throw Problem("--agent-env \(entry): the \(choice.name) agent (\(choice.path)) is statically linked, so no "
                    + "dynamic loader reads it and it would change nothing; use a dynamically linked agent (--agent c)")
            }
        }
        return choice
    }

    /// A 64-bit ELF executable, which runs wherever the libraries it names are (`run --kernel` carries them);
    /// false for scripts, whose interpreter is another program, and for anything unreadable.
    public static func isNativeExecutable(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return elfHeader(handle) != nil
    }

    /// An ELF executable without a PT_INTERP program header (no dynamic loader); false for scripts and for
    /// anything unreadable.
    public static func isStaticExecutable(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let header = elfHeader(handle) else { return false }
        func integer(_ data: Data, _ offset: Int, _ size: Int) -> Int {
            (0..<size).reduce(0) { $0 | Int(data[data.startIndex + offset + $1]) << (8 * $1) }  // little-endian
        }
        let programHeaders = integer(header, 32, 8), entrySize = integer(header, 54, 2), count = integer(header, 56, 2)
        guard entrySize >= 4, count > 0, count < 256, (try? handle.seek(toOffset: UInt64(programHeaders))) != nil,
              let table = try? handle.read(upToCount: entrySize * count), table.count == entrySize * count
        else { return false }
        let ptInterp = 3
        return !(0..<count).contains { integer(table, $0 * entrySize, 4) == ptInterp }
    }

    /// The 64-byte header of a 64-bit ELF file, read from its start; nil for anything else.
    private static func elfHeader(_ handle: FileHandle) -> Data? {
        guard let header = try? handle.read(upToCount: 64), header.count == 64,
              header.starts(with: [0x7F, 0x45, 0x4C, 0x46]), header[4] == 2  // ELF, 64-bit
        else { return nil }
        return header
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
