#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HandoffProtocol

// Wake-ups, as far as epoll sees them. An object's ->poll hooks every epoll registration on the object's wait
// queues (ep_ptable_queue_proc); a wake-up of a queue runs ep_poll_callback for each, which puts the item on its
// epoll's ready list unless the item is disarmed (an EPOLLONESHOT already reported) or the wake-up's key names
// none of its events, and wakes whatever polls that epoll in turn (ep_poll_safewake, key EPOLLIN). A
// level-triggered item is put back after every report, so only readiness decides it; an edge-triggered one is
// reported by a wait only while it is on the ready list (fs/eventpoll.c: ep_send_events), so the model keeps,
// per epoll, the edge-triggered items on it (`edgeQueued`) and those a wake-up it cannot tell may have put
// there (`edgeUnknown`: a wait that finds one of them ready is past the model, never guessed).
//
// The wake-ups followed, each where the kernel makes it:
// - pipes (fs/pipe.c): pipe_write wakes the readers' queue on every call that gets past "null write
//   succeeds" once the pipe was ever polled (`pipe->poll_usage`), EAGAIN included; pipe_read wakes the writers'
//   queue when the ring was full as it began; pipe_release wakes both when one side is left without the other;
//   fifo_open (a reopen through /proc/PID/fd) wakes the readers' queue when the pipe gets its first writer
//   (or reader) again (wake_up_partner);
// - eventfd_write wakes with EPOLLIN (a zero added too), eventfd_read with EPOLLOUT;
// - AF_UNIX sockets, from what a step changed (`followWakeups`): an skb queued to a socket is its
//   sk_data_ready (EPOLLIN), so is a connection queued to a listener; an skb freed (read, purged) is its
//   owner's sk_write_space (sock_wfree -> unix_write_space: EPOLLOUT when the owner is writable); a peer's
//   release is sk_state_change (every registration); shutdown wakes its socket and a stream or seqpacket peer
//   (unix_shutdown). A datagram reader also wakes its peer_wait, relayed to senders that polled a full queue
//   (unix_dgram_peer_wake_relay) - which ones, the model does not follow: unknown;
// - pidfds: the process's exit (do_notify_pidfd, every registration); its reaping is unknown (newer kernels
//   wake again and add EPOLLHUP);
// - epolls: an item ep_insert finds ready wakes the epoll's pollers; ep_modify does so only if the item was
//   not on the ready list already: known for an edge-triggered item, not kept for a level-triggered one
//   (unknown).
// A blocking pipe call that sleeps and is woken later wakes others on its way out (pipe_write's
// wake_next_writer, pipe_read's wake_next_reader): the execution marks the edge-triggered items on that pipe's
// queues unknown.
//
// Belt and braces: an edge-triggered registration whose object turns ready during a step without a wake-up
// the model followed is marked unknown (a wake-up source the model lacks), so a missing rule shows as an
// ERROR, not as a finding against the kernel.

/// A wait queue an object's ->poll registers epoll items on.
enum WaitQueue: Equatable, Sendable {
    /// pipe->rd_wait and pipe->wr_wait.
    case pipeReaders(PipeID), pipeWriters(PipeID)
    /// sk->sk_wq.
    case socket(EndpointID)
    /// ctx->wqh.
    case eventfd(EventfdID)
    /// pid->wait_pidfd.
    case pidfd(String)
    /// ep->poll_wait: what watches this epoll.
    case epoll(EpollID)
}

extension ReferenceModel {
    /// The queues the ->poll of `target` waits on (pipe_poll, sock_poll_wait, eventfd_poll, pidfd_poll,
    /// ep_eventpoll_poll); none for objects that never wake (signalfd, timerfd, inotify without a source).
    func waitQueues(of target: DescriptionTarget) -> [WaitQueue] {
        switch target {
        case .pipeRead(let p): return [.pipeReaders(p)]
        case .pipeWrite(let p): return [.pipeWriters(p)]
        case .pipeReadWrite(let p): return [.pipeReaders(p), .pipeWriters(p)]
        case .socket(let e): return [.socket(e)]
        case .eventfd(let o): return [.eventfd(o)]
        case .pidfd(let process): return [.pidfd(process)]
        case .epoll(let o): return [.epoll(o)]
        case .file, .memfd, .anonymous, .inherited: return []
        }
    }

    /// The armed registrations on `queue`, by epoll: the epitems ep_poll_callback runs for. A description
    /// already released has none (eventpoll_release comes before the object's own release in __fput).
    private func registrations(on queue: WaitQueue) -> [(epoll: EpollID, registration: EpollRegistration, events: Set<EpollEvent>)] {
        var found: [(EpollID, EpollRegistration, Set<EpollEvent>)] = []
        for (object, epoll) in epolls {
            for (registration, events) in epoll.interest where !epoll.disarmed.contains(registration) {
                guard let description = descriptions[registration.description], !description.released,
                    waitQueues(of: description.target).contains(queue) else { continue }
                found.append((object, registration, events))
            }
        }
        return found
    }

    /// A wake-up of `queue` with poll bits `key` (0: no key, as wake_up_all and sk_state_change give):
    /// ep_poll_callback for each armed registration whose events the key names - an edge-triggered one goes on
    /// its epoll's ready list - and, in turn, for what watches those epolls (ep_poll_safewake, EPOLLIN).
    /// `followed: false`: a wake-up the model cannot tell happened; the edge-triggered items it could have
    /// queued, and those above them, are unknown instead.
    mutating func wake(_ queue: WaitQueue, key: UInt32, followed: Bool = true, depth: Int = 0) {
        guard !epolls.isEmpty, depth <= Self.epollMaxNests else { return }
        var woken: Set<EpollID> = []
        for (object, registration, events) in registrations(on: queue) {
            // `if (pollflags && !(pollflags & epi->event.events)) goto out_unlock;`
            if key != 0 && key & Self.reportable(events) == 0 { continue }
            if events.contains(.et) {
                if followed {
                    epolls[object]?.edgeQueued.insert(registration)
                    epolls[object]?.edgeUnknown.remove(registration)
                } else if epolls[object]?.edgeQueued.contains(registration) == false {
                    epolls[object]?.edgeUnknown.insert(registration)
                }
            }
            woken.insert(object)
        }
        for object in woken { wake(.epoll(object), key: Linux.EPOLLIN, followed: followed, depth: depth + 1) }
    }

    /// A call that slept on a pipe woke others on its way that the model does not follow (pipe_write's
    /// wake_next_writer and the readers it woke before sleeping, pipe_read's wake_next_reader): the
    /// edge-triggered items on that pipe's queues become unknown. Other sleepers' wake-ups are the ordinary ones
    /// of the part they complete (an skb queued or freed, an eventfd read), followed as any step's; a sleeper
    /// whose object is not known (nil) makes every edge-triggered item unknown.
    mutating func edgeWakeupsUnknown(near target: DescriptionTarget?) {
        switch target {
        case .pipeRead(let p)?, .pipeWrite(let p)?, .pipeReadWrite(let p)?:
            wake(.pipeReaders(p), key: 0, followed: false)
            wake(.pipeWriters(p), key: 0, followed: false)
        case nil:
            for (object, epoll) in epolls {
                for (registration, events) in epoll.interest where events.contains(.et) && !epoll.edgeQueued.contains(registration) {
                    epolls[object]?.edgeUnknown.insert(registration)
                }
            }
        default:
            break
        }
    }

    // MARK: - Wake-ups read from what a step changed

    /// What `followWakeups` compares: the AF_UNIX sockets and processes some registration watches, and the
    /// readiness of every edge-triggered registration off its ready list.
    struct WakeupSnapshot {
        fileprivate var sockets: [EndpointID: SocketWakeState] = [:]
        fileprivate var charged: [EndpointID: Int] = [:]
        fileprivate var processes: [String: ModelProcessState?] = [:]
        fileprivate var edgeReadiness: [EpollID: [EpollRegistration: UInt32]] = [:]
    }

    fileprivate struct SocketWakeState {
        var queued: Int
        var connections: Int
        var peerClosed: Bool
        var closed: Bool
        var type: SocketType
    }

    /// nil when no epoll has a registration (nothing to follow; the common case costs one check).
    func wakeupSnapshot() -> WakeupSnapshot? {
        guard epolls.values.contains(where: { !$0.interest.isEmpty }) else { return nil }
        var snapshot = WakeupSnapshot()
        for epoll in epolls.values {
            for registration in epoll.interest.keys {
                switch descriptions[registration.description]?.target {
                case .socket(let e)?:
                    guard let endpoint = endpoints[e], endpoint.family == .unix else { continue }
                    snapshot.sockets[e] = socketWakeState(endpoint)
                    // A datagram sender hears its receiver's peer_wait: the receiver's reads and release matter.
                    if endpoint.type == .dgram, let peer = endpoint.peer, let receiver = endpoints[peer] {
                        snapshot.sockets[peer] = socketWakeState(receiver)
                    }
                case .pidfd(let process)?:
                    snapshot.processes[process] = processes[process]?.state
                default: break
                }
            }
        }
        if !snapshot.sockets.isEmpty { snapshot.charged = chargedSkbs(owners: Set(snapshot.sockets.keys)) }
        snapshot.edgeReadiness = edgeReadiness()
        return snapshot
    }

    private func socketWakeState(_ endpoint: SocketEndpoint) -> SocketWakeState {
        SocketWakeState(queued: endpoint.queue.count, connections: endpoint.listener?.waiting.count ?? 0,
                        peerClosed: endpoint.peer.flatMap { endpoints[$0]?.closed } ?? false, closed: endpoint.closed,
                        type: endpoint.type)
    }

    /// How many queued skbs each of `owners` is charged for (sk_wmem_alloc's skbs).
    private func chargedSkbs(owners: Set<EndpointID>) -> [EndpointID: Int] {
        var counts: [EndpointID: Int] = [:]
        for endpoint in endpoints.values {
            for message in endpoint.queue {
                if let owner = message.charge?.owner, owners.contains(owner) { counts[owner, default: 0] += 1 }
            }
        }
        return counts
    }

    /// The certain reportable readiness of each edge-triggered registration that is armed and off the ready list.
    private func edgeReadiness() -> [EpollID: [EpollRegistration: UInt32]] {
        var result: [EpollID: [EpollRegistration: UInt32]] = [:]
        for (object, epoll) in epolls {
            for (registration, events) in epoll.interest
            where events.contains(.et) && !epoll.disarmed.contains(registration) && !epoll.edgeQueued.contains(registration) {
                result[object, default: [:]][registration] = certainReadiness(registration, events)
            }
        }
        return result
    }

    private func certainReadiness(_ registration: EpollRegistration, _ events: Set<EpollEvent>) -> UInt32 {
        guard case .known(let polled) = itemPoll(registration, events) else { return 0 }
        return polled.mask & polled.compared & Self.reportable(events)
    }

    /// The wake-ups a step made that no rule of its own announced, read from what it changed since `before`.
    mutating func followWakeups(since before: WakeupSnapshot) {
        let after = Dictionary(uniqueKeysWithValues: before.sockets.keys.compactMap { id in
            endpoints[id].map { (id, socketWakeState($0)) }
        })
        let chargedNow = before.sockets.isEmpty ? [:] : chargedSkbs(owners: Set(before.sockets.keys))
        for (id, was) in before.sockets {
            guard let now = after[id] else { continue }
            // sk_data_ready: an skb queued (unix_stream_sendmsg, unix_dgram_sendmsg, queue_oob), or a connection
            // (unix_stream_connect); readers only take from a queue, so a longer queue means something came.
            if now.queued > was.queued || now.connections > was.connections {
                wake(.socket(id), key: Linux.EPOLLIN)
            }
            // unix_release_sock of a stream or seqpacket peer: skpair->sk_state_change.
            if now.type != .dgram && now.peerClosed && !was.peerClosed { wake(.socket(id), key: 0) }
            // sock_wfree -> unix_write_space: an skb of this socket's was freed.
            if chargedNow[id, default: 0] < before.charged[id, default: 0], !now.closed {
                switch unixWritable(id) {
                case true?: wake(.socket(id), key: Linux.EPOLLOUT)
                case nil: wake(.socket(id), key: Linux.EPOLLOUT, followed: false)
                case false?: break
                }
            }
            // A datagram socket read (its peer_wait woken with EPOLLOUT) or released (woken with no key):
            // relayed to the senders that registered with it.
            if now.type == .dgram && (now.queued < was.queued || (now.closed && !was.closed)) {
                let key = now.closed && !was.closed ? 0 : Linux.EPOLLOUT
                // (unix_dgram_poll registers only a sender whose receiver is not connected back to it.)
                for (other, endpoint) in endpoints
                where endpoint.peer == id && other != id && !endpoint.closed && endpoints[id]?.peer != other {
                    wake(.socket(other), key: key, followed: false)
                }
            }
        }
        for (process, was) in before.processes {
            let now = processes[process]?.state
            guard now != was else { continue }
            if was == .running { wake(.pidfd(process), key: 0) }
            if now == .reaped { wake(.pidfd(process), key: 0, followed: false) }
        }
        // An edge-triggered registration that turned ready without any wake-up the model followed.
        for (object, readiness) in before.edgeReadiness {
            guard let epoll = epolls[object] else { continue }
            for (registration, was) in readiness {
                guard let events = epoll.interest[registration], !epoll.edgeQueued.contains(registration),
                    !epoll.disarmed.contains(registration) else { continue }
                if certainReadiness(registration, events) & ~was != 0 { epolls[object]?.edgeUnknown.insert(registration) }
            }
        }
    }
}
