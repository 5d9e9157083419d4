import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// The package root, found from this file's path.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

let agentPath = Suite.defaultAgentPath()

func scenario(_ yaml: String, name: String = "inline") throws -> Scenario {
    try ScenarioParser.parse(yaml: yaml, file: "\(name).yaml", name: name)
}

func run(_ scenario: Scenario, identity: IdentityMode = .auto, timeout: Double = 10,
         injections: [Injection] = []) -> ScenarioResult {
    let options = ExecutionOptions(timeout: timeout, identity: identity, agentPath: agentPath, injections: injections)
    return Suite.run([scenario], options: options)[0]
}

/// The numbers open in this process right now.
func openDescriptors() -> Set<Int32> {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return Set(names.compactMap { Int32($0) })
}

/// Live agent processes descended from this test process (other runs on the machine do not count).
func agentProcesses() -> [pid_t] {
    ResourceSample.agentsAndChildren().agents
}

/// Live agents of this build anywhere: for a child CLI, whose orphans could be re-parented away from us.
/// Only this package's agent executable counts (other checkouts on the machine run their own agents).
func allAgentProcesses() -> [pid_t] {
    let ours = URL(fileURLWithPath: agentPath).resolvingSymlinksInPath().path
    return ProcessStatus.all().filter { status in
        guard status.isAgent, !status.isZombie else { return false }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(status.pid)/exe")) ?? ours
        return executable == ours
    }.map(\.pid)
}

/// Children of this process, zombies included: a run must reap everything it started.
func childProcesses() -> [pid_t] {
    ResourceSample.agentsAndChildren().children
}

extension Step {
    /// The name `as:` gives the step's first (for most operations, only) descriptor; nil when unnamed.
    var boundName: String? { binds.first ?? nil }
}

/// Records an issue against the test that leaves a child of this test process behind (a zombie it did not
/// reap, or a process still running), naming each child, instead of the next test that happens to look: the
/// integration tests' `childProcesses().isEmpty` checks blamed whichever test came after (CI: five tests of
/// three suites failed on one child left by another suite). Needs `--no-parallel`, as those checks do.
struct LeavesNoChildren: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil else { return try await function() }
        let before = Set(childProcesses())
        try await function()
        var left = Set(childProcesses()).subtracting(before)
        // A child reaped on another thread (Foundation's Process) can take a moment to go.
        for _ in 0..<100 where !left.isEmpty {
            usleep(10_000)
            left = Set(childProcesses()).subtracting(before)
        }
        for pid in left.sorted() {
            let status = ProcessStatus.read(pid)
            let command = readFile("/proc/\(pid)/cmdline", limit: 4096).map {
                String(decoding: $0.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            } ?? "?"
            Issue.record("left a child process behind: pid \(pid)\(status?.isZombie == true ? " (a zombie)" : ""): \(command)")
        }
    }
}

extension Trait where Self == LeavesNoChildren {
    /// Each test of the suite must leave no child process behind.
    static var leavesNoChildren: Self { Self() }
}
