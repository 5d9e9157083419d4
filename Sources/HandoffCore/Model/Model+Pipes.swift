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
        let wasFull = pipe.slots.count >= PipeObject.slotLimit
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
    }

    /// The number of bytes waiting in the pipe behind a description (tests).
    func pipeBytes(_ id: DescriptionID) -> Int? {
        guard let desc = descriptions[id] else { return nil }
        switch desc.target {
        case .pipeRead(let p), .pipeWrite(let p), .pipeReadWrite(let p): return pipes[p]?.available
        default: return nil
        }
    }
}
