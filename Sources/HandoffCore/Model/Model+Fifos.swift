#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// FIFOs (fs/namei.c: do_mknodat; fs/pipe.c: fifo_open). A FIFO is a name in the scenario directory whose
// openers share one pipe while any of them has it open; the pipe itself is PipeObject, read and written as an
// anonymous pipe's. fifo_open also serves a reopen of an anonymous pipe through /proc/PID/fd/N (is_pipe),
// which never waits for a partner.

/// A mkfifo'd name: the pipe its openers share (inode->i_pipe), nil while nobody has it open.
struct FifoNode: Equatable, Sendable {
    var pipe: PipeID?
}

/// A process asleep in fifo_open's wait_for_partner: counted as a reader or writer already, it waits for the
/// other side's count of opens to move.
struct FifoSleeper: Equatable, Sendable {
    var pipe: PipeID
    /// The descriptor number get_unused_fd_flags reserved before fifo_open slept: taken in its table (by the
    /// process and whoever shares the table) until the open returns there.
    var number: Int32
    var access: AccessMode
    /// The partner's count of opens (w_counter for a reader, r_counter for a writer) when it went to sleep.
    var partnerOpens: Int
    var statusFlags: Set<StatusFlag>
    var closeOnExec: Bool
}

extension ReferenceModel {
    /// fs/namei.c: do_mknodat(S_IFIFO | mode) -> filename_create -> vfs_mknod: the parent walk, the last name's
    /// lookup (ENAMETOOLONG), an existing name EEXIST (the scenario directory itself included), a trailing '/'
    /// ENOENT ("you've been asking for a directory"), then the node with `mode` & ~umask. No descriptor.
    mutating func mkfifo(_ process: String, path: String, mode: UInt32) -> Outcome {
        if let error = Self.getnameError(path) { return .failure(error) }
        switch walk(path) {
        case .failure(let error): return .failure(error.errno)
        case .success(.directory): return .failure(EEXIST)
        case .success(.name(let name, let trailingSlash)):
            if name.bytes.count > Self.nameMax { return .failure(ENAMETOOLONG) }
            if isNonDirectory(name) { return .failure(EEXIST) }
            if trailingSlash { return .failure(ENOENT) }
            fifos[name] = FifoNode()
            fileModes[name] = mode & ~umask & 0o7777
            return Outcome(result: 0)
        }
    }

    /// The open of a FIFO by its name or through /proc: may_open checks the FIFO's permission bits (O_TRUNC
    /// still asks for write, though it truncates nothing), then fifo_open.
    mutating func openFifo(_ process: String, _ name: FileName, flags: Set<OpenFlag>) -> Outcome {
        let access = AccessMode(openFlags: flags)
        if accessDenied(process, file: name, access: access, truncate: flags.contains(.trunc)) { return .failure(EACCES) }
        return fifoOpen(process, .named(name), access: access, status: Set(openFlags: flags),
                        closeOnExec: flags.contains(.cloexec))
    }

    /// Which pipe fifo_open opens: an anonymous pipe's (reopened through /proc: is_pipe) or a FIFO's, by name.
    enum FifoOpening { case anonymous(PipeID), named(FileName) }

    /// fs/pipe.c: fifo_open, after may_open. The pipe is the inode's, allocated by the first opener (both
    /// counts of opens at 1). O_RDONLY: r_counter++ and readers++; on a FIFO with no writer O_NONBLOCK opens at
    /// once (filp->f_pipe = w_counter), else the opener sleeps until w_counter moves. O_WRONLY: on a FIFO with no
    /// reader O_NONBLOCK is ENXIO (before anything is counted), else w_counter++ and writers++ (the first writer
    /// wakes the readers' queue) and, with no reader, a sleep until r_counter moves. O_RDWR counts both and never
    /// waits. Neither read nor write access is EINVAL. An anonymous pipe never waits.
    mutating func fifoOpen(_ process: String, _ opening: FifoOpening, access: AccessMode, status: Set<StatusFlag>,
                           closeOnExec: Bool) -> Outcome {
        // The number open reserved first (get_unused_fd_flags before do_filp_open): a sleeper keeps it.
        guard let number = lowestFree(process, from: 0) else { return .failure(EMFILE) }
        let id: PipeID
        var pipe: PipeObject
        switch opening {
        case .anonymous(let existing):
            guard let found = pipes[existing] else { return .failure(ENXIO) }
            (id, pipe) = (existing, found)
        case .named(let name):
            if let existing = fifos[name]?.pipe, let found = pipes[existing] {
                (id, pipe) = (existing, found)
            } else {
                (id, pipe) = (nextPipe.take(), PipeObject(fifo: name))
            }
        }
        let isPipe = pipe.fifo == nil
        var writersSeen = 0
        var sleepsFor: Int?
        let target: DescriptionTarget
        switch access {
        case .readOnly:
            pipe.readerOpens += 1
            pipe.readers += 1
            // (A first reader wakes the readers' queue too - wake_up_partner - which only partners asleep in
            // fifo_open wait on; they are FifoSleepers here.)
            if !isPipe && pipe.writers == 0 {
                if status.contains(.nonblock) { writersSeen = pipe.writerOpens } else { sleepsFor = pipe.writerOpens }
            }
            target = .pipeRead(pipe: id)
        case .writeOnly:
            if !isPipe && status.contains(.nonblock) && pipe.readers == 0 { return .failure(ENXIO) }
            pipe.writerOpens += 1
            pipe.writers += 1
            if !isPipe && pipe.readers == 0 { sleepsFor = pipe.readerOpens }
            target = .pipeWrite(pipe: id)
        case .readWrite:
            pipe.readerOpens += 1
            pipe.writerOpens += 1
            pipe.readers += 1
            pipe.writers += 1
            target = .pipeReadWrite(pipe: id)
        case .neither:
            return .failure(EINVAL)
        }
        pipes[id] = pipe
        if case .named(let name) = opening { fifos[name] = FifoNode(pipe: id) }
        // `if (!pipe->writers++) wake_up_partner(pipe)`: the readers' queue, with no key (an edge-triggered
        // reader is reported again; found porting kselftest epoll_wakeup_test).
        if access != .readOnly && pipe.writers == 1 { wake(.pipeReaders(id), key: 0) }
        if let partnerOpens = sleepsFor {
            fifoSleepers[process] = FifoSleeper(pipe: id, number: number, access: access, partnerOpens: partnerOpens,
                                                statusFlags: status, closeOnExec: closeOnExec)
            var outcome = Outcome(blocks: true)
            outcome.changedBeforeBlocking = true  // counted as a reader or writer while it sleeps
            return outcome
        }
        return installFifoEnd(process, at: number, target: target, access: access, status: status,
                              closeOnExec: closeOnExec, writersSeen: writersSeen)
    }

    /// The open of a process asleep in fifo_open, asked again (a background call after a step): it returns once
    /// the partner's count of opens has moved (wait_for_partner), with the descriptor it was counted for, even
    /// if that partner has closed again since; otherwise it sleeps on. Nil when the process is not asleep there.
    mutating func resumeFifoOpen(_ process: String) -> Outcome? {
        guard let sleeper = fifoSleepers[process] else { return nil }
        guard let pipe = pipes[sleeper.pipe] else { return .beyondModel("a FIFO open asleep on a pipe the model lost") }
        let partnerOpens = sleeper.access == .readOnly ? pipe.writerOpens : pipe.readerOpens
        if partnerOpens == sleeper.partnerOpens || brokenRules.contains(.fifoOpenMissesPartner) { return Outcome(blocks: true) }
        fifoSleepers[process] = nil
        let target: DescriptionTarget = sleeper.access == .readOnly ? .pipeRead(pipe: sleeper.pipe) : .pipeWrite(pipe: sleeper.pipe)
        // fd_install at the number reserved before the sleep, whatever was freed below it meanwhile.
        return installFifoEnd(process, at: sleeper.number, target: target, access: sleeper.access,
                              status: sleeper.statusFlags, closeOnExec: sleeper.closeOnExec, writersSeen: 0)
    }

    /// fd_install of the new description at the number open reserved first.
    private mutating func installFifoEnd(_ process: String, at number: Int32, target: DescriptionTarget, access: AccessMode,
                                         status: Set<StatusFlag>, closeOnExec: Bool, writersSeen: Int) -> Outcome {
        let id = newDescription(target, access: access, flags: status, offset: nil)
        descriptions[id]?.fifoWritersSeen = writersSeen
        place(process, number: number, description: id, closeOnExec: closeOnExec)
        return Outcome(result: Int64(number), fds: [number])
    }

    /// The numbers reserved in `process`'s table by opens asleep in fifo_open and accepts asleep (its own, or a
    /// process's sharing the table: CLONE_FILES). Empty, at the cost of two checks, when nobody sleeps there.
    func reservedNumbers(in process: String) -> Set<Int32> {
        guard !fifoSleepers.isEmpty || !reservedByCalls.isEmpty, let table = processes[process]?.tableID else { return [] }
        return Set(fifoSleepers.compactMap { processes[$0.key]?.tableID == table ? $0.value.number : nil })
            .union(reservedByCalls.compactMap { processes[$0.key]?.tableID == table ? $0.value : nil })
    }

    /// A process that ends asleep in fifo_open (killed: the sleep is interrupted) gives its count back, as the
    /// open's error path does (err_rd: the last reader wakes the writers' queue; err_wr: the last writer wakes
    /// the readers'), and the pipe is freed when nobody else has it.
    mutating func abandonFifoOpen(_ process: String) {
        guard let sleeper = fifoSleepers.removeValue(forKey: process), var pipe = pipes[sleeper.pipe] else { return }
        if sleeper.access == .readOnly { pipe.readers -= 1 } else { pipe.writers -= 1 }
        pipes[sleeper.pipe] = pipe
        if sleeper.access == .readOnly && pipe.readers == 0 { wake(.pipeWriters(sleeper.pipe), key: 0) }
        if sleeper.access == .writeOnly && pipe.writers == 0 { wake(.pipeReaders(sleeper.pipe), key: 0) }
        if pipe.readers == 0 && pipe.writers == 0 { freeFifoPipe(sleeper.pipe) }
    }

    /// put_pipe_info -> free_pipe_info when a FIFO's last file goes: the name keeps no pipe and the data is
    /// gone. The PipeObject stays, empty, for the O_PATH descriptions that still name it (their kind is the
    /// FIFO's); an anonymous pipe is left as it is.
    mutating func freeFifoPipe(_ id: PipeID) {
        guard let name = pipes[id]?.fifo, fifos[name]?.pipe == id else { return }
        fifos[name] = FifoNode()
        pipes[id]?.slots = []
    }
}
