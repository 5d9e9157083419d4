import Foundation
import Glibc
import HandoffProtocol

/// One process as /proc/PID/stat shows it: the one parser of that file (the command may contain spaces and
/// parentheses, so fields are counted after the last ')').
public struct ProcessStatus: Sendable, Equatable {
    public var pid: pid_t
    public var command: String
    /// Field 3: R, S, Z, ...
    public var state: Character
    public var parent: pid_t
    /// Field 52 (Linux 3.5+): the wait status, meaningful once the process is a zombie.
    public var exitCode: Int32?
    /// Field 22: clock ticks after boot when the process started; with the pid, it names one process (a
    /// reused pid has a later start time).
    public var startTime: UInt64? = nil
    /// Field 9: the kernel's PF_* flags (gVisor shows 0).
    public var flags: UInt32? = nil

    public var isZombie: Bool { state == "Z" }
    /// Whether the process has begun to exit: PF_EXITING is set first thing in do_exit, before its
    /// descriptor table is released, while a pidfd says it has exited only once it is a zombie, after.
    public var isExiting: Bool { state == "Z" || state == "X" || (flags ?? 0) & Linux.PF_EXITING != 0 }
    public var isAgent: Bool { command.hasPrefix("handoff-agent") }

    public static func read(_ pid: pid_t) -> ProcessStatus? {
        guard let stat = Observer.readSmallFile("/proc/\(pid)/stat"), let open = stat.firstIndex(of: "("),
            let closing = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: closing)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
        // fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[6] field 9 (flags), fields[49] field 52
        // (exit_code).
        guard fields.count > 1, let state = fields[0].first, let parent = pid_t(fields[1]) else { return nil }
        return ProcessStatus(pid: pid, command: String(stat[stat.index(after: open)..<closing]), state: state,
                             parent: parent, exitCode: fields.count >= 50 ? Int32(fields[49]) : nil,
                             startTime: fields.count >= 20 ? UInt64(fields[19]) : nil,
                             flags: fields.count >= 7 ? UInt32(fields[6]) : nil)
    }

    /// Every process visible in /proc now.
    public static func all() -> [ProcessStatus] {
        (directoryNames("/proc") ?? []).compactMap { pid_t($0).flatMap(read) }
    }
}
