// The control channel and the operations that change which process or image the agent is: it sits at a
// reserved high number, moves out of the way of a scenario's dup2, survives the agent's own exec, and is
// replaced by a fresh one in a forked child.

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    /// Moves the inherited channel to the reserved number (close-on-exec) and frees the old number.
    static func placeControlChannel(_ inherited: Int32) -> Int32 {
        // Under a limit of 0 (a scenario's setrlimit, then exec) no number can be had: the channel stays put.
        let limit = softNofileLimit()
        guard limit > 0 else {
            _ = handoff_fcntl_int(inherited, Linux.F_SETFD, Linux.FD_CLOEXEC)
            return inherited
        }
        let reserved = Int32(min(UInt64(preferredControlDescriptor), limit - 1))
        // Where it is already, or where it was when the reserved number holds a scenario's descriptor (after
        // an exec below a lowered limit: found by `handoff fuzz`); the hello says where.
        if inherited == reserved || handoff_fcntl_int(reserved, Linux.F_GETFD, 0) >= 0 {
            _ = handoff_fcntl_int(inherited, Linux.F_SETFD, Linux.FD_CLOEXEC)
            return inherited
        }
        if handoff_dup3(inherited, reserved, Linux.O_CLOEXEC) < 0 { fatal("cannot place control channel") }
        close(inherited)
        return reserved
    }

    /// Copies `descriptor` above every number a scenario uses (close-on-exec) and closes the original: above
    /// the channel when the limit allows, else the highest free number below the limit (where the runner's
    /// model knows the channels are, ReferenceModel.harnessNumbers), never the lowest free one a scenario's
    /// next descriptor would get - nor `avoiding`, the number the request itself names (a pidfd_getfd of the
    /// number the transient pidfd would take must not copy the pidfd; found by `handoff fuzz`).
    func moveHigh(_ descriptor: Int32, avoiding: Int32 = -1) -> Int32 {
        let limit = Int32(min(softNofileLimit(), UInt64(Int32.max)))
        var moved: Int32 = -1
        if control < limit - 1 {
            moved = handoff_fcntl_int(descriptor, Linux.F_DUPFD_CLOEXEC, control + 1)
            if moved >= 0 && moved == avoiding {
                let again = handoff_fcntl_int(descriptor, Linux.F_DUPFD_CLOEXEC, avoiding + 1)
                close(moved)
                moved = again
            }
        }
        if moved < 0, let free = Agent.highestFree(below: limit, above: descriptor, avoiding: avoiding) {
            moved = handoff_dup3(descriptor, free, Linux.O_CLOEXEC)
        }
        if moved < 0 { return descriptor }
        close(descriptor)
        return moved
    }

    /// The highest free number strictly between `above` and `below`, other than `avoiding`.
    static func highestFree(below: Int32, above: Int32, avoiding: Int32 = -1) -> Int32? {
        var candidate = below - 1
        while candidate > above && (candidate == avoiding || handoff_fcntl_int(candidate, Linux.F_GETFD, 0) >= 0) {
            candidate -= 1
        }
        return candidate > above ? candidate : nil
    }

    /// A scenario dup2()s onto the channel's number: the channel moves first, and the runner is told.
    /// Above it when the limit allows, else the highest free number below it (the channel sits at the limit's
    /// top when RLIMIT_NOFILE is 1024 or lower).
    mutating func moveControlChannel() -> Int32 {
        var moved = handoff_fcntl_int(control, Linux.F_DUPFD_CLOEXEC, control + 1)
        if moved < 0, let free = Agent.highestFree(below: control, above: -1) {
            moved = handoff_dup3(control, free, Linux.O_CLOEXEC)
        }
        if moved < 0 { fatal("cannot move control channel") }
        control = moved  // dup2 onto the old number then closes the old copy
        return moved
    }

    /// close_range across control channels closes everything in the range but the channels: one call per
    /// gap between them. CLOSE_RANGE_CLOEXEC alone needs no split (channels are close-on-exec already), and
    /// neither do flags the kernel refuses: one call gets the EINVAL (split around a channel that fills the
    /// range, there would be no call at all, and a 0 for the kernel's EINVAL).
    func closeRangeAroundChannels(_ first: UInt32, _ last: UInt32, _ flags: UInt32) -> Timed {
        let marksOnly = CloseRangeFlags.marksCloseOnExec(flags) && flags & Linux.CLOSE_RANGE_UNSHARE == 0
        let inside = ([control] + hidden).map { UInt32(bitPattern: $0) }.filter { $0 >= first && $0 <= last }.sorted()
        if marksOnly || CloseRangeFlags.areInvalid(flags) || first > last || inside.isEmpty {
            return timed { Int(handoff_close_range(first, last, flags)) }
        }
        // Ranges as (start, end) pairs computed in 64 bits: `last` may be ~0U, and last + 1 must not wrap.
        var gaps: [(UInt32, UInt32)] = []
        var start = UInt64(first)
        for channel in inside {
            if UInt64(channel) > start { gaps.append((UInt32(start), channel - 1)) }
            start = UInt64(channel) + 1
        }
        if start <= UInt64(last) { gaps.append((UInt32(start), last)) }
        var total: UInt64 = 0
        for (low, high) in gaps {
            let part = timed { Int(handoff_close_range(low, high, flags)) }
            total += part.nanoseconds
            if part.value != 0 { return Timed(value: part.value, errno: part.errno, nanoseconds: total) }
        }
        return Timed(value: 0, errno: 0, nanoseconds: total)
    }

    /// `fork`, or `clone(CLONE_FILES)` when `sharingTable`. Other agents' channels in this table (`hidden`)
    /// must be closed by a forked child, which gets a private copy.
    mutating func fork(sharingTable: Bool) -> Answer? {
        var ends: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Linux.SOCK_SEQPACKET | Linux.SOCK_CLOEXEC, 0, &ends) != 0 { return .failure(errno) }
        let parentEnd = moveHigh(ends[0])
        let childEnd = moveHigh(ends[1])
        let parent = getpid()
        let result = sharingTable ? timed { handoff_clone_files() } : timed { Glibc.fork() }
        if result.value == 0 && sharingTable {
            // The child shares the parent's table: its channel is its own end where it already is, and
            // nothing may be closed here (it would close it for the parent too).
            control = childEnd
            _ = handoff_set_parent_death_signal(SIGKILL)
            if getppid() != parent { _exit(0) }
            sendHello()
            return nil
        }
        if result.value == 0 {
            // The child: its own channel replaces the inherited copy of the parent's, at the same number - or,
            // when a lowered RLIMIT_NOFILE no longer reaches that number, stays where it is and the copy goes
            // (the runner reads the number from the hello).
            if handoff_dup3(childEnd, control, Linux.O_CLOEXEC) >= 0 {
                close(childEnd)
            } else {
                close(control)
                control = childEnd
            }
            close(parentEnd)
            for number in hidden { close(number) }
            _ = handoff_set_parent_death_signal(SIGKILL)
            if getppid() != parent { _exit(0) }
            sendHello()
            return nil  // back to serve(), now as the child
        }
        if !sharingTable || result.value < 0 { close(childEnd) }
        if result.value > 0 {
            // The runner's end travels in a message of its own and is closed here before the answer, so
            // that when the runner sees the answer this table holds nothing but the scenario's descriptors.
            reply(WireMessage(ControlVerb.channel.rawValue), passing: parentEnd)
        }
        close(parentEnd)
        return result.answer
    }

    /// Re-executes the agent; answers only on failure (the new image says hello instead).
    func exec(_ newArguments: [String], environment: [EnvironmentVariable<String>]) -> Answer {
        setEnvironment(environment)
        // The channel must survive this one exec; the new image sets close-on-exec again at start.
        _ = handoff_fcntl_int(control, Linux.F_SETFD, 0)
        setenv(AgentEnvironment.controlDescriptor, String(control), 1)
        setenv(AgentEnvironment.expectedParent, String(getppid()), 1)
        let failure = execute("/proc/self/exe", argv0: arguments.first ?? "handoff-agent", newArguments)
        _ = handoff_fcntl_int(control, Linux.F_SETFD, Linux.FD_CLOEXEC)
        return failure.answer
    }

    /// execve of a launcher under test. The channel stays close-on-exec, so it closes when exec succeeds.
    func launch(_ path: String, _ newArguments: [String], environment: [EnvironmentVariable<String>]) -> Answer {
        setEnvironment(environment)
        // What the agent's own exec relies on must not reach the agents the launcher starts.
        unsetenv(AgentEnvironment.controlDescriptor)
        unsetenv(AgentEnvironment.expectedParent)
        return execute(path, argv0: path, newArguments).answer
    }

    func setEnvironment(_ variables: [EnvironmentVariable<String>]) {
        for variable in variables { setenv(variable.name, variable.value, 1) }
    }

    /// execv; returns only on failure, with its errno and duration.
    func execute(_ path: String, argv0: String, _ newArguments: [String]) -> Timed {
        var cArguments: [UnsafeMutablePointer<CChar>?] = ([argv0] + newArguments).map { strdup($0) }
        cArguments.append(nil)
        let started = monotonicNanoseconds()
        execv(path, cArguments)
        let failed = errno
        let elapsed = monotonicNanoseconds() - started
        for pointer in cArguments { free(pointer) }
        return Timed(value: -1, errno: failed, nanoseconds: elapsed)
    }
}
