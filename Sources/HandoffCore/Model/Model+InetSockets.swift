#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// TCP and UDP sockets on 127.0.0.1 (net/ipv4): ports, the connection's orderly and abortive close, and the
// byte stream. Nothing listens on UDP in the model. listen/connect/accept themselves are in
// Model+UnixSockets.swift; they call the inet halves here.

extension ReferenceModel {
    // MARK: - Ports

    /// The runner reports the ephemeral port the kernel chose for the listening socket at `fd` of `process`
    /// (after a successful listen on `.tcp(port: 0)`); later connects to that port reach it.
    public mutating func assignPort(_ port: UInt16, process: String, fd: Int32) {
        guard let entry = self[tableOf: process][fd], let desc = descriptions[entry.description],
              case .socket(let e) = desc.target, let listener = endpoints[e]?.listener,
              case .tcp = listener.address else { return }
        bindings[listener.address] = nil
        let bound = BoundAddress.tcp(port)
        endpoints[e]?.listener?.address = bound
        bindings[bound] = e
    }

    /// The inet half of bind(2), net/ipv4/af_inet.c: __inet_bind - the socket's family (a datagram socket is
    /// UDP), the privileged-port check and the port conflict check.
    func bindInet(_ process: String, port: UInt16, type: SocketType) -> Result<(BoundAddress, SocketFamily), AddressError> {
        let family: SocketFamily = type == .dgram ? .udp : .tcp
        // __inet_bind: ports below ip_unprivileged_port_start (1024) need CAP_NET_BIND_SERVICE.
        if port != 0, port < 1024, lacks(process, "CAP_NET_BIND_SERVICE") { return .failure(AddressError(EACCES)) }
        // SO_REUSEADDR is set, so only a listening socket on the port conflicts (UDP ports are a
        // separate space in which the model has no bound socket).
        if family == .tcp, port != 0, bindings[.tcp(port)] != nil { return .failure(AddressError(EADDRINUSE)) }
        return .success((.tcp(port == 0 ? nil : port), family))
    }

    /// net/ipv4/datagram.c: __ip4_datagram_connect - a UDP connect only records the destination; it always
    /// succeeds.
    mutating func connectUDP(_ process: String, flags: Set<StatusFlag>, closeOnExec: Bool) -> Outcome {
        let id = nextEndpoint.take()
        endpoints[id] = SocketEndpoint(type: .dgram, peer: nil, family: .udp)
        return install(process, target: .socket(endpoint: id), access: .readWrite, flags: flags,
                       closeOnExec: closeOnExec)
    }

    // MARK: - Close

    /// tcp_close: unread data makes it an abortive close (RST: ECONNRESET for the peer); otherwise the peer
    /// gets a FIN (EOF once drained) and this side lingers as an orphan that answers later data with RST.
    mutating func releaseTCP(_ id: EndpointID) -> [DescriptionID] {
        guard var endpoint = endpoints[id] else { return [] }
        endpoint.closed = true
        let unread = !endpoint.queue.isEmpty
        endpoint.queue = []
        endpoints[id] = endpoint
        guard !endpoint.reset, let peer = endpoint.peer, let other = endpoints[peer], !other.closed, !other.reset
        else { return [] }
        // Both FINs exchanged: both sides are in TCP_CLOSE already (tcp_done), and a close sends nothing.
        if Self.tcpFinishedOrderly(endpoint) || Self.tcpFinishedOrderly(other) { return [] }
        if unread {
            // tcp_reset in the peer: EPIPE in CLOSE_WAIT (it had our FIN: we shut down writing first),
            // ECONNRESET otherwise.
            endpoints[peer]?.reset = true
            endpoints[peer]?.pendingError = other.finReceived ? EPIPE : ECONNRESET
        } else {
            endpoints[peer]?.finReceived = true
        }
        return []
    }

    /// net/ipv4/udp.c: udp_lib_close - nobody else is told.
    mutating func releaseUDP(_ id: EndpointID) -> [DescriptionID] {
        endpoints[id]?.closed = true
        return []
    }

    // MARK: - Data

    /// sendmsg on TCP and UDP sockets (tcp_sendmsg_locked, udp_sendmsg). SCM_RIGHTS is not an error there:
    /// __sock_cmsg_send skips SCM_RIGHTS/SCM_CREDENTIALS ("semantically in SOL_UNIX"), so the descriptors are
    /// silently ignored and never validated.
    mutating func sendInet(_ id: EndpointID, _ endpoint: SocketEndpoint, data: [UInt8],
                           flags: Set<SendFlag> = []) -> Outcome {
        if endpoint.family == .udp {
            // udp_sendmsg refuses MSG_OOB first thing.
            if flags.contains(.oob) { return .failure(EOPNOTSUPP) }
            // Nothing listens on UDP in the model: every datagram draws an ICMP port unreachable, which a
            // connected UDP socket records as ECONNREFUSED and reports (once) on its next call - before
            // SHUT_WR's EPIPE (sock_alloc_send_pskb: sock_error, then SEND_SHUTDOWN).
            if let error = endpoint.pendingError {
                endpoints[id]?.pendingError = nil
                return .failure(error)
            }
            if endpoint.sendShutdown { return .failure(EPIPE) }
            endpoints[id]?.pendingError = ECONNREFUSED
            return Outcome(result: Int64(data.count))
        }
        // A listener is neither ESTABLISHED nor CLOSE_WAIT, nor connecting: sk_stream_wait_connect says EPIPE.
        if endpoint.listener != nil { return .failure(EPIPE) }
        if endpoint.reset {
            // State TCP_CLOSE: sk_stream_wait_connect reports a pending error once, then EPIPE.
            if let error = endpoint.pendingError {
                endpoints[id]?.pendingError = nil
                return .failure(error)
            }
            return .failure(EPIPE)
        }
        // tcp_sendmsg_locked: SEND_SHUTDOWN (after our shutdown(SHUT_WR)) is sk_stream_error's EPIPE.
        if endpoint.sendShutdown { return .failure(EPIPE) }
        if data.isEmpty { return Outcome(result: 0) }
        // A connection always has its peer; without one, sk_stream_wait_connect's answer for TCP_CLOSE: EPIPE.
        guard let peer = endpoint.peer, let other = endpoints[peer] else { return .failure(EPIPE) }
        if other.closed {
            // The peer closed with a FIN (we are in CLOSE_WAIT): this write is accepted, the orphan answers
            // it with RST, and tcp_reset in CLOSE_WAIT records EPIPE. The data is lost.
            endpoints[id]?.reset = true
            endpoints[id]?.pendingError = EPIPE
            return Outcome(result: Int64(data.count))
        }
        if other.receiveShutdown && other.sendShutdown {
            // The peer shut down both ways (FIN_WAIT): tcp_rcv_state_process resets on new data. The peer
            // sees ECONNRESET; we, in CLOSE_WAIT after its FIN, get the RST as EPIPE (tcp_reset).
            endpoints[peer]?.reset = true
            endpoints[peer]?.pendingError = ECONNRESET
            endpoints[peer]?.queue = []
            endpoints[id]?.reset = true
            endpoints[id]?.pendingError = EPIPE
            return Outcome(result: Int64(data.count))
        }
        if flags.contains(.oob) {
            // The segment carries the urgent pointer: its last byte is the peer's urgent byte.
            markUrgent(peer, data: data)
            return Outcome(result: Int64(data.count))
        }
        endpoints[peer]?.queue.append(SocketMessage(data: data, descriptions: [], sender: ""))
        return Outcome(result: Int64(data.count))
    }

    /// recvmsg on TCP and UDP sockets (tcp_recvmsg_locked, udp_recvmsg): never any descriptors, so never
    /// MSG_CTRUNC.
    /// MSG_PEEK, MSG_TRUNC and MSG_WAITALL: Model+MessageFlags.swift; MSG_OOB: Model+OutOfBand.swift.
    mutating func recvInet(_ id: EndpointID, _ endpoint: SocketEndpoint, count: Int, dontWait: Bool,
                           viaRead: Bool, flags messageFlags: Set<MessageFlag> = []) -> Outcome {
        var endpoint = endpoint
        let flags: Int32? = viaRead ? nil : 0
        if messageFlags.contains(.oob), endpoint.family == .tcp {
            return tcpReceiveOutOfBand(id, endpoint, count: count, flags: messageFlags)
        }
        // tcp_recvmsg_locked peeks from sk_peek_off when it is set (6.9) and moves it on every read
        // (sk_peek_offset_fwd, _bwd): not followed for TCP.
        if endpoint.family == .tcp && endpoint.options.peekOffset >= 0 {
            return .beyondModel("a TCP read with SO_PEEK_OFF set: the model does not follow TCP's peek offset")
        }
        if endpoint.family == .udp {
            // __skb_try_recv_datagram reports a pending error before it looks at the queue.
            if let error = endpoint.pendingError {
                endpoints[id]?.pendingError = nil
                return .failure(error)
            }
            // A blocking reader of a socket shut down for reading gets end of file (__skb_wait_for_more_packets).
            if endpoint.receiveShutdown && !dontWait { return Outcome(result: 0, data: [], messageFlags: flags) }
            return dontWait ? .failure(EAGAIN) : Outcome(blocks: true)
        }
        if endpoint.queue.isEmpty {
            // tcp_recvmsg_locked with nothing copied: SOCK_DONE (a FIN arrived) first, then sk_err, then
            // RCV_SHUTDOWN, then EAGAIN.
            if endpoint.finReceived { return Outcome(result: 0, data: [], messageFlags: flags) }
            if let error = endpoint.pendingError {
                endpoints[id]?.pendingError = nil
                return .failure(error)
            }
            if endpoint.receiveShutdown { return Outcome(result: 0, data: [], messageFlags: flags) }
            // TCP_CLOSE: after tcp_done (a reset, an orderly close) RCV_SHUTDOWN is set and the read is end of
            // file; a listener shut down for reading went through tcp_disconnect, which clears sk_shutdown:
            // ENOTCONN.
            if endpoint.reset { return endpoint.stoppedListening ? .failure(ENOTCONN) : Outcome(result: 0, data: [], messageFlags: flags) }
            return dontWait ? .failure(EAGAIN) : Outcome(blocks: true)
        }
        // A byte stream: copy across the queued writes, stopping at or skipping the urgent byte
        // (Model+OutOfBand.swift). MSG_PEEK leaves the queue; MSG_TRUNC (tcp_recvmsg_locked: "if (!(flags &
        // MSG_TRUNC))" around the copy) discards the bytes instead of copying them: what the buffer holds is
        // not predicted.
        let peek = messageFlags.contains(.peek)
        let read = ReferenceModel.tcpRead(endpoint, count: max(0, count), peek: peek)
        let ended = endpoint.finReceived || endpoint.reset || endpoint.receiveShutdown || endpoint.pendingError != nil
        if read.bytes.isEmpty && read.ranOut {
            // Only the urgent byte was there, and it was skipped: as an empty queue, once it is gone.
            if endpoint.finReceived { return commit(Outcome(result: 0, data: [], messageFlags: flags)) }
            if let error = endpoint.pendingError {
                endpoints[id]?.pendingError = nil
                return commit(.failure(error))
            }
            if endpoint.reset || endpoint.receiveShutdown { return commit(Outcome(result: 0, data: [], messageFlags: flags)) }
            // tcp_recvmsg_locked stepped past the urgent byte (urg_hole) and cleared urg_data before it sleeps.
            var sleeps = Outcome(blocks: true)
            sleeps.changedBeforeBlocking = !peek
            return dontWait ? commit(.failure(EAGAIN)) : commit(sleeps)
        }
        // tcp_recvmsg_locked: MSG_WAITALL sets the target to `count`; it waits for the rest (sk_wait_data),
        // unless the urgent byte stopped the read.
        if messageFlags.contains(.waitall), read.ranOut, read.bytes.count < count, !dontWait, !ended {
            // It has copied what was queued (copied_seq moved on) and sleeps in sk_wait_data for the rest.
            var outcome = Outcome(blocks: true)
            if !peek && !read.bytes.isEmpty { outcome.doneBeforeBlocking = read.bytes.count }
            return outcome
        }
        return commit(Outcome(result: Int64(read.bytes.count), data: messageFlags.contains(.trunc) ? nil : read.bytes,
                              messageFlags: flags))

        /// The reader's progress, kept unless the call blocks.
        func commit(_ outcome: Outcome) -> Outcome {
            if !peek {
                dropStreamBytes(&endpoint.queue, read.consumed)
                endpoint.urgent = read.urgent
                endpoints[id]?.queue = endpoint.queue
                endpoints[id]?.urgent = endpoint.urgent
            }
            return outcome
        }
    }
}

// MARK: - shutdown

extension ReferenceModel {
    /// net/ipv4/af_inet.c: inet_shutdown. A listener shut down for reading stops listening (tcp_disconnect ->
    /// inet_csk_listen_stop resets the waiting connections); a socket in TCP_CLOSE says ENOTCONN (UDP
    /// sockets in the model are connected, so never); tcp_shutdown sends a FIN when writing is shut down.
    mutating func shutdownInet(_ id: EndpointID, _ endpoint: SocketEndpoint, receive: Bool, send: Bool) -> Outcome {
        if endpoint.listener != nil {
            if receive { stopListening(id) }
            return Outcome(result: 0)
        }
        if receive { endpoints[id]?.receiveShutdown = true }
        if send { endpoints[id]?.sendShutdown = true }
        // TCP_CLOSE: reset, or both FINs exchanged (tcp_done after TIME_WAIT for the side that closed first,
        // after LAST_ACK for the other); the flags are set all the same.
        if endpoint.family == .tcp && (endpoint.reset || Self.tcpFinishedOrderly(endpoint)) { return .failure(ENOTCONN) }
        if endpoint.family == .tcp, send, !endpoint.sendShutdown, let peer = endpoint.peer,
            let other = endpoints[peer], !other.closed, !other.reset
        {
            endpoints[peer]?.finReceived = true
        }
        return Outcome(result: 0)
    }

    /// A TCP listener that stops listening but stays open: like releasing it (its address is freed, its
    /// waiting connections are reset), then it is a socket in TCP_CLOSE (accept: EINVAL, shutdown: ENOTCONN).
    mutating func stopListening(_ id: EndpointID) {
        for description in releaseListener(id) { release(description) }
        endpoints[id]?.closed = false
        endpoints[id]?.listener = nil
        endpoints[id]?.reset = true
        endpoints[id]?.stoppedListening = true
    }

    /// A TCP connection whose own FIN went out (shutdown for writing) and whose peer's FIN came in: on loopback
    /// each FIN is acknowledged at once, so the socket is in TCP_CLOSE (tcp_time_wait or LAST_ACK, then tcp_done).
    static func tcpFinishedOrderly(_ endpoint: SocketEndpoint) -> Bool {
        endpoint.family == .tcp && endpoint.sendShutdown && endpoint.finReceived
    }
}

