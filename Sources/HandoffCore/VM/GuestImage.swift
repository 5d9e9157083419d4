// What the guest's initramfs holds and what its /init does: busybox for the shell and the few tools /init
// uses, the runner and the agent, the libraries they and the scenarios' required programs load, the
// selected scenario files, and the /init script that runs the suite and sends the reports back.

import Foundation

/// Everything the image is built from. Host paths; each file lands at the same path in the guest unless
/// said otherwise.
public struct GuestImage: Sendable {
    /// Copied to /usr/local/bin/handoff.
    public var runner: String
    /// Copied to /usr/local/bin/handoff-agent (the runner finds the agent beside itself).
    public var agent: String
    /// A statically linked busybox (Debian's busybox-static), copied to /bin/busybox.
    public var busybox: String
    /// Shared libraries (and the dynamic loader) that the runner and the programs load, at their own paths.
    public var libraries: [String]
    /// Programs the selected scenarios require (`requires: programs`), at their own paths.
    public var programs: [String]
    /// Scenario files and where they go (under /scenarios).
    public var scenarios: [(source: String, guestPath: String)]
    /// The /init script (InitScript.render).
    public var initScript: String

    public init(runner: String, agent: String, busybox: String, libraries: [String], programs: [String],
                scenarios: [(source: String, guestPath: String)], initScript: String) {
        self.runner = runner
        self.agent = agent
        self.busybox = busybox
        self.libraries = libraries
        self.programs = programs
        self.scenarios = scenarios
        self.initScript = initScript
    }

    /// The busybox applets /init uses, as /bin symlinks. Only these: the guest's PATH then holds nothing a
    /// scenario could find by accident (a program a scenario needs is copied from the host and listed).
    public static let applets = ["cat", "chroot", "cut", "ip", "mkdir", "mount", "poweroff", "sh"]

    public var entries: [InitramfsEntry] {
        var entries: [InitramfsEntry] = [
            InitramfsEntry("/bin/busybox", mode: 0o755, .file(source: busybox)),
            InitramfsEntry("/usr/local/bin/handoff", mode: 0o755, .file(source: runner)),
            InitramfsEntry("/usr/local/bin/handoff-agent", mode: 0o755, .file(source: agent)),
            // Mount points exist before /init runs; /tmp is mounted over as a tmpfs.
            InitramfsEntry("/proc", mode: 0o555, .directory), InitramfsEntry("/sys", mode: 0o555, .directory),
            InitramfsEntry("/dev", mode: 0o755, .directory), InitramfsEntry("/tmp", mode: 0o1777, .directory),
            // What the fingerprint's `distribution` shows inside.
            InitramfsEntry("/etc/os-release", mode: 0o644,
                           .bytes(Array("PRETTY_NAME=\"handoff initramfs (busybox)\"\nID=handoff-initramfs\n".utf8))),
            // Launchers look users up (inetd runs its service as the configured user `root`): as OCIBundle writes.
            InitramfsEntry("/etc/passwd", mode: 0o644, .bytes(Array("root:x:0:0:root:/tmp:/bin/sh\n".utf8))),
            InitramfsEntry("/etc/group", mode: 0o644, .bytes(Array("root:x:0:\n".utf8))),
        ]
        for applet in Self.applets { entries.append(InitramfsEntry("/bin/" + applet, mode: 0o777, .symlink(target: "busybox"))) }
        for path in libraries + programs { entries.append(InitramfsEntry(path, mode: 0o755, .file(source: path))) }
        for scenario in scenarios { entries.append(InitramfsEntry(scenario.guestPath, mode: 0o644, .file(source: scenario.source))) }
        entries.append(InitramfsEntry("/init", mode: 0o755, .bytes(Array(initScript.utf8))))
        return entries
    }
}

/// The guest's /init: a busybox shell script, generated so that the inner run's arguments are quoted once,
/// here, rather than passed on the kernel command line (which the kernel splits on spaces and would hand
/// to /init as environment or arguments).
public enum InitScript {
    /// What /init is given when it runs again from the moved root.
    static let movedRootArgument = "--moved-root"

    /// Console lines /init prints; the host waits for and times them. `@@handoff` does not begin any line the
    /// runner or the kernel prints.
    public static let bootedMarker = "@@handoff booted"
    public static let suiteStartMarker = "@@handoff suite-start"
    public static let suiteEndMarker = "@@handoff suite-end"

    /// `runArguments` follow `handoff run` inside (scenario paths, selection, jobs, timeout). `nofile` is the
    /// RLIMIT_NOFILE the suite runs under (the host runner's: the kernel's default of 1024 makes
    /// limit-dependent scenarios differ from the host for a reason that is not the kernel's).
    public static func render(runArguments: [String], nofileSoft: UInt64, nofileHard: UInt64) -> String {
        let arguments = runArguments.map(shellQuoted).joined(separator: " ")
        return """
            #!/bin/sh
            # Generated by handoff (Sources/HandoffCore/VM/GuestImage.swift) for `handoff run --kernel`.
            export PATH=/usr/local/bin:/usr/bin:/bin HOME=/ TMPDIR=/tmp
            # The initramfs is the rootfs mount, which pivot_root(2) cannot move (EINVAL: it has no parent), and
            # bubblewrap pivots: /init runs again inside a bind mount of it moved over /, which has one.
            if [ "$1" != \(movedRootArgument) ]; then
                mkdir -p /.root && mount --bind / /.root && cd /.root && mount --move . / && exec chroot . /init \(movedRootArgument)
                echo "handoff /init: cannot move the root onto a mount of its own: pivot_root will fail in the guest"
            fi
            mount -t proc proc /proc
            mount -t sysfs sysfs /sys
            mount -t devtmpfs devtmpfs /dev
            mount -t tmpfs -o mode=1777 tmpfs /tmp
            # Scenarios connect to 127.0.0.1 (the accept-then-fork daemon).
            ip link set lo up
            ulimit -H -n \(nofileHard) && ulimit -S -n \(nofileSoft) || echo "handoff /init: cannot set RLIMIT_NOFILE to \(nofileSoft)/\(nofileHard)"
            uptime() { cut -d' ' -f1 /proc/uptime; }
            echo "\(bootedMarker) $(uptime)"
            echo "\(suiteStartMarker) $(uptime)"
            # Through a pipe: on the console (a tty) the runner would draw its progress line.
            # The report goes to the host through the memory both share (ReportRegion), written by the run itself.
            { handoff run \(arguments) --report-to-host 2>&1; echo $? > /tmp/.handoff-status; } | cat
            echo "\(suiteEndMarker) $(cat /tmp/.handoff-status) $(uptime)"
            poweroff -f

            """
    }

    /// One shell word: single quotes, with each `'` written as `'\''`.
    public static func shellQuoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
