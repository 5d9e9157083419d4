import Foundation
import Glibc

extension SystemProbe {
    /// The helper that runs an OCI runtime as a launcher under test (scenarios/launchers/oci-*).
    public static let ociLauncher = "tools/oci-launch.sh"

    /// Whether `runtime` can create and start a container here, probed once by doing it: tools/oci-launch.sh
    /// running /bin/true in a bundle in a fresh temporary folder. Not a kernel version question: runc needs
    /// to create cgroups (a read-only /sys/fs/cgroup in bubblewrap refuses), crun 1.8 refuses a hybrid
    /// cgroup layout unless /sys/fs/cgroup/unified can be unmounted (it cannot in a user namespace), and an
    /// unprivileged container can create no namespaces at all. A scenario that needs a runtime says
    /// `requires: {features: [oci-runc]}` and is skipped where this fails, never failed.
    static func ociRuntimeRuns(_ runtime: String) -> Bool {
        ociLock.lock()
        defer { ociLock.unlock() }
        if let known = ociRuntimes[runtime] { return known }
        var works = false
        if let launcher = program(named: ociLauncher), program(named: runtime) != nil,
            let timeout = program(named: "timeout"), let folder = temporaryFolder()
        {
            let trueProgram = program(named: "true") ?? "/bin/true"
            // timeout(1): a runtime that hangs is a runtime that does not work here.
            let result = try? captureOutput([timeout, "20", launcher, "--wait", runtime, "0", trueProgram, folder])
            works = result?.status == 0
            reapContainerProcess(in: folder)
            try? FileManager.default.removeItem(atPath: folder)
        }
        ociRuntimes[runtime] = works
        return works
    }
    nonisolated(unsafe) private static var ociRuntimes: [String: Bool] = [:]
    private static let ociLock = NSLock()

    /// The container's process was re-parented to the nearest child subreaper when its runtime exited -
    /// the runner (or a test) itself - and the script returns once it is a zombie: reaped here, by its pid
    /// (the runtime's --pid-file), and only if it is this process's child.
    private static func reapContainerProcess(in folder: String) {
        let bundles = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for bundle in bundles {
            guard let text = Observer.readSmallFile(folder + "/" + bundle + "/pid"),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
            else { continue }
            _ = waitpid(pid, nil, WNOHANG)
        }
    }

    private static func temporaryFolder() -> String? {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        return StaleRuns.makeFolder(in: base, label: "oci-probe")
    }
}
