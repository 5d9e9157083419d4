#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Processes (kernel/fork.c, fs/exec.c, kernel/exit.c): fork and clone(CLONE_FILES) with their descriptor
// tables, unshare(CLONE_FILES), exec, exit (killing descendants: every agent dies with its parent) and wait.

extension ReferenceModel {
    /// kernel/fork.c: copy_process -> copy_files -> dup_fd: the child gets a private copy of the table.
    mutating func fork(_ process: String, child: String) -> Outcome {
        // The runner never reuses a name; refuse rather than corrupt the tree.
        guard processes[child] == nil else { return .failure(EEXIST) }
        guard var copy = processes[process] else { return .failure(ESRCH) }
        // A forked child always gets a private copy, even of a shared table.
        copy.name = child
        copy.parent = process
        copy.state = .running
        var entries = self[tableOf: process]
        if brokenRules.contains(.forkDropsCloseOnExec) { entries = entries.filter { !$0.value.closeOnExec } }
        copy.tableID = privateCopy(of: entries)
        processes[child] = copy
        netns[child] = netns[process]
        order.append(child)
        return Outcome()
    }

    /// clone(CLONE_FILES | SIGCHLD), kernel/fork.c: copy_files - like fork, but the child uses the very same
    /// table (no new references).
    mutating func cloneFiles(_ process: String, child: String) -> Outcome {
        guard processes[child] == nil else { return .failure(EEXIST) }
        guard var copy = processes[process], let tableID = copy.tableID, tables[tableID] != nil else {
            return .failure(ESRCH)
        }
        copy.name = child
        copy.parent = process
        copy.state = .running
        tables[tableID]?.users += 1
        processes[child] = copy
        netns[child] = netns[process]
        order.append(child)
        return Outcome()
    }

    /// A new table holding the same descriptions and close-on-exec bits (fs/file.c: dup_fd): one more
    /// reference each.
    mutating func privateCopy(of entries: [Int32: TableEntry]) -> TableID {
        for entry in entries.values { getFile(entry.description) }
        let id = nextTable.take()
        tables[id] = DescriptorTable(entries: entries, users: 1)
        return id
    }

    /// kernel/fork.c: unshare_fd (unshare(CLONE_FILES), also done by execve and by close_range with
    /// CLOSE_RANGE_UNSHARE): a shared table is copied for `process`; a private one stays as it is.
    mutating func unshareTable(_ process: String) {
        guard let old = processes[process]?.tableID, let table = tables[old], table.users > 1 else { return }
        let id = privateCopy(of: table.entries)
        tables[old]?.users -= 1
        processes[process]?.tableID = id
    }

    /// kernel/fork.c: ksys_unshare(CLONE_FILES) -> unshare_fd.
    mutating func unshareFiles(_ process: String) -> Outcome {
        unshareTable(process)
        return Outcome(result: 0)
    }

    /// fs/exec.c: begin_new_exec - unshare_files, do_close_on_exec, then the credentials and dumpable rules.
    mutating func exec(_ process: String) -> Outcome {
        // begin_new_exec: unshare_files() first, then do_close_on_exec on the (now private) table.
        unshareTable(process)
        let closing = self[tableOf: process].filter { $0.value.closeOnExec }.sorted { $0.key < $1.key }
        for (number, entry) in closing {
            self[tableOf: process][number] = nil
            release(entry.description)
        }
        // begin_new_exec makes the mm dumpable again (SUID_DUMP_USER: same uid, readable binary). For uid 0,
        // cap_bprm_creds_from_file recomputes permitted = bounding set | inheritable, so dropped capabilities
        // come back; commit_creds then sees the permitted set grow and sets dumpable to fs.suid_dumpable
        // (and clears the parent-death signal). Assumes every dropped capability is in the bounding set.
        // Only what the bounding set allows comes back: a capability the runner never had stays dropped and
        // changes nothing (found by `handoff fuzz` in a runner without CAP_SYS_RESOURCE).
        let dropped = processes[process]?.droppedCapabilities ?? []
        let regained = !dropped.isDisjoint(with: regainableCapabilities)
        processes[process]?.droppedCapabilities = dropped.subtracting(regainableCapabilities)
        processes[process]?.dumpable = regained ? suidDumpable == 1 : true
        return Outcome(result: 0)
    }

    /// fs/file.c: exit_files -> put_files_struct: the process stops using its table; the descriptors are
    /// released when no process uses it any more.
    mutating func closeAll(_ process: String) {
        guard let id = processes[process]?.tableID else { return }
        processes[process]?.tableID = nil
        guard var table = tables[id] else { return }
        table.users -= 1
        guard table.users == 0 else {
            tables[id] = table
            return
        }
        let entries = table.entries.sorted { $0.key < $1.key }
        tables[id] = nil
        for (_, entry) in entries { release(entry.description) }
    }

    /// kernel/exit.c: do_exit - ends `process` with `state` and kills every running descendant (agents die with
    /// their parent: PR_SET_PDEATHSIG).
    mutating func exit(_ process: String, state: ModelProcessState) {
        abandonFifoOpen(process)
        // A call asleep is interrupted: the number it reserved is put back, the files it kept are fdput.
        reservedByCalls[process] = nil
        connectingSockets[process] = nil
        returnFiles(ofCallBy: process)
        closeAll(process)
        processes[process]?.state = state
        for name in order where processes[name]?.parent == process && processes[name]?.state == .running {
            exit(name, state: .killed)
        }
    }

    /// kernel/exit.c: do_wait -> wait_task_zombie: a zombie child is reaped; a running one makes the call wait.
    mutating func wait(_ process: String, child: String) -> Outcome {
        guard let c = processes[child], c.parent == process else { return .failure(ECHILD) }
        switch c.state {
        case .reaped: return .failure(ECHILD)
        case .running: return Outcome(blocks: true)
        case .exited(let status):
            processes[child]?.state = .reaped
            return Outcome(status: status)
        case .killed:
            processes[child]?.state = .reaped
            return Outcome(status: Outcome.killed(by: SIGKILL))
        }
    }
}
