#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Anonymous pipes (fs/pipe.c). The ring of page slots itself is PipeObject (ModelInternals.swift).

extension ReferenceModel {
    /// fs/pipe.c: do_pipe2 - both numbers first (EMFILE), then the pipe and its two descriptions.
    mutating func pipe(_ process: String, closeOnExec: Bool, nonBlocking: Bool) -> Outcome {
        guard let numbers = lowestFree(process, count: 2) else { return .failure(EMFILE) }
        let pipeID = nextPipe.take()
        pipes[pipeID] = PipeObject(slots: [], readers: 1, writers: 1)
        return installPair(process, at: numbers, (.pipeRead(pipe: pipeID), .readOnly), (.pipeWrite(pipe: pipeID), .writeOnly),
                           closeOnExec: closeOnExec, nonBlocking: nonBlocking)
    }

    /// fs/pipe.c: pipe_read - a zero-length read returns 0; an empty pipe is EOF without writers, else
    /// EAGAIN (O_NONBLOCK) or a wait.
    mutating func readPipe(_ pipeID: PipeID, description desc: OpenDescription, count: Int) -> Outcome {
        if count == 0 { return Outcome(result: 0, data: []) }
        guard var pipe = pipes[pipeID] else { return .failure(EBADF) }
        if pipe.available == 0 {
            if pipe.writers == 0 { return Outcome(result: 0, data: []) }
            if desc.nonBlocking { return .failure(EAGAIN) }
            return Outcome(blocks: true)
        }
        let wasFull = pipe.slots.count >= pipe.slotLimit
        let bytes = pipe.take(count)
        pipes[pipeID] = pipe
        // `if (was_full) wake_up_interruptible_sync_poll(&pipe->wr_wait, EPOLLOUT | EPOLLWRNORM)`.
        if wasFull { wake(.pipeWriters(pipeID), key: Linux.EPOLLOUT) }
        return Outcome(result: Int64(bytes.count), data: bytes)
    }

    /// fs/pipe.c: pipe_write (the ring itself: PipeObject.write).
    mutating func writePipe(_ pipeID: PipeID, description desc: OpenDescription, data: [UInt8]) -> Outcome {
        // "Null write succeeds" comes before the readers check in pipe_write.
        if data.isEmpty { return Outcome(result: 0) }
        guard var pipe = pipes[pipeID] else { return .failure(EBADF) }
        // The agent ignores SIGPIPE, so the caller sees EPIPE.
        if pipe.readers == 0 { return .failure(EPIPE) }
        switch pipe.write(data, nonBlocking: desc.nonBlocking) {
        case .wouldBlock(let written):
            // pipe_write copies what fits into the free slots, then sleeps for the rest (waking the readers
            // first only if the pipe was empty: the execution marks a pipe sleeper's queues unknown).
            var outcome = Outcome(blocks: true)
            if written > 0 { outcome.doneBeforeBlocking = written }
            return outcome
        case .wrote(let n):
            // Every way out past the null write wakes the readers once the pipe was polled (`was_empty ||
            // pipe->poll_usage`), EAGAIN included: an epoll registration means pipe_poll ran.
            wake(.pipeReaders(pipeID), key: Linux.EPOLLIN)
            if n == 0 { return .failure(EAGAIN) }
            pipes[pipeID] = pipe
            return Outcome(result: Int64(n))
        }
    }

    /// fs/pipe.c: pipe_release - the last reference to an end's description drops a reader and/or a writer.
    mutating func releasePipeEnd(_ target: DescriptionTarget) {
        let pipeID: PipeID
        switch target {
        case .pipeRead(let p): pipes[p]?.readers -= 1; pipeID = p
        case .pipeWrite(let p): pipes[p]?.writers -= 1; pipeID = p
        case .pipeReadWrite(let p):
            pipes[p]?.readers -= 1
            pipes[p]?.writers -= 1
            pipeID = p
        default: return
        }
        // "Was that the last reader or writer, but not the other side?": both queues woken, with no key.
        if let pipe = pipes[pipeID], (pipe.readers == 0) != (pipe.writers == 0) {
            wake(.pipeReaders(pipeID), key: 0)
            wake(.pipeWriters(pipeID), key: 0)
        }
        // put_pipe_info: a FIFO's last file frees its pipe, and what was in it (the next open starts afresh).
        if let pipe = pipes[pipeID], pipe.readers == 0, pipe.writers == 0 { freeFifoPipe(pipeID) }
    }

    /// fs/pipe.c: pipe_fcntl - F_GETPIPE_SZ is pipe->max_usage pages; a file that is not a pipe or FIFO
    /// (get_pipe_info) is EBADF.
    func pipeSize(_ desc: OpenDescription) -> Outcome {
        guard let pipeID = desc.target.pipe, let pipe = pipes[pipeID] else { return .failure(EBADF) }
        return Outcome(result: Int64(pipe.slotLimit * PipeObject.pageSize))
    }

    /// fs/pipe.c: pipe_set_size - round_pipe_size (above 2^31 is 0, hence EINVAL; below a page is a page;
    /// else the next power of two), then, only when the ring grows: past fs.pipe-max-size without
    /// CAP_SYS_RESOURCE (capable(): the initial user namespace's) is EPERM; then pipe_resize_ring refuses
    /// fewer slots than are in use (EBUSY) and wakes the writers. Returns the new size in bytes.
    /// Like pipe() itself, the model takes the user to be under fs.pipe-user-pages-soft (an unprivileged user
    /// past it gets EPERM for growth, and 2-slot pipes).
    mutating func setPipeSize(_ process: String, _ desc: OpenDescription, bytes: UInt32) -> Outcome {
        guard let pipeID = desc.target.pipe, var pipe = pipes[pipeID] else { return .failure(EBADF) }
        let size: Int
        if bytes > 1 << 31 {
            return .failure(EINVAL)
        } else if bytes < PipeObject.pageSize {
            size = PipeObject.pageSize
        } else {
            var power = PipeObject.pageSize
            while power < Int(bytes) { power <<= 1 }
            size = power
        }
        let slots = size / PipeObject.pageSize
        if slots > pipe.slotLimit && size > pipeMaxSize
            && (!initialUserNamespace || lacks(process, "CAP_SYS_RESOURCE")) {
            return .failure(EPERM)
        }
        if slots < pipe.slots.count { return .failure(EBUSY) }
        pipe.slotLimit = slots
        pipes[pipeID] = pipe
        // "This might have made more room for writers": wake_up_interruptible(&pipe->wr_wait), no key.
        wake(.pipeWriters(pipeID), key: 0)
        return Outcome(result: Int64(size))
    }

    /// The number of bytes waiting in the pipe behind a description (tests).
    func pipeBytes(_ id: DescriptionID) -> Int? {
        guard let pipeID = descriptions[id]?.target.pipe else { return nil }
        return pipes[pipeID]?.available
    }
}
