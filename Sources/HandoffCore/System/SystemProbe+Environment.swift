import Foundation
import Glibc

/// Requirements that depend on the environment the runner is in (a container, a sandbox), not on the
/// kernel: probed by doing the thing once, with the complaint kept for the skip reason.
extension SystemProbe {
    /// Why bubblewrap cannot make its namespaces here, or nil when it can (or is not installed: the
    /// `programs` requirement says that). Probed once, with a mount and an IPC namespace and a fresh /proc
    /// (a PID namespace needs the same privilege, but its init can outlive bwrap for a moment, an orphan the
    /// runner - a subreaper - would have to reap): inside runc or crun the runner lacks CAP_SYS_ADMIN
    /// ("Creating new namespace failed: Operation not permitted"); gVisor has no /proc/sys/kernel/overflowuid,
    /// which bubblewrap reads.
    public static let bubblewrapProblem: String? = {
        guard let bwrap = program(named: "bwrap") else { return nil }
        let arguments = [bwrap, "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-ipc", "--",
                         bwrap, "--version"]
        return bubblewrapFailure(arguments).map { "bubblewrap cannot make its namespaces here: \($0)" }
    }()

    /// The skip reason for an environment feature that is missing, nil for kernel features and present ones.
    static func environmentFeatureProblem(_ name: String) -> String? {
        switch name {
        case "bwrap-namespaces": return bubblewrapProblem.map { "needs bwrap-namespaces (\($0))" }
        default: return nil
        }
    }
}

extension SystemProbe {
    /// Runs a bubblewrap command line: nil when it exits 0, else the last line bubblewrap wrote to stderr (its
    /// reason) - shared by the `bwrap-namespaces` feature and the launcher sandbox's probe.
    static func bubblewrapFailure(_ arguments: [String]) -> String? {
        guard let result = try? captureOutput(arguments, errors: true) else { return "bubblewrap cannot be started" }
        if result.status == 0 { return nil }
        return result.output.split(separator: "\n").last.map(String.init) ?? "exit status \(result.status)"
    }
}
