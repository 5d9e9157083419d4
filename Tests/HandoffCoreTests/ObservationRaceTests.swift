import Glibc
import Testing
@testable import HandoffCore

/// A process that ends while the runner observes it: its descriptor table is released in do_exit well before
/// it is a zombie (which is when its pidfd says it has exited), so a /proc read or a kcmp can meet the end
/// first. Whichever call meets it, the outcome is the process's end (agentGone), never another error or a
/// table with descriptors missing. Serialized: spawns and kills a child.
@Suite(.serialized, .leavesNoChildren) struct ObservationRaceTests {
    /// /bin/sleep with its standard descriptors on /dev/null (one description, so kcmp decides them), not
    /// reaped until `reap`.
    struct Child {
        let pid: pid_t

        init() throws {
            var pid: pid_t = 0
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0)
            posix_spawn_file_actions_adddup2(&actions, 0, 1)
            posix_spawn_file_actions_adddup2(&actions, 0, 2)
            let arguments = [strdup("/bin/sleep"), strdup("60"), nil]
            defer { arguments.forEach { free($0) } }
            let spawned = posix_spawn(&pid, "/bin/sleep", &actions, nil, arguments, environ)
            try #require(spawned == 0, "posix_spawn: \(spawned)")
            self.pid = pid
            // posix_spawn returns once the new image is mapped, while execve still closes the close-on-exec
            // descriptors: the table is still until the child sleeps.
            let deadline = Deadline(secondsFromNow: 5)
            while ProcessStatus.read(pid).map({ $0.state != "S" || $0.command != "sleep" }) ?? true, !deadline.expired {
                usleep(1000)
            }
        }

        /// SIGKILL, then waits until it is a zombie (not reaped: its pid and /proc entry stay, its table is gone).
        func killToZombie() {
            kill(pid, SIGKILL)
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        }

        func reap() {
            kill(pid, SIGKILL)
            while waitpid(pid, nil, 0) < 0 && errno == EINTR {}
        }
    }

    func process(_ child: Child, handle: ProcessGuard, hasExited: @escaping () -> Bool) -> ObservationCache.Process {
        ObservationCache.Process(name: "main", pid: child.pid, hidden: [], hasExited: hasExited,
                                 endReason: { AgentProcess.endReason(of: child.pid) },
                                 hasEnded: { handle.hasEnded(waitingUntil: Deadline(secondsFromNow: 1)) })
    }

    /// The flake seen once in a full test run: the table was read whole, the process ended before the kcmp
    /// calls that place its descriptors, and kcmp said EBADF. Here the end falls exactly there, on the real
    /// kernel: the read kills the child after reading its table, and `hasExited` still says no, as it does
    /// until the ending process is a zombie.
    @Test func aKcmpThatMeetsTheEndOfTheProcessIsItsEnd() throws {
        let child = try Child()
        defer { child.reap() }
        let handle = try ProcessGuard.open(child.pid).get()
        var cache = ObservationCache()
        cache.read = { (pid: pid_t, hidden: Set<Int32>) throws(HarnessError) -> [Int32: ObservedDescriptor]? in
            let table = try Observer.table(of: pid, excluding: hidden)
            child.killToZombie()
            return table
        }
        var identity = IdentityResolver(mode: .kcmp)
        let model = ReferenceModel(root: "main", nofileLimit: 1024)
        let noProbe: IdentityResolver.Probe = { key, _, _ throws(HarnessError) in
            throw .agentGone(process: key.process, reason: "no probe here")
        }
        do throws(HarnessError) {
            _ = try cache.observe([process(child, handle: handle, hasExited: { false })], model: model, touched: [],
                                  identity: &identity, probe: noProbe)
            Issue.record("observed a process that ended")
        } catch {
            #expect("\(error)" == "process 'main' is gone: killed by signal 9 (Killed)")
        }
    }

    /// A table read after the process released it lists nothing, not even the control channel: not an empty
    /// table (every descriptor of the model reported missing) but no table.
    @Test func theTableOfAProcessThatReleasedItIsNoTable() throws {
        let child = try Child()
        defer { child.reap() }
        let live = try #require(try Observer.table(of: child.pid, excluding: []))
        #expect(live[0]?.target == "/dev/null")
        let control = try #require(live.keys.max())
        #expect(try Observer.table(of: child.pid, excluding: [control]) != nil)
        child.killToZombie()
        #expect(try Observer.table(of: child.pid, excluding: [control]) == nil)
        #expect(ProcessStatus.read(child.pid)?.isExiting == true)
        #expect(ProcessStatus.read(getpid())?.isExiting == false)
    }

    /// A table that vanished under the read of a process that is not ending: the process was not quiescent,
    /// a harness failure - and a process that is ending is gone, whether or not it is a zombie yet.
    @Test func aTableThatVanishedIsTheEndOnlyOfAProcessThatIsEnding() throws {
        let child = try Child()
        defer { child.reap() }
        let handle = try ProcessGuard.open(child.pid).get()
        #expect(!handle.hasEnded(waitingUntil: Deadline(secondsFromNow: 1)))
        let running = process(child, handle: handle, hasExited: { false })
        guard case .protocolViolation(let name, let detail) = ObservationCache.vanished(running) else {
            Issue.record("\(ObservationCache.vanished(running))")
            return
        }
        #expect(name == "main" && detail == "its descriptor table changed while the runner read it")
        child.killToZombie()
        #expect(handle.hasEnded(waitingUntil: Deadline(secondsFromNow: 1)))
        #expect("\(ObservationCache.vanished(running))" == "process 'main' is gone: killed by signal 9 (Killed)")
    }
}
