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

    /// In `--in bwrap` the agent lies below /tmp, which the sandbox replaces with a private tmpfs: its folder
    /// is bound again (read-only), after the tmpfs; folders elsewhere are visible through the read-only root.
    @Test func theSandboxKeepsTheAgentsFolderBelowTmp() {
        let sandbox = LauncherSandbox(bwrap: "/usr/bin/bwrap")
        let wrapped = sandbox.wrap(program: "/usr/bin/tcpserver", arguments: ["-q"], directory: "/tmp/handoff-1-x",
                                   visible: ["/tmp/handoff-bin", "/usr/bin"])
        let arguments = wrapped.arguments
        let tmpfs = arguments.firstIndex(of: "--tmpfs")
        let bound = arguments.indices.first { arguments[$0] == "--ro-bind" && arguments[$0 + 1] == "/tmp/handoff-bin" }
        #expect(bound.flatMap { bound in tmpfs.map { bound > $0 } } == true, "bound after the private /tmp")
        #expect(!arguments.contains("/usr/bin"), "not below /tmp: seen through the read-only root")
        #expect(Array(arguments.suffix(4)) == ["--die-with-parent", "--", "/usr/bin/tcpserver", "-q"])
    }
}
