// `--sandbox`: a launcher under test is a program handoff does not control, run as root in CI. It runs in a
// bubblewrap mount namespace where the file system is read-only except the scenario's own directory, with a
// fresh /dev holding only the harmless devices. It can still do
// everything a launcher does to descriptors: bubblewrap passes on every descriptor it inherited without
// close-on-exec and adds none (the `inherit` hand-over, scenarios/launchers/bwrap-inherit.yaml), so the
// service's table is what it would be without the sandbox. Processes it starts are contained as before.

import Foundation
import Glibc

/// Whether launchers run in the read-only sandbox.
public enum SandboxMode: String, Sendable, CaseIterable {
    /// The sandbox where bubblewrap works here, else none (the report says which, and why).
    case auto
    /// The sandbox, or a usage error where it cannot be made.
    case on
    case off
}

public struct LauncherSandbox: Sendable, Equatable {
    /// The bubblewrap executable.
    public let bwrap: String

    /// The program and arguments that run `program` in the sandbox, with `directory` (the scenario's
    /// private directory: its work directory and control socket) writable, and the paths the scenario
    /// declares it writes (`requires: writes`; a container runtime's /run and /sys/fs/cgroup).
    public func wrap(program: String, arguments: [String], directory: String, writable: [String] = [])
        -> (program: String, arguments: [String])
    {
        // /tmp stays the host's, read-only like the rest: a private tmpfs there would hide what lives under
        // /tmp and the launcher must reach (the agent of a checkout in /tmp, as CI's clone is).
        var options = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--bind", directory, directory]
        for path in writable { options += ["--bind", path, path] }
        return (bwrap, options + ["--die-with-parent", "--", program] + arguments)
    }

    /// The sandbox for `mode`: nil with the reason when there is none (off, or auto where bubblewrap is
    /// missing or cannot make a mount namespace here); `.failure` when `on` cannot be honoured.
    public static func resolve(_ mode: SandboxMode) -> Result<(sandbox: LauncherSandbox?, note: String), SandboxError> {
        if mode == .off { return .success((nil, "off (--sandbox off)")) }
        guard let bwrap = SystemProbe.program(named: "bwrap") else {
            let reason = "bubblewrap (bwrap) is not installed"
            return mode == .on ? .failure(SandboxError(reason: reason)) : .success((nil, "off: \(reason)"))
        }
        if let problem = probe(bwrap) {
            return mode == .on ? .failure(SandboxError(reason: problem)) : .success((nil, "off: \(problem)"))
        }
        return .success((LauncherSandbox(bwrap: bwrap), "on: launchers see a read-only file system but their scenario's directory"))
    }

    /// Runs `bwrap --version` in the sandbox once (bubblewrap is there wherever the sandbox could be; /bin/true
    /// is not in a container's bundle): nil when it works, else bubblewrap's complaint from its stderr
    /// (inside runc or crun: "Creating new namespace failed: Operation not permitted").
    static func probe(_ bwrap: String) -> String? {
        guard let directory = StaleRuns.makeFolder(in: ScenarioDirectory.base(nil), label: "sandbox-probe") else {
            return "cannot create a folder for bubblewrap's probe: \(Errno.name(of: errno))"
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let wrapped = LauncherSandbox(bwrap: bwrap).wrap(program: bwrap, arguments: ["--version"], directory: directory)
        return SystemProbe.bubblewrapFailure([wrapped.program] + wrapped.arguments)
            .map { "bubblewrap cannot make the sandbox here (\($0))" }
    }
}

public struct SandboxError: Error, CustomStringConvertible, Equatable {
    public var reason: String
    public var description: String { "--sandbox on: \(reason)" }
}
