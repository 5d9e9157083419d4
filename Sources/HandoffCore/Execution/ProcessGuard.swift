import CHandoff
import Foundation
import Glibc

/// A process the runner signals, waits for and reaps: through a pidfd where the kernel has `pidfd_open`
/// (Linux 5.3+), else - gVisor (runsc 20221219 answers ENOSYS), older kernels - through its pid, guarded by
/// the start time /proc gave for it when the handle was made.
///
/// Why the guard is enough: a pid names another process only once the first was reaped and the number
/// reused, and the reused one has a later start time. Every signal is sent only after /proc still shows the
/// recorded start time; between that read and kill(2) the process would have to be reaped and its pid
/// reused, which needs its parent to wait for it in that instant (the harness's own reaping is serialised
/// with its signals). The pidfd path has no such window; the fallback is for systems without pidfds, where
/// the choice is this or not running at all.
final class ProcessGuard: @unchecked Sendable {
    let pid: pid_t
    /// -1 in the fallback.
    let pidfd: Int32
    /// /proc/PID/stat field 22 when the handle was made (fallback only).
    private let startTime: UInt64?

    /// Whether this system has pidfd_open: decided by the first handle made (ENOSYS means never).
    private static let lock = NSLock()
    nonisolated(unsafe) private static var pidfdsMissing = false

    /// Tests: behave as if pidfd_open answered ENOSYS, to prove teardown without pidfds on any kernel.
    nonisolated(unsafe) static var simulateMissingPidfds = false

    /// Where the runner keeps processes by pid and start time, not by pidfd (for the report and tests).
    static var usesFallback: Bool {
        lock.lock()
        defer { lock.unlock() }
        return pidfdsMissing
    }

    private init(pid: pid_t, pidfd: Int32, startTime: UInt64?) {
        self.pid = pid
        self.pidfd = pidfd
        self.startTime = startTime
    }

    /// A handle on `pid`, which the caller knows to be the process it means (its unreaped child, or an agent
    /// blocked on its channel). Any failure but ENOSYS is an error; ENOSYS switches to the fallback for good.
    static func open(_ pid: pid_t) -> Result<ProcessGuard, SystemErrno> {
        if !usesFallback && !simulateMissingPidfds {
            let pidfd = handoff_pidfd_open(pid, 0)
            if pidfd >= 0 {
                _ = handoff_fcntl_int(pidfd, F_SETFD, FD_CLOEXEC)
                return .success(ProcessGuard(pid: pid, pidfd: pidfd, startTime: nil))
            }
            let error = errno
            guard error == ENOSYS else { return .failure(SystemErrno(error)) }
            lock.lock()
            pidfdsMissing = true
            lock.unlock()
        }
        guard let status = ProcessStatus.read(pid), let started = status.startTime else { return .failure(SystemErrno(ESRCH)) }
        return .success(ProcessGuard(pid: pid, pidfd: -1, startTime: started))
    }

    deinit { if pidfd >= 0 { close(pidfd) } }

    /// Still the process this handle was made for, and not yet a zombie (fallback only).
    private var fallbackAlive: Bool {
        guard let status = ProcessStatus.read(pid), status.startTime == startTime else { return false }
        return status.state != "Z" && status.state != "X"
    }

    /// Sends `signal` unless the process is gone (never to a reused pid).
    func signal(_ signal: Int32) {
        if pidfd >= 0 {
            _ = handoff_pidfd_send_signal(pidfd, signal)
        } else if let status = ProcessStatus.read(pid), status.startTime == startTime {
            Glibc.kill(pid, signal)
        }
    }

    /// Whether the process has exited (a zombie, reaped, or its pid reused).
    var hasExited: Bool {
        if pidfd >= 0 {
            var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            return poll(&entry, 1, 0) > 0
        }
        return !fallbackAlive
    }

    /// Whether the process is ending or has ended, waiting until `deadline` for one that has begun to exit
    /// to become a zombie (its end reason and its parent's are read then). For when something of the
    /// process vanished under the runner (a descriptor between a /proc read and kcmp): a process releases its
    /// descriptor table in do_exit well before it is a zombie, so `hasExited` alone can still say no then.
    func hasEnded(waitingUntil deadline: Deadline) -> Bool {
        if hasExited { return true }
        // Not exited, so not reaped: the pid is still this process's (the runner reaps only after exit).
        guard let status = ProcessStatus.read(pid), startTime == nil || status.startTime == startTime else {
            // Gone from /proc since, or unreadable: only its exit can tell.
            return waitExit(until: deadline)
        }
        if !status.isExiting { return false }
        waitExit(until: deadline)
        return true
    }

    /// Waits until the process has exited or the deadline passes (nil: no deadline); true when it has.
    /// The fallback polls /proc every millisecond or so: without a pidfd there is nothing to sleep on.
    @discardableResult
    func waitExit(until deadline: Deadline?) -> Bool {
        if pidfd >= 0 {
            var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            while true {
                let ready = poll(&entry, 1, deadline?.remainingMilliseconds ?? -1)
                if ready < 0 && errno == EINTR { continue }
                return ready > 0
            }
        }
        var pause: useconds_t = 200
        while fallbackAlive {
            if let deadline, deadline.expired { return false }
            usleep(pause)
            pause = min(pause * 2, 5000)
        }
        return true
    }

    /// Reaps the process if it is the runner's child and a zombie (after `waitExit`); with `block`, waits for
    /// it to become one. A process that is not the runner's child is left to its parent (ECHILD).
    func reap(block: Bool = true) {
        var status: Int32 = 0
        if pidfd >= 0 {
            while handoff_waitid_pidfd(pidfd, block ? 0 : WNOHANG, &status) < 0 && errno == EINTR {}
            return
        }
        // Only a zombie of ours with the recorded start time: waitpid on a bare pid could take a reused one.
        guard let current = ProcessStatus.read(pid), current.startTime == startTime, current.parent == getpid() else { return }
        while waitpid(pid, &status, block ? 0 : WNOHANG) < 0 && errno == EINTR {}
    }
}
