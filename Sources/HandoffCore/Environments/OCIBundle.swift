import Foundation
import Glibc

/// An OCI bundle for `--in runc|crun|runsc`: `rootfs/` with only what the suite needs, `config.json`, and
/// `out/`, bound read-write at /out, where the inner run writes its reports.
///
/// The rootfs holds the runner at /usr/local/bin/handoff with the agent beside it (where the runner looks
/// for it), the runner's shared libraries at the paths ldd resolves them to (it is linked against the Swift
/// runtime in /usr/share/swift or /opt/swift, with that RUNPATH), every program the selected scenarios
/// `require` with its own libraries, /etc/os-release (for the fingerprint) and the scenario files at
/// /h/<their path>, the working directory, so that file names in the reports match the host's. Files are
/// hard-linked where the bundle shares a file system with them (the root is read-only in the container), and
/// copied otherwise: about 75 MB.
public struct OCIBundle {
    public let directory: String
    public var rootfs: String { directory + "/rootfs" }
    public var output: String { directory + "/out" }
    public var configPath: String { directory + "/config.json" }

    /// Inside the container.
    public static let runnerPath = "/usr/local/bin/handoff"
    public static let workingDirectory = "/h"
    public static let outputMount = "/out"

    public init(directory: String) { self.directory = directory }

    /// Builds the rootfs (config.json is written separately, by `writeConfig`).
    public func build(runner: String, agent: String, programs: [String], scenarioPaths: [(host: String, inside: String)])
        throws(EnvironmentError)
    {
        for folder in ["", "/rootfs", "/out", "/rootfs/usr/local/bin", "/rootfs/etc", "/rootfs/tmp", "/rootfs/proc",
                       "/rootfs/dev", "/rootfs/sys", "/rootfs/out", "/rootfs/h"] {
            try makeDirectory(directory + folder)
        }
        chmod(rootfs + "/tmp", 0o1777)
        try place(runner, at: Self.runnerPath)
        try place(agent, at: "/usr/local/bin/handoff-agent")
        for program in [runner] + programs {
            for library in try Self.sharedLibraries(of: program) { try place(library, at: library) }
        }
        for program in programs { try place(program, at: program) }
        if access("/etc/os-release", R_OK) == 0 { try place("/etc/os-release", at: "/etc/os-release") }
        // Launchers that switch to a configured user look it up: inetd's `root` (getpwnam, initgroups) made
        // every service exit 1 ("reaped, status 0x100") in a bundle without these. Only root exists inside.
        try write("root:x:0:0:root:/tmp:/bin/sh\n", at: "/etc/passwd")
        try write("root:x:0:\n", at: "/etc/group")
        for (host, inside) in scenarioPaths { try copyTree(host, to: rootfs + Self.workingDirectory + "/" + inside) }
    }

    /// Writes config.json.
    public func writeConfig(_ config: [String: Any]) throws(EnvironmentError) {
        do {
            let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: configPath))
        } catch {
            throw .harness("cannot write \(configPath): \(error.localizedDescription)")
        }
    }

    /// The OCI runtime configuration: runc spec's defaults (pid, network, ipc, uts and mount namespaces;
    /// CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE; no_new_privs; RLIMIT_NOFILE 1024; masked and
    /// read-only /proc paths), a read-only root, a tmpfs /tmp (where the inner run's `--workdir` points) and
    /// `out/` at /out; then the environment's options: capabilities dropped from every set, RLIMIT_NOFILE,
    /// and a seccomp profile that allows everything but makes `seccompDeny` fail with EPERM.
    public static func config(_ environment: RunEnvironment, arguments: [String], hostname: String) -> [String: Any] {
        let defaults = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        let kept = defaults.filter { !environment.dropCapabilities.contains($0) }
        let nofile = environment.nofile ?? 1024
        var linux: [String: Any] = [
            "namespaces": ["pid", "network", "ipc", "uts", "mount"].map { ["type": $0] },
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        ]
        if !environment.seccompDeny.isEmpty {
            linux["seccomp"] = [
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
                "syscalls": [["names": environment.seccompDeny, "action": "SCMP_ACT_ERRNO", "errnoRet": Int(EPERM)]],
            ] as [String: Any]
        }
        return [
            "ociVersion": "1.0.2-dev",
            "process": [
                "terminal": false,
                "user": ["uid": 0, "gid": 0],
                "args": arguments,
                "env": ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp"],
                "cwd": workingDirectory,
                "capabilities": ["bounding": kept, "effective": kept, "permitted": kept, "ambient": kept],
                "rlimits": [["type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile]],
                "noNewPrivileges": true,
            ] as [String: Any],
            "root": ["path": "rootfs", "readonly": true],
            "hostname": hostname,
            "mounts": [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
                ["destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]],
                ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]],
                ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
                ["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]],
                ["destination": outputMount, "type": "bind", "source": "out", "options": ["rbind", "rw"]],
            ] as [[String: Any]],
            "linux": linux,
        ]
    }

    /// The libraries `ldd` resolves for `program` (nothing for a static one).
    static func sharedLibraries(of program: String) throws(EnvironmentError) -> [String] {
        let result: (status: Int32, output: String)
        do {
            result = try captureOutput(["/usr/bin/ldd", program])
        } catch {
            throw .harness("cannot run ldd on \(program): \(error.localizedDescription)")
        }
        // "not a dynamic executable" (status 1) for a static program.
        if result.status != 0 { return [] }
        return parseLdd(result.output)
    }

    /// `libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)` and `/lib64/ld-linux-x86-64.so.2 (0x...)`:
    /// the resolved paths; linux-vdso has none. A library ldd cannot find is an error later, in the
    /// container, naming it; here it is left out.
    public static func parseLdd(_ output: String) -> [String] {
        var paths: [String] = []
        for line in output.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            var candidate: Substring?
            if let arrow = text.range(of: "=> ") {
                candidate = text[arrow.upperBound...].split(separator: " ").first
            } else if text.hasPrefix("/") {
                candidate = text.split(separator: " ").first
            }
            if let candidate, candidate.hasPrefix("/"), !paths.contains(String(candidate)) { paths.append(String(candidate)) }
        }
        return paths
    }

    // MARK: - Files

    private func makeDirectory(_ path: String) throws(EnvironmentError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .harness("cannot create \(path): \(error.localizedDescription)")
        }
    }

    /// `source` (symlinks resolved) at `inside` in the rootfs: a hard link, else a copy.
    private func place(_ source: String, at inside: String) throws(EnvironmentError) {
        let target = rootfs + inside
        if access(target, F_OK) == 0 { return }
        try makeDirectory((target as NSString).deletingLastPathComponent)
        // realpath(3): Foundation's resolvingSymlinksInPath mishandles relative links here (libcap.so.2).
        guard let resolved = realpath(source, nil) else {
            throw .harness("cannot resolve \(source) for the bundle: \(Errno.name(of: errno))")
        }
        let real = String(cString: resolved)
        free(resolved)
        if link(real, target) == 0 || errno == EEXIST { return }
        do {
            try FileManager.default.copyItem(atPath: real, toPath: target)
        } catch {
            throw .harness("cannot copy \(source) into the bundle: \(error.localizedDescription)")
        }
    }

    private func write(_ text: String, at inside: String) throws(EnvironmentError) {
        guard FileManager.default.createFile(atPath: rootfs + inside, contents: Data(text.utf8)) else {
            throw .harness("cannot write \(inside) into the bundle")
        }
    }

    private func copyTree(_ source: String, to target: String) throws(EnvironmentError) {
        try makeDirectory((target as NSString).deletingLastPathComponent)
        do {
            try FileManager.default.copyItem(atPath: source, toPath: target)
        } catch {
            throw .harness("cannot copy \(source) into the bundle: \(error.localizedDescription)")
        }
    }
}

/// Runs `arguments` (an absolute path first) and returns its exit status and its stdout, or with `errors` its
/// stderr (the other is discarded).
func captureOutput(_ arguments: [String], errors: Bool = false) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let pipe = Pipe()
    let discard = FileHandle(forWritingAtPath: "/dev/null")
    process.standardOutput = errors ? discard : pipe
    process.standardError = errors ? pipe : discard
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
