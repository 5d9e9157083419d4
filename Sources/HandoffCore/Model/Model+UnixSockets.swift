#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// AF_UNIX sockets (net/unix/af_unix.c, net/core/scm.c): socketpair, SCM_RIGHTS send and receive (queues,
// in-flight references, MSG_CTRUNC), and socket + bind + listen, connect and accept as the agent's shim does
// them. The TCP and UDP halves of those calls are in Model+InetSockets.swift.

extension ReferenceModel {
    // MARK: - socketpair

    /// net/socket.c: __sys_socketpair - both numbers first (EMFILE), then unix_socketpair links the two ends.
    mutating func socketpair(_ process: String, type: SocketType, closeOnExec: Bool, nonBlocking: Bool) -> Outcome {
        guard let numbers = lowestFree(process, count: 2) else { return .failure(EMFILE) }
        let a = nextEndpoint.take()
        let b = nextEndpoint.take()
        endpoints[a] = SocketEndpoint(type: type, peer: b)
        endpoints[b] = SocketEndpoint(type: type, peer: a)
        endpoints[a]?.netns = netns[process, default: 0]
        endpoints[b]?.netns = netns[process, default: 0]
        // unix_socketpair: init_peercred on both ends (the creator's credentials).
        endpoints[a]?.peerCredentials = process
        endpoints[b]?.peerCredentials = process
        return installPair(process, at: numbers, (.socket(endpoint: a), .readWrite), (.socket(endpoint: b), .readWrite),
                           closeOnExec: closeOnExec, nonBlocking: nonBlocking)
    }

    // MARK: - SCM_RIGHTS

    /// unix_stream_sendmsg, unix_seqpacket_sendmsg and unix_dgram_sendmsg, with scm_send (__scm_send,
    /// scm_fp_copy) validating the descriptors; each listed descriptor becomes an in-flight reference.
    /// MSG_OOB (`flags`): Model+OutOfBand.swift.
    mutating func send(_ process: String, socket: Int32, fds: [Int32], data: [UInt8],
                       flags: Set<SendFlag> = []) -> Outcome {
        let table = self[tableOf: process]
        guard case let (_, desc)? = fdget(process, socket) else { return .failure(EBADF) }
        guard case .socket(let endpointID) = desc.target, let endpoint = endpoints[endpointID] else {
            return .failure(ENOTSOCK)
        }
        if endpoint.family != .unix {
            return sendInet(endpointID, endpoint, data: data, flags: flags)
        }
        if let error = seqpacketSendRefusal(endpointID) { return .failure(error) }
        if endpoint.addressed { return sendto(process, socket: socket, address: nil, fds: fds, data: data, flags: flags) }
        if endpoint.listener != nil {
            // A listening stream socket has no peer, but validates the descriptors (scm_send) first.
            if fds.count > ReferenceModel.scmMaxFD { return .failure(EINVAL) }
            if fds.contains(where: { table[$0] == nil }) { return .failure(EBADF) }
            // unix_stream_sendmsg: MSG_OOB without a byte (or without CONFIG_AF_UNIX_OOB) before ENOTCONN.
            if flags.contains(.oob) && (data.isEmpty || !unixOOB) { return .failure(EOPNOTSUPP) }
            return .failure(ENOTCONN)
        }
        // scm_send: the descriptor list is validated before the peer is looked at.
        if fds.count > ReferenceModel.scmMaxFD { return .failure(EINVAL) }
        var attached: [DescriptionID] = []
        for fd in fds {
            guard let e = table[fd] else { return .failure(EBADF) }
            attached.append(e.description)
        }
        // After scm_send: MSG_OOB is EOPNOTSUPP on dgram and seqpacket (unix_dgram_sendmsg), and on a stream
        // without a byte to make out-of-band or without CONFIG_AF_UNIX_OOB (unix_stream_sendmsg).
        if flags.contains(.oob) && (endpoint.type != .stream || data.isEmpty || !unixOOB) {
            return .failure(EOPNOTSUPP)
        }
        // unix_dgram_sendmsg (seqpacket sends too): the autobind comes before the peer is looked at (on
        // kernels that look first, a datagram socket whose peer was cleared is ENOTCONN before it).
        if endpoint.type == .dgram, endpoint.disconnected, !dgramShutdownFirst { return .failure(ENOTCONN) }
        if endpoint.type != .stream { autobindForCredentials(endpointID) }
        // A connected unix socket always has its peer (unix_peer); only a listener has none.
        guard let peerID = endpoint.peer, let peerClosed = endpoints[peerID]?.closed else {
            return .failure(ENOTCONN)
        }
        // SEND_SHUTDOWN (our shutdown(SHUT_WR), or a stream/seqpacket peer's SHUT_RD mirrored by unix_shutdown).
        if endpoint.sendShutdown { return .failure(EPIPE) }
        switch endpoint.type {
        case .stream:
            if peerClosed { return .failure(EPIPE) }
            // A zero-length stream send queues nothing; the descriptors are dropped.
            if data.isEmpty { return Outcome(result: 0) }
        case .seqpacket:
            if peerClosed { return .failure(EPIPE) }
        case .dgram:
            if endpoint.disconnected { return .failure(ENOTCONN) }
            if peerClosed {
                // The first send after the peer died disconnects and purges our own receive queue
                // (unix_dgram_disconnected).
                endpoints[endpointID]?.disconnected = true
                endpoints[endpointID]?.queue = []
                for message in endpoint.queue {
                    for d in message.descriptions { release(d) }
                }
                return .failure(ECONNREFUSED)
            }
            // unix_dgram_sendmsg: a peer that shut down reading takes nothing (EPIPE).
            if endpoints[peerID]?.receiveShutdown == true { return .failure(EPIPE) }
        }
        // SO_PASSRIGHTS off on the receiving socket refuses descriptors (6.16; after the peer checks above).
        if !attached.isEmpty, endpoints[peerID]?.options.passRights == false { return .failure(EPERM) }
        // The skbs of the send (Model+SendBuffer.swift): a stream send is cut into skbs of streamSkbLimit bytes
        // (a MSG_OOB send's last byte in one of its own, queue_oob); dgram and seqpacket send one. Each is
        // charged to this socket's send buffer, which may refuse them (sock_alloc_send_pskb). For dgram the
        // kernel allocates before it looks at the peer; the model asks after the peer checks above.
        let stream = endpoint.type == .stream
        let outOfBand = flags.contains(.oob)
        var sizes = stream ? streamSkbSizes(outOfBand ? data.count - 1 : data.count) : [data.count]
        if outOfBand { sizes.append(1) }
        let bounds = sizes.map { truesizeBounds(length: $0, stream: stream) }
        var allocated = sizes.count
        var partial: Outcome?
        if let (count, outcome) = sendBufferRefusal(endpointID, bounds, sizes: sizes,
                                                    dontWait: desc.nonBlocking) {
            if count == 0 { return outcome }
            (allocated, partial) = (count, outcome)
        }
        for d in attached { getFile(d) }
        let credentials = attachedCredentials(process, from: endpoint, to: peerID)
        var messages: [SocketMessage] = []
        var offset = 0
        for (index, size) in sizes.prefix(allocated).enumerated() {
            // unix_scm_to_skb(&scm, skb, !fds_sent): the descriptors on the first skb, credentials on every one.
            var message = SocketMessage(data: Array(data[offset..<(offset + size)]),
                                        descriptions: index == 0 ? attached : [], sender: process,
                                        credentials: credentials)
            message.charge = SkbCharge(owner: endpointID, lower: bounds[index].lower, upper: bounds[index].upper)
            messages.append(message)
            offset += size
        }
        if outOfBand, allocated == sizes.count, let byte = messages.popLast() {
            endpoints[peerID]?.queue += messages
            queueUnixOutOfBand(to: peerID, byte: byte)
        } else {
            endpoints[peerID]?.queue += messages
        }
        return partial ?? Outcome(result: Int64(data.count))
    }

    /// unix_seqpacket_sendmsg, before unix_dgram_sendmsg's scm_send reads anything the caller passed: a
    /// pending socket error (reported and cleared), then ENOTCONN unless connected (a listener, or a socket
    /// socket(2) made). nil for other sockets and a connected seqpacket one. Every seqpacket send - send,
    /// sendto, send_headers - asks here first.
    mutating func seqpacketSendRefusal(_ id: EndpointID) -> Int32? {
        guard let endpoint = endpoints[id], endpoint.family == .unix, endpoint.type == .seqpacket else { return nil }
        if let error = endpoint.pendingError {
            endpoints[id]?.pendingError = nil
            return error
        }
        return endpoint.listener == nil && endpoint.peer != nil ? nil : ENOTCONN
    }

    /// CMSG_SPACE(room * sizeof(int)) bytes of control buffer hold this many descriptors on x86_64.
    static func capacity(room: Int) -> Int {
        guard room > 0 else { return 0 }
        let payload = 4 * room
        return ((payload + 7) / 8 * 8) / 4
    }

    /// unix_stream_read_generic, unix_seqpacket_recvmsg and unix_dgram_recvmsg; scm_recv -> scm_detach_fds
    /// installs what the control buffer has room for (below RLIMIT_NOFILE) and sets MSG_CTRUNC for the rest.
    /// `flags` and `control` (MSG_PEEK, MSG_TRUNC, MSG_WAITALL; an exact control buffer) follow the rules in
    /// Model+MessageFlags.swift.
    mutating func recv(_ process: String, socket: Int32, count: Int, room: Int, closeOnExec: Bool,
                       nonBlocking: Bool, viaRead: Bool, flags messageFlags: Set<MessageFlag> = [],
                       control: Int? = nil) -> Outcome {
        guard case let (_, desc)? = fdget(process, socket) else { return .failure(EBADF) }
        guard case .socket(let endpointID) = desc.target, let endpoint = endpoints[endpointID] else {
            return .failure(ENOTSOCK)
        }
        let dontWait = nonBlocking || desc.nonBlocking
        if endpoint.listener != nil {
            // unix_stream_read_generic: EINVAL unless established; unix_seqpacket_recvmsg and
            // tcp_recvmsg: ENOTCONN.
            return .failure(endpoint.type == .stream && endpoint.family == .unix ? EINVAL : ENOTCONN)
        }
        if endpoint.family != .unix {
            return recvInet(endpointID, endpoint, count: count, dontWait: dontWait, viaRead: viaRead,
                            flags: messageFlags)
        }
        if messageFlags.contains(.oob) {
            // An unconnected socket: unix_stream_read_generic's state check (EINVAL) and unix_seqpacket_recvmsg's
            // (ENOTCONN) come before MSG_OOB; unix_dgram_recvmsg refuses MSG_OOB first.
            if endpoint.addressed, endpoint.peer == nil, endpoint.type != .dgram {
                return .failure(endpoint.type == .stream ? EINVAL : ENOTCONN)
            }
            return unixReceiveOutOfBand(endpointID, endpoint, count: count, peek: messageFlags.contains(.peek))
        }
        if endpoint.addressed, endpoint.peer == nil {
            return receiveUnconnected(process, endpointID, endpoint, count: count, room: room, closeOnExec: closeOnExec,
                                      dontWait: dontWait, viaRead: viaRead)
        }
        guard let peerID = endpoint.peer, let peerClosed = endpoints[peerID]?.closed else {
            return .failure(ENOTCONN)
        }

        // seqpacket (skb datagram path) reports a pending error before looking at the queue.
        if endpoint.type == .seqpacket, let error = endpoint.pendingError {
            endpoints[endpointID]?.pendingError = nil
            return .failure(error)
        }
        // Nothing to read: the queue is empty (or, for a stream, holds nothing a read can copy).
        func nothingToRead() -> Outcome {
            // stream: the pending error comes before EOF and EAGAIN when nothing was copied.
            if endpoint.type == .stream, let error = endpoint.pendingError {
                endpoints[endpointID]?.pendingError = nil
                return .failure(error)
            }
            // End of file: the peer is gone, or RCV_SHUTDOWN (our SHUT_RD, or the peer's SHUT_WR mirrored). A
            // datagram socket says so only to a blocking reader (unix_dgram_recvmsg: EAGAIN otherwise); a
            // seqpacket one to both (it turns that EAGAIN into 0).
            if (peerClosed && endpoint.type != .dgram) || (endpoint.receiveShutdown && (endpoint.type != .dgram || !dontWait)) {
                // unix_stream_read_generic calls scm_recv_unix at end of file too (credentials of nobody: the
                // switches still take control room); the datagram paths return before it.
                guard endpoint.type == .stream, !viaRead else {
                    return Outcome(result: 0, data: [], messageFlags: viaRead ? nil : 0)
                }
                let control = receiveControl(process, receiver: endpoint.options, taken: [], sender: nil,
                                             endOfFile: true, stream: true,
                                             controlLength: ReferenceModel.controlLength(room: room, control: control),
                                             closeOnExec: closeOnExec)
                var outcome = Outcome(result: 0, fds: control.fds, data: [], messageFlags: control.flags)
                outcome.credentials = control.credentials
                return outcome
            }
            if dontWait { return .failure(EAGAIN) }
            return Outcome(blocks: true)
        }
        if endpoint.queue.isEmpty { return nothingToRead() }

        var queue = endpoint.queue
        var bytes: [UInt8] = []
        var taken: [DescriptionID] = []
        var flags: Int32 = 0
        var result: Int?
        var ranOut = false
        var dropped: [DescriptionID] = []
        var credentials: String?
        let peek = messageFlags.contains(.peek)
        // SO_PEEK_OFF: where a peek starts (sk_peek_offset: only with MSG_PEEK; -1, off, is 0).
        let skip = peek ? max(Int(endpoint.options.peekOffset), 0) : 0
        switch endpoint.type {
        case .dgram, .seqpacket:
            // __skb_try_recv_from_queue: a peek at an offset walks over whole datagrams the offset covers, and
            // over a zero-length one it has peeked before even at offset 0 (`_off || skb->peeked`).
            var offset = skip
            var index = 0
            while peek, endpoint.options.peekOffset >= 0, index < queue.count, offset >= queue[index].data.count,
                  offset > 0 || queue[index].peeked {
                offset -= queue[index].data.count
                index += 1
            }
            if index >= queue.count { return nothingToRead() }
            let message = peek ? queue[index] : queue.remove(at: index)
            // skb_set_peeked: what a peek returned is marked (only a zero-length datagram's mark matters).
            if peek, message.data.isEmpty { endpoints[endpointID]?.queue[index].peeked = true }
            let length = message.data.count - offset
            bytes = Array(message.data.dropFirst(offset).prefix(max(0, count)))
            if length > count { flags |= Linux.MSG_TRUNC }
            taken = message.descriptions
            credentials = message.credentials
            if messageFlags.contains(.trunc) { result = length }
            // sk_peek_offset_fwd by what a peek copied, sk_peek_offset_bwd by a read datagram's length.
            movePeekOffset(endpointID, endpoint, by: peek ? bytes.count : -message.data.count)
        case .stream:
            // unix_stream_read_generic: keep copying from consecutive messages until `count` bytes are read or
            // the queue is empty (with SO_PASSCRED or SO_PASSPIDFD, never across messages of other
            // credentials); a message's descriptors are taken with its first bytes and the read stops after
            // that message. Out-of-band bytes (manage_oob), MSG_PEEK and SO_PEEK_OFF: Model+OutOfBand.swift.
            let read = ReferenceModel.unixStreamRead(queue, count: count, peek: peek, skip: skip,
                                                     checkCredentials: endpoint.options.mayPassCredentials)
            if read.bytes.isEmpty && read.taken.isEmpty && read.ranOut {
                // What was there could not be read (an out-of-band byte dropped, emptied messages).
                // manage_oob unlinked them before the reader waits or fails: dropped either way.
                var outcome = nothingToRead()
                if !peek {
                    endpoints[endpointID]?.queue = read.queue
                    for d in read.dropped { release(d) }
                    if outcome.blocks { outcome.changedBeforeBlocking = true }
                }
                return outcome
            }
            (bytes, taken, queue, ranOut) = (read.bytes, read.taken, read.queue, read.ranOut)
            dropped = read.dropped
            credentials = read.credentials
            if streamWaitsForAll(endpointID, endpoint, flags: messageFlags, ranOut: ranOut, dontWait: dontWait,
                                 peerClosed: peerClosed) {
                // unix_stream_read_generic has taken (unlinked) what was queued and sleeps for the rest.
                var outcome = Outcome(blocks: true)
                if !bytes.isEmpty && !peek { outcome.doneBeforeBlocking = bytes.count }
                return outcome
            }
            movePeekOffset(endpointID, endpoint, by: peek ? bytes.count : -bytes.count)
        }
        if peek {
            // unix_peek_fds (scm_fp_dup): the message stays queued, its descriptors are new references.
            for d in taken { getFile(d) }
        } else {
            endpoints[endpointID]?.queue = queue
            for d in dropped { release(d) }
        }

        // scm_recv_unix fills the control buffer: CMSG_SPACE(room * sizeof(int)) bytes, or exactly `control`;
        // read(2) has none (like room 0).
        let control = receiveControl(process, receiver: endpoint.options, taken: taken, sender: credentials,
                                     stream: endpoint.type == .stream,
                                     controlLength: viaRead ? 0 : ReferenceModel.controlLength(room: room, control: control),
                                     closeOnExec: closeOnExec)
        var outcome = Outcome(result: Int64(result ?? bytes.count), fds: control.fds, data: bytes,
                              messageFlags: viaRead ? nil : flags | control.flags)
        outcome.credentials = viaRead ? nil : control.credentials
        return outcome
    }

    /// The last reference to a socket's description went away (sock_close -> the protocol's release).
    /// Returns the descriptions that were in flight in the purged queues.
    mutating func releaseSocket(_ e: EndpointID) -> [DescriptionID] {
        guard let endpoint = endpoints[e] else { return [] }
        unbind(e)
        if endpoint.listener != nil { return releaseListener(e) }
        switch endpoint.family {
        case .udp: return releaseUDP(e)
        case .tcp: return releaseTCP(e)
        case .unix: return releaseUnix(e)
        }
    }

    /// unix_release_sock: the receive queue is purged (its in-flight descriptions are returned); a stream or
    /// seqpacket peer of a socket closed with unread data gets ECONNRESET.
    mutating func releaseUnix(_ e: EndpointID) -> [DescriptionID] {
        var pending: [DescriptionID] = []
        guard var endpoint = endpoints[e] else { return [] }
        endpoint.closed = true
        // An unread zero-length record (descriptors or not) resets nothing: the peer reads end of file and
        // sends get EPIPE
        // (observed on 6.18 by `handoff fuzz`: scenarios/fuzz/seqpacket-empty-record.yaml).
        // Two or more seqpacket records reset it, empty or not (fuzz seed 21, --ops limited to send and recv:
        // scenarios/fuzz/seqpacket-two-empty-records.yaml). A stream's emptied out-of-band bytes (Model+OutOfBand)
        // are not unread data: only bytes reset it.
        let unread = endpoint.queue.contains { !$0.data.isEmpty } || (endpoint.type == .seqpacket && endpoint.queue.count > 1)
        for message in endpoint.queue { pending += message.descriptions }
        endpoint.queue = []
        endpoints[e] = endpoint
        if endpoint.type != .dgram, unread, let peer = endpoint.peer, endpoints[peer]?.closed == false {
            endpoints[peer]?.pendingError = ECONNRESET
        }
        return pending
    }
}

// MARK: - Sockets with addresses: listen, connect, accept

extension ReferenceModel {
    /// The shim refuses addresses that do not fit sun_path (108 bytes with the terminating or leading NUL).
    static let sunPathRoom = 108

    /// unix(path: "") is sun_path "" whose first byte is NUL: the kernel binds it as the abstract name "".
    func normalized(_ address: SocketAddress) -> SocketAddress {
        if case .unix(let path) = address, path.isEmpty { return .abstract(name: "") }
        return address
    }

    /// The errno of a failed address lookup or bind.
    struct AddressError: Error {
        var errno: Int32
        init(_ errno: Int32) { self.errno = errno }
    }


    /// The checks that come before a socket exists: the shim's address length, then socket(2) itself.
    func socketPreconditions(_ address: SocketAddress, type: SocketType) -> Int32? {
        switch address {
        case .unix(let name), .abstract(let name):
            if name.utf8.count + 1 > ReferenceModel.sunPathRoom { return ENAMETOOLONG }
        case .tcp:
            // inet_create finds no protocol for SOCK_SEQPACKET in inetsw (only SCTP registers one, and
            // protocol 0 does not load it): ESOCKTNOSUPPORT. If the sctp module happened to be loaded
            // already the kernel would create an SCTP socket instead (not modelled).
            if type == .seqpacket { return ESOCKTNOSUPPORT }
        }
        return nil
    }

    /// socket + bind + listen, as the agent's shim does them (on failure it closes the socket): net/socket.c
    /// __sys_socket, __sys_bind (unix_bind: unix_bind_bsd, unix_bind_abstract; __inet_bind), __sys_listen.
    mutating func listen(_ process: String, address rawAddress: SocketAddress, type: SocketType, closeOnExec: Bool,
                         nonBlocking: Bool, backlog: Int32) -> Outcome {
        let address = normalized(rawAddress)
        if let error = socketPreconditions(address, type: type) { return .failure(error) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        // bind(2)
        let bound: BoundAddress
        var family = SocketFamily.unix
        switch address {
        case .unix, .abstract:
            // A fresh socket: in the caller's namespace, never bound yet. A path's node stays even when listen
            // fails below.
            switch unixBindKey(address, type: type, namespace: namespace(of: process), alreadyBound: false) {
            case .failure(let error): return .failure(error.errno)
            case .success(let key): bound = key
            }
        case .tcp(let port):
            switch bindInet(process, port: port, type: type) {
            case .failure(let error): return .failure(error.errno)
            case .success(let (address, inetFamily)):
                bound = address
                family = inetFamily
            }
        }
        // listen(2): datagram sockets have no listen (sock_no_listen).
        if type == .dgram { return .failure(EOPNOTSUPP) }
        // __sys_listen clamps (unsigned)backlog to somaxconn, so a negative backlog means somaxconn.
        var effective = Int(backlog)
        let limit = somaxconn(inNamespace: netns[process, default: 0])
        if backlog < 0 || effective > limit { effective = limit }
        let id = nextEndpoint.take()
        endpoints[id] = SocketEndpoint(type: type, peer: nil, family: family,
                                       listener: ListenerState(address: bound, backlog: effective))
        endpoints[id]?.netns = netns[process, default: 0]
        // unix_listen: init_peercred (the listener's own credentials, which connecting clients copy).
        if family == .unix { endpoints[id]?.peerCredentials = process }
        if family == .unix { endpoints[id]?.boundAddress = ReferenceModel.reportedAddress(address) }
        if case .tcp(nil) = bound {} else { bindings[bound] = id }
        return install(process, target: .socket(endpoint: id), access: .readWrite,
                       flags: nonBlocking ? [.nonblock] : [], closeOnExec: closeOnExec)
    }

    /// socket + connect (blocking), then O_NONBLOCK if asked, as the agent's shim does it: unix_stream_connect
    /// (unix_find_other) or tcp_v4_connect, the connection waiting in the listener's accept queue. A connect
    /// woken from its wait goes on with the socket it made before it slept; when it fails, the shim closes that
    /// number - whatever a process sharing the table put there meanwhile.
    mutating func connect(_ process: String, address: SocketAddress, type: SocketType, closeOnExec: Bool,
                          nonBlocking: Bool) -> Outcome {
        let asleep = connectingSockets.removeValue(forKey: process)
        let outcome = connectSocket(process, address: address, type: type, closeOnExec: closeOnExec,
                                    nonBlocking: nonBlocking, asleep: asleep)
        if let asleep, !outcome.blocks {
            if outcome.errno != 0 { _ = close(process, fd: asleep) }
            returnFile(ofCallBy: process, number: asleep)
        }
        return outcome
    }

    private mutating func connectSocket(_ process: String, address rawAddress: SocketAddress, type: SocketType,
                                        closeOnExec: Bool, nonBlocking: Bool, asleep: Int32?) -> Outcome {
        let address = normalized(rawAddress)
        if let error = socketPreconditions(address, type: type) { return .failure(error) }
        guard asleep != nil || lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let flags: Set<StatusFlag> = nonBlocking ? [.nonblock] : []
        let listenerID: EndpointID
        switch address {
        case .unix, .abstract:
            // unix_find_other, as sendto looks: abstract names hash the socket type in, so a listener of
            // another type is simply not found.
            switch findOther(address, type: type, namespace: namespace(of: process)) {
            case .failure(let error): return .failure(error.errno)
            case .success(let bound): listenerID = bound
            }
        case .tcp(let port):
            // A new network namespace's loopback is down: no route to 127.0.0.1 (Model+Namespaces).
            if netns[process, default: 0] != 0 { return .failure(ENETUNREACH) }
            if type == .dgram { return connectUDP(process, flags: flags, closeOnExec: closeOnExec) }
            guard port != 0, let bound = bindings[.tcp(port)] else { return .failure(ECONNREFUSED) }
            listenerID = bound
        }
        // A bound datagram socket takes datagram connections (unix_dgram_connect).
        if type == .dgram, let target = endpoints[listenerID], target.family == .unix, target.listener == nil {
            return connectDatagram(process, to: listenerID, flags: flags, closeOnExec: closeOnExec)
        }
        // A binding always names a live listener; a dangling one is refused like an address nobody listens on.
        guard let listener = endpoints[listenerID], let state = listener.listener else {
            return .failure(ECONNREFUSED)
        }
        // unix_stream_connect: a listener that shut down reading refuses connections.
        if listener.family == .unix && listener.receiveShutdown { return .failure(ECONNREFUSED) }
        // A full accept queue (more waiting than the backlog: unix_recvq_full, sk_acceptq_is_full) makes a
        // blocking connect wait (unix) or retransmit its SYN (tcp) until an accept makes room.
        if state.waiting.count > state.backlog {
            if let asleep {
                connectingSockets[process] = asleep
                return Outcome(blocks: true)
            }
            // The socket exists before connect sleeps: in the table, unconnected, and kept by the call (fdget).
            let made = nextEndpoint.take()
            endpoints[made] = SocketEndpoint(type: type, peer: nil, family: listener.family)
            endpoints[made]?.netns = netns[process, default: 0]
            let socket = install(process, target: .socket(endpoint: made), access: .readWrite, flags: [], closeOnExec: closeOnExec)
            guard let number = socket.fds.first, let id = self[tableOf: process][number]?.description else { return socket }
            keepFile(ofCallBy: process, number: number, description: id)
            connectingSockets[process] = number
            var waits = Outcome(blocks: true)
            waits.changedBeforeBlocking = true
            return waits
        }
        let server = nextEndpoint.take()
        let client: EndpointID
        if let asleep, let kept = callFiles[process]?[asleep], case .socket(let made)? = descriptions[kept]?.target {
            client = made
            endpoints[client]?.peer = server
        } else {
            client = nextEndpoint.take()
            endpoints[client] = SocketEndpoint(type: type, peer: server, family: listener.family)
        }
        endpoints[server] = SocketEndpoint(type: type, peer: client, family: listener.family)
        // unix_stream_connect creates the server's end in the connecting socket's namespace.
        endpoints[client]?.netns = netns[process, default: 0]
        endpoints[server]?.netns = netns[process, default: 0]
        if listener.family == .unix {
            // unix_stream_connect: the client copies the listener's peer credentials (copy_peercred), the new
            // socket gets the connector's, and (6.16) inherits the listener's SO_PASS* switches.
            endpoints[client]?.peerCredentials = listener.peerCredentials
            endpoints[server]?.peerCredentials = process
            // unix_stream_connect: the new socket shares the listener's address (newu->addr).
            endpoints[server]?.boundAddress = listener.boundAddress
            if passOptionsSince616 { inheritPassOptions(server, from: listener.options) }
        }
        endpoints[listenerID]?.listener?.waiting.append(server)
        guard let asleep else {
            return install(process, target: .socket(endpoint: client), access: .readWrite, flags: flags, closeOnExec: closeOnExec)
        }
        // The shim's fcntl(F_SETFL, O_NONBLOCK) meets whatever is at the socket's number now.
        if nonBlocking, let entry = self[tableOf: process][asleep] {
            descriptions[entry.description]?.statusFlags.insert(.nonblock)
        }
        return Outcome(result: Int64(asleep), fds: [asleep])
    }

    /// accept4(2), net/socket.c: do_accept - EBADF, then the number (EMFILE), then ENOTSOCK, then the
    /// protocol's checks (unix_accept, inet_csk_accept).
    mutating func accept(_ process: String, socket: Int32, closeOnExec: Bool, nonBlocking: Bool) -> Outcome {
        guard case let (_, desc)? = fdget(process, socket) else { return .failure(EBADF) }
        // __sys_accept4_file reserves the number first (EMFILE before anything else), and an accept woken from
        // its sleep installs at the number it reserved then; put back (put_unused_fd) when it fails.
        let reserved = reservedByCalls.removeValue(forKey: process)
        guard let number = reserved ?? lowestFree(process, from: 0) else { return .failure(EMFILE) }
        guard case .socket(let e) = desc.target, let endpoint = endpoints[e] else { return .failure(ENOTSOCK) }
        // Datagram sockets have no accept (sock_no_accept); a stream or seqpacket socket must listen.
        if endpoint.type == .dgram { return .failure(EOPNOTSUPP) }
        guard let listener = endpoint.listener else { return .failure(EINVAL) }
        guard let server = listener.waiting.first else {
            // Waiting follows the listener's own O_NONBLOCK; accept4's SOCK_NONBLOCK is for the new socket.
            if desc.nonBlocking { return .failure(EAGAIN) }
            // A unix listener shut down for reading does not wait: __skb_wait_for_more_packets returns at once
            // without an error and unix_accept turns "no skb" into EINVAL; its shutdown also wakes an accept
            // already waiting (sk_state_change). Queued connections are still accepted (found porting LTP).
            if endpoint.family == .unix && endpoint.receiveShutdown { return .failure(EINVAL) }
            reservedByCalls[process] = number
            var sleeps = Outcome(blocks: true)
            sleeps.changedBeforeBlocking = reserved == nil  // the number stays reserved while it sleeps
            return sleeps
        }
        endpoints[e]?.listener?.waiting.removeFirst()
        // Before 6.16 unix_accept copied the listener's SO_PASS* switches (unix_sock_inherit_flags).
        if endpoint.family == .unix && !passOptionsSince616 { inheritPassOptions(server, from: endpoint.options) }
        return install(process, target: .socket(endpoint: server), access: .readWrite,
                       flags: nonBlocking ? [.nonblock] : [], closeOnExec: closeOnExec, at: number)
    }

    /// The last reference to a listening socket went away: its address is freed (a socket file stays) and
    /// every connection waiting in its accept queue is released; each client sees ECONNRESET
    /// (unix_release_sock with embrion set; inet_csk_listen_stop resets every child). Returns descriptions
    /// that were in flight in the waiting connections' queues.
    mutating func releaseListener(_ id: EndpointID) -> [DescriptionID] {
        guard var listener = endpoints[id], let state = listener.listener else { return [] }
        listener.closed = true
        listener.listener?.waiting = []
        endpoints[id] = listener
        if bindings[state.address] == id { bindings[state.address] = nil }
        var inFlight: [DescriptionID] = []
        for server in state.waiting {
            guard var embryo = endpoints[server] else { continue }
            embryo.closed = true
            for message in embryo.queue { inFlight += message.descriptions }
            embryo.queue = []
            endpoints[server] = embryo
            guard let client = embryo.peer, let peer = endpoints[client], !peer.closed else { continue }
            if listener.family == .tcp {
                // A client that already sent its FIN only has an orphan left: nothing to observe.
                if peer.reset { continue }
                endpoints[client]?.reset = true
            }
            endpoints[client]?.pendingError = ECONNRESET
        }
        return inFlight
    }
}
