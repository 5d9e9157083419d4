import Foundation
import Glibc
import Testing

@testable import HandoffCore

/// Requirements that depend on where the runner is (a container, a sandbox) rather than on the kernel.
@Suite struct EnvironmentFeatureTests {
    static let bwrapUsable = SystemProbe.program(named: "bwrap") != nil && SystemProbe.heldCapabilities.contains("CAP_SYS_ADMIN")

    @Test(.enabled(if: Self.bwrapUsable, "needs bwrap and CAP_SYS_ADMIN"))
    func bubblewrapMakesItsNamespacesOnTheHost() {
        #expect(SystemProbe.bubblewrapProblem == nil)
        var requirements = Requirements()
        requirements.features = ["bwrap-namespaces"]
        #expect(SystemProbe.unmet(requirements) == nil)
    }

    /// Where bubblewrap fails, the reason is its own stderr, not a bare exit status.
    @Test func aFailingSandboxProbeQuotesTheProgram() throws {
        let script = NSTemporaryDirectory() + "handoff-fake-bwrap-\(getpid())"
        try "#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        defer { unlink(script) }
        chmod(script, 0o755)
        let problem = LauncherSandbox.probe(script)
        #expect(problem == "bubblewrap cannot make the sandbox here (bwrap: Creating new namespace failed: Operation not permitted)")
    }

    @Test func kernelFeaturesHaveNoEnvironmentProblem() {
        #expect(SystemProbe.environmentFeatureProblem("pidfd-reopen") == nil)
    }

    /// In `--in bwrap` the agent lies below /tmp (/tmp/handoff-bin), and CI's checkout may too: the sandbox
    /// leaves /tmp as the host has it (read-only), so a program there still runs, and writing there still fails.
    @Test(.enabled(if: CommandLineTests.sandboxWorks, "bubblewrap cannot make a sandbox here"))
    func aProgramBelowTmpRunsInTheSandboxAndTmpIsReadOnly() throws {
        guard case .success(let resolved) = LauncherSandbox.resolve(.auto), let sandbox = resolved.sandbox else {
            Issue.record("the sandbox worked when the test was enabled and not now")
            return
        }
        let folder = NSTemporaryDirectory() + "handoff-sandbox-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let shell = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path  // a copy, not a link to it
        try FileManager.default.copyItem(atPath: shell, toPath: folder + "/bin/sh")
        let run = { (script: String) throws -> Int32 in
            let wrapped = sandbox.wrap(program: folder + "/bin/sh", arguments: ["-c", script], directory: folder + "/own")
            return try captureOutput([wrapped.program] + wrapped.arguments).status
        }
        try FileManager.default.createDirectory(atPath: folder + "/own", withIntermediateDirectories: true)
        #expect(try run("exit 7") == 7, "the program below /tmp ran")
        #expect(try run("echo x > \(folder)/own/file") == 0, "its own directory is writable")
        #expect(try run("echo x > \(folder)/outside") != 0, "the rest of /tmp is not")
        #expect(!FileManager.default.fileExists(atPath: folder + "/outside"))
    }
}
