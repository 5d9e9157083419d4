import Foundation
import Glibc

/// A system call an agent sleeps in, read from /proc/PID/task/TID/syscall (proc_pid_syscall: the number and
/// the six arguments of the call a stopped or sleeping task is in) and .../wchan (the kernel function it
/// sleeps in).
///
/// Why the runner looks: a step the model says returns at once (a recv with MSG_DONTWAIT, a wait on a child
/// the scenario killed) that never answers is the implementation's divergence - a call that blocks where Linux
/// returns - as long as the agent is asleep in that call. Asleep anywhere else it is the harness's or the
/// agent's own trouble, and stays a timeout.
struct BlockedCall: Equatable, CustomStringConvertible {
    var number: Int
    var firstArgument: UInt64
    var wchan: String?

    var description: String {
        let name = self.name.map { "\($0)(\(firstArgument), ...)" } ?? "system call \(number) (first argument \(firstArgument))"
        guard let wchan, !wchan.isEmpty, wchan != "0" else { return name }
        return "\(name), asleep in \(wchan)"
    }

    /// The call one of the process's threads sleeps in that `belongs` to the step (it names one of the
    /// step's descriptors, say), if there is one. Anything else - a read of the control channel (the agent
    /// waiting for the runner), a runtime's futex, a shell's wait for its child - is not the step's call.
    static func find(in pid: pid_t, where belongs: (BlockedCall) -> Bool) -> BlockedCall? {
        let tasks = directoryNames("/proc/\(pid)/task") ?? []
        for task in tasks.sorted() {
            guard let tid = pid_t(task), ProcessStatus.read(tid).map({ $0.state == "S" || $0.state == "D" }) == true,
                let text = Observer.readSmallFile("/proc/\(pid)/task/\(task)/syscall"),
                var call = parse(text), belongs(call)
            else { continue }
            call.wchan = Observer.readSmallFile("/proc/\(pid)/task/\(task)/wchan")?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return call
        }
        return nil
    }

    /// The call's name where the table below has it.
    var name: String? { Self.names[number] }

    /// "NR ARG1 ... ARG6 SP PC"; "running" and "-1 SP PC" (asleep outside a system call) are not calls.
    static func parse(_ text: String) -> BlockedCall? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 7, let number = Int(fields[0]), number >= 0 else { return nil }
        let argument = fields[1].hasPrefix("0x") ? UInt64(fields[1].dropFirst(2), radix: 16) : UInt64(fields[1])
        guard let argument else { return nil }
        return BlockedCall(number: number, firstArgument: argument, wchan: nil)
    }

    #if arch(x86_64)
    /// The calls an agent's step can sleep in, by x86_64 number (arch/x86/entry/syscalls/syscall_64.tbl),
    /// for the message; any other is shown by number.
    static let names: [Int: String] = [
        0: "read", 1: "write", 7: "poll", 17: "pread64", 18: "pwrite64", 19: "readv", 20: "writev", 23: "select",
        34: "pause", 35: "nanosleep", 42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom", 46: "sendmsg",
        47: "recvmsg", 61: "wait4", 130: "rt_sigsuspend", 202: "futex", 230: "clock_nanosleep", 232: "epoll_wait",
        247: "waitid", 270: "pselect6", 271: "ppoll", 281: "epoll_pwait", 288: "accept4", 299: "recvmmsg",
        307: "sendmmsg", 441: "epoll_pwait2",
    ]
    #elseif arch(arm64)
    /// include/uapi/asm-generic/unistd.h.
    static let names: [Int: String] = [
        63: "read", 64: "write", 65: "readv", 66: "writev", 67: "pread64", 68: "pwrite64", 72: "pselect6",
        73: "ppoll", 95: "waitid", 98: "futex", 101: "nanosleep", 115: "clock_nanosleep", 133: "rt_sigsuspend",
        202: "accept", 203: "connect", 206: "sendto", 207: "recvfrom", 211: "sendmsg", 212: "recvmsg",
        22: "epoll_pwait", 242: "accept4", 243: "recvmmsg", 260: "wait4", 269: "sendmmsg", 441: "epoll_pwait2",
    ]
    #else
    static let names: [Int: String] = [:]
    #endif
}
