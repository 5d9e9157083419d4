#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HandoffProtocol

// poll(2) of one descriptor (fs/select.c: do_sys_poll -> do_pollfd -> vfs_poll, the object's ->poll). The
// step's result is the revents: what the object reports, restricted to the events asked for plus POLLERR,
// POLLHUP and POLLNVAL (do_pollfd: `filter = demangle_poll(pollfd->events) | EPOLLERR | EPOLLHUP`).
//
// A poll with a timeout is the scenarios' way to wait: for the AF_UNIX garbage collector (Model+UnixGC.swift)
// or for a process to exit (a pidfd turns readable). If the model predicts events, the kernel returns as soon
// as they hold; if it predicts none, the kernel waits the whole timeout and returns 0. A timeout is bounded
// (PollEvent.maximumTimeout): a poll never blocks forever.
//
// Modelled objects: pipes (pipe_poll), AF_UNIX sockets (unix_poll for stream, unix_dgram_poll for dgram and
// seqpacket), pidfds (pidfd_poll), eventfds (eventfd_poll), regular files and memfds (DEFAULT_POLLMASK). For
// epoll instances (readable while a registration is ready). For the rest (TCP and UDP sockets, the inherited
// log and /dev/null, an epoll whose registrations are such) the revents are not compared (resultMask 0): their
// readiness depends on state the model does not keep.

extension ReferenceModel {
    /// fs/select.c: do_pollfd - a descriptor that is not open (or an O_PATH one: fdget refuses FMODE_PATH)
    /// reports POLLNVAL; a negative one is skipped (revents 0).
    mutating func poll(_ process: String, fd: Int32, events: Set<PollEvent>, timeout: Int32) -> Outcome {
        if fd < 0 { return Outcome(result: 0) }
        guard case let (_, desc)? = fdget(process, fd), !desc.pathOnly else {
            return Outcome(result: Int64(Linux.POLLNVAL))
        }
        // A wait for the collector: what unix_gc frees is gone once the poll returns (see unixGC).
        let filter = PollEvent.linux(events) | Linux.POLLERR | Linux.POLLHUP
        // POLLOUT of a unix socket depends on its send buffer (unix_writable): asked for and uncertain, the
        // model cannot predict the poll (Model+SendBuffer.swift).
        if filter & Linux.POLLOUT != 0, case .socket(let e) = desc.target, let endpoint = endpoints[e],
           endpoint.family == .unix, endpoint.listener == nil, unixWritable(e) == nil {
            return .beyondModel(sendBufferUncertainty(e, "poll for POLLOUT"))
        }
        guard let (mask, compared) = readiness(of: desc) else {
            return Outcome(result: 0, resultMask: 0)
        }
        let revents = mask & filter
        return Outcome(result: Int64(revents), resultMask: Int64(compared))
    }

    /// The object's ->poll mask (the bits the model knows) and which bits of it are compared; nil when the
    /// object's readiness is not modelled.
    func readiness(of desc: OpenDescription) -> (Int16, Int16)? {
        let all: Int16 = Linux.POLLIN | Linux.POLLOUT | Linux.POLLERR | Linux.POLLHUP | Linux.POLLNVAL | Linux.POLLRDHUP
        switch desc.target {
        case .pipeRead(let p), .pipeWrite(let p), .pipeReadWrite(let p):
            guard let pipe = pipes[p] else { return nil }
            return (pipeReadiness(pipe, desc: desc), all)
        case .socket(let e):
            guard let endpoint = endpoints[e], endpoint.family == .unix else { return nil }
            return (unixReadiness(endpoint, writable: unixWritable(e) != false), all)
        case .pidfd(let target):
            // pidfd_poll: EPOLLIN once the thread group has exited (a zombie); after it was reaped the pid has
            // no task and newer kernels add EPOLLHUP (6.18 does) - not compared, it varies by version.
            switch processes[target]?.state {
            case .running?, nil: return (0, all)
            case .exited?, .killed?, .reaped?: return (Linux.POLLIN, all & ~Linux.POLLHUP)
            }
        case .eventfd(let object):
            // eventfd_poll: readable while the counter is above 0, writable while it is below ULLONG_MAX - 1.
            let count = eventCounters[object] ?? 0
            var mask: Int16 = 0
            if count > 0 { mask |= Linux.POLLIN }
            if count < UInt64.max - 1 { mask |= Linux.POLLOUT }
            return (mask, all)
        case .file, .memfd:
            // Regular files and shmem have no ->poll: DEFAULT_POLLMASK (in, out, rdnorm, wrnorm).
            return (Linux.POLLIN | Linux.POLLOUT, all)
        case .anonymous:
            // signalfd_poll, timerfd_poll, inotify_poll: readable only with a pending signal in the mask, an
            // expired timer or a queued event - none of which a scenario can produce (no signal is delivered to
            // a live agent, no timer is armed, no watch added): nothing ready.
            return (0, all)
        case .epoll(let object):
            // ep_eventpoll_poll: readable while a registration is ready (Model+Epoll.swift), never writable.
            guard case .known(let list) = readyList(object) else { return nil }
            return (list.entries.isEmpty ? 0 : Linux.POLLIN, all)
        case .inherited:
            return nil
        }
    }

    /// fs/pipe.c: pipe_poll - the read side is readable with data and hung up when no writer is left and
    /// w_counter differs from filp->f_pipe (0 for every reader of an anonymous pipe, so always; see
    /// OpenDescription.fifoWritersSeen); the write
    /// side is writable while a slot is free and in error when no reader is left.
    func pipeReadiness(_ pipe: PipeObject, desc: OpenDescription) -> Int16 {
        var mask: Int16 = 0
        if desc.readable {
            if pipe.available > 0 { mask |= Linux.POLLIN }
            // f_pipe is 0 for every reader of an anonymous pipe and w_counter at least 1 (alloc_pipe_info): always
            // hung up there; a FIFO reader opened O_NONBLOCK before any writer is not, until a writer has come.
            if pipe.writers == 0 && desc.fifoWritersSeen != pipe.writerOpens { mask |= Linux.POLLHUP }
        }
        if desc.writable {
            if pipe.slots.count < pipe.slotLimit { mask |= Linux.POLLOUT }
            if pipe.readers == 0 { mask |= Linux.POLLERR }
        }
        return mask
    }

    /// net/unix/af_unix.c: unix_poll (stream) and unix_dgram_poll (dgram, seqpacket). A stream or seqpacket
    /// peer's release shuts this side down both ways (unix_release_sock: skpair->sk_shutdown =
    /// SHUTDOWN_MASK): POLLHUP, and POLLIN|POLLRDHUP. A listener is readable while a connection waits and is
    /// never writable. Otherwise POLLOUT follows unix_writable (`writable`: the send buffer, Model+SendBuffer.swift).
    func unixReadiness(_ endpoint: SocketEndpoint, writable: Bool = true) -> Int16 {
        var mask: Int16 = 0
        if endpoint.pendingError != nil { mask |= Linux.POLLERR }
        if let listener = endpoint.listener {
            if !listener.waiting.isEmpty { mask |= Linux.POLLIN }
            if endpoint.receiveShutdown { mask |= Linux.POLLIN | Linux.POLLRDHUP }
            if endpoint.receiveShutdown && endpoint.sendShutdown { mask |= Linux.POLLHUP }
            return mask
        }
        let peerGone = endpoint.type != .dgram && endpoint.peer.flatMap { endpoints[$0]?.closed } == true
        let receiveShut = endpoint.receiveShutdown || peerGone
        let sendShut = endpoint.sendShutdown || peerGone
        if receiveShut && sendShut { mask |= Linux.POLLHUP }
        if receiveShut { mask |= Linux.POLLIN | Linux.POLLRDHUP }
        if !endpoint.queue.isEmpty { mask |= Linux.POLLIN }
        if writable { mask |= Linux.POLLOUT }
        if endpoint.addressed { return addressedReadiness(endpoint, mask) }
        return mask
    }
}
