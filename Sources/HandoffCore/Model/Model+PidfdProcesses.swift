#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HandoffProtocol

// Operations on the process a pidfd refers to (kernel/pid.c: pidfd_send_signal; kernel/exit.c: waitid with
// P_PIDFD), by whoever holds the pidfd - it may have arrived over SCM_RIGHTS. Polling a pidfd is in
// Model+Poll.swift (pidfd_poll).
//
// The process table follows: a process killed by a signal ends like an exit (its descriptors are released,
// its descendants die with it: every agent has PR_SET_PDEATHSIG) and is a zombie, waitable, whose status is
// the signal (WIFSIGNALED, never an exit code). No agent handles SIGTERM or SIGKILL, so both end the process.

extension ReferenceModel {
    /// The process a pidfd descriptor refers to: pidfd_to_pid / pidfd_get_pid take the file with fdget (an
    /// O_PATH file is not found: EBADF) and refuse any file that is not a pidfd (EBADF).
    func pidfdTarget(_ process: String, _ fd: Int32) -> Result<String, AddressError> {
        guard case let (_, desc)? = fdget(process, fd), !desc.pathOnly, case .pidfd(let target) = desc.target else {
            return .failure(AddressError(EBADF))
        }
        return .success(target)
    }

    /// kernel/pid.c: pidfd_send_signal - the pid must still have a task (ESRCH once the process was reaped; a
    /// zombie takes the signal and nothing happens), then kill_pid_info delivers it; signal 0 only checks.
    mutating func pidfdSendSignal(_ process: String, pidfd: Int32, signal: SentSignal) -> Outcome {
        let target: String
        switch pidfdTarget(process, pidfd) {
        case .failure(let error): return .failure(error.errno)
        case .success(let name): target = name
        }
        switch processes[target]?.state {
        case .reaped?, nil:
            return .failure(ESRCH)
        case .exited?, .killed?:
            // A zombie. One killed with its parent was re-parented to the runner (a child subreaper), which
            // reaps only when the scenario ends (ProcessTree.tearDown): a zombie until then.
            return Outcome(result: 0)
        case .running?:
            switch signal {
            case .zero:
                return Outcome(result: 0)
            case .kill, .term:
                // Default action: the whole process ends (do_group_exit), its status the signal.
                exit(target, state: .exited(status: Outcome.killed(by: signal.linux)))
                return Outcome(result: target == process ? nil : 0)
            }
        }
    }

    /// kernel/pid.c: pidfd_getfd through a pidfd the caller holds (no pidfd of the step's own): flags (EINVAL),
    /// then the pidfd (fdget, pidfd_pid: EBADF), pidfd_get_task (ESRCH once reaped), __pidfd_fget (ptrace
    /// EPERM, then ESRCH for an exiting target, EBADF for a number it does not have), receive_fd (one number:
    /// EMFILE, always close-on-exec). The pidfd's process is the one asked, whatever `process:` said.
    mutating func pidfdGetfdThrough(_ process: String, pidfd: Int32, fd: Int32, flags: UInt32) -> Outcome {
        if flags != 0 { return .failure(EINVAL) }
        let target: String
        switch pidfdTarget(process, pidfd) {
        case .failure(let error): return .failure(error.errno)
        case .success(let name): target = name
        }
        guard let t = processes[target], t.state != .reaped else { return .failure(ESRCH) }
        if ptraceDenied(caller: process, target: target, attach: true) { return .failure(EPERM) }
        guard t.state == .running else { return .failure(ESRCH) }
        guard let entry = self[tableOf: target][fd] else { return .failure(EBADF) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        return duplicate(process, entry.description, minimum: 0, closeOnExec: true)
    }

    /// kernel/exit.c: waitid(P_PIDFD) - pidfd_get_pid (EBADF), then do_wait for that pid among the caller's
    /// children only (ECHILD for any other process, and for a child already reaped); WEXITED reaps a zombie;
    /// a running child makes the call wait, or with WNOHANG return 0 with nothing reaped; a pidfd whose file is
    /// O_NONBLOCK (PIDFD_NONBLOCK, or F_SETFL) adds WNOHANG, and kernel_waitid turns its "nothing yet" into
    /// EAGAIN when the caller did not ask for WNOHANG itself (Linux 5.10).
    mutating func waitid(_ process: String, pidfd: Int32, noHang: Bool) -> Outcome {
        let target: String
        switch pidfdTarget(process, pidfd) {
        case .failure(let error): return .failure(error.errno)
        case .success(let name): target = name
        }
        guard let child = processes[target], child.parent == process else { return .failure(ECHILD) }
        switch child.state {
        case .reaped:
            return .failure(ECHILD)
        case .running:
            if noHang { return Outcome(result: 0) }
            if pidfdNonBlock, case let (_, desc)? = fdget(process, pidfd), desc.statusFlags.contains(.nonblock) {
                return .failure(EAGAIN)
            }
            return Outcome(blocks: true)
        case .exited(let status):
            processes[target]?.state = .reaped
            return Outcome(result: 0, status: status)
        case .killed:
            processes[target]?.state = .reaped
            return Outcome(result: 0, status: Outcome.killed(by: Linux.SIGKILL))
        }
    }
}
