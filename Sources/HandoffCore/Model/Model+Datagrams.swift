#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Addressed AF_UNIX sockets (net/unix/af_unix.c): socket(2) alone, bind(2) of an existing socket, sendto(2)
// and recvfrom(2). A bound socket is in `bindings` under its path or abstract name; a datagram sent to an
// address goes to the socket bound there (unix_find_other), with its rights, and recvfrom reports the
// sender's address. The connected cases (socketpair, listen/connect/accept) are in Model+UnixSockets.swift.

extension ReferenceModel {
    // MARK: - socket

    /// net/socket.c: __sys_socket -> unix_create: an unbound, unconnected socket (state TCP_CLOSE).
    mutating func socket(_ process: String, type: SocketType, closeOnExec: Bool, nonBlocking: Bool) -> Outcome {
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let id = nextEndpoint.take()
        endpoints[id] = SocketEndpoint(type: type, peer: nil)
        endpoints[id]?.addressed = true
        endpoints[id]?.netns = netns[process, default: 0]
        return install(process, target: .socket(endpoint: id), access: .readWrite,
                       flags: nonBlocking ? [.nonblock] : [], closeOnExec: closeOnExec)
    }

    // MARK: - bind

    /// The address recvfrom reports for a socket bound to `address` (unix_copy_addr: the sun_path given).
    static func reportedAddress(_ address: SocketAddress) -> SenderAddress? {
        switch address {
        case .unix(let path): return .unix(path: path)
        case .abstract(let name): return .abstract(name: name)
        case .tcp: return nil
        }
    }

    /// The sockaddr length the agents pass for a unix address (offsetof(sun_path) + the name + its NUL).
    static func sockaddrLength(_ address: SocketAddress) -> Int {
        switch address {
        case .unix(let name), .abstract(let name): return Linux.sunPathOffset + name.utf8.count + 1
        case .tcp: return Linux.sockaddrInSize
        }
    }

    /// net/socket.c: __sys_bind -> unix_bind. unix_bind_bsd creates the path first (mknod: ENOENT, ENOTDIR,
    /// EEXIST reported as EADDRINUSE), then refuses a socket already bound (EINVAL, the new node unlinked);
    /// unix_bind_abstract refuses a bound socket (EINVAL) before a name in use (EADDRINUSE). An inet socket
    /// (inet_bind_sk) refuses a sockaddr_un: EINVAL when shorter than a sockaddr_in, else EAFNOSUPPORT.
    mutating func bind(_ process: String, socket: Int32, address rawAddress: SocketAddress) -> Outcome {
        let address = normalized(rawAddress)
        // The agents' own check: a name that does not fit sun_path never reaches the kernel.
        if let error = socketPreconditions(address, type: .dgram) { return .failure(error) }
        guard case let (_, desc)? = fdget(process, socket) else { return .failure(EBADF) }
        guard case .socket(let id) = desc.target, let endpoint = endpoints[id] else { return .failure(ENOTSOCK) }
        if endpoint.family != .unix {
            return .failure(ReferenceModel.sockaddrLength(address) < Linux.sockaddrInSize ? EINVAL : EAFNOSUPPORT)
        }
        let bound = endpoint.boundAddress != nil || endpoint.autobound || endpoint.listener != nil
        let key: BoundAddress
        // unix_bind_abstract looks in the socket's namespace, not the caller's.
        switch unixBindKey(address, type: endpoint.type, namespace: endpoint.netns, alreadyBound: bound) {
        case .failure(let error): return .failure(error.errno)
        case .success(let taken): key = taken
        }
        bindings[key] = id
        endpoints[id]?.binding = key
        endpoints[id]?.boundAddress = ReferenceModel.reportedAddress(address)
        return Outcome(result: 0)
    }

    /// unix_bind_bsd and unix_bind_abstract: the name a socket of `type` in network namespace `namespace`
    /// takes, or the errno. A path's node is made first (mknod: an existing name is EEXIST, reported as
    /// EADDRINUSE; the node stays even when the bind or a listen after it fails), then a socket that already
    /// has an address is refused (EINVAL); an abstract name refuses the bound socket before the name in use.
    /// A TCP address is no sockaddr_un (unix_validate_addr: EINVAL).
    mutating func unixBindKey(_ address: SocketAddress, type: SocketType, namespace: Int,
                              alreadyBound: Bool) -> Result<BoundAddress, AddressError> {
        switch address {
        case .unix(let path):
            // filename_create: the parent walk, then the last name: one that exists is EEXIST (EADDRINUSE);
            // with a trailing '/' nothing is created (ENOENT: "you've been asking for a directory").
            switch walk(path) {
            case .failure(let error): return .failure(error)
            case .success(.directory): return .failure(AddressError(EADDRINUSE))
            case .success(.name(let name, let trailingSlash)):
                if isNonDirectory(name) { return .failure(AddressError(EADDRINUSE)) }
                if trailingSlash { return .failure(AddressError(ENOENT)) }
                if alreadyBound { return .failure(AddressError(EINVAL)) }
                socketFiles.insert(name)
                return .success(.path(name))
            }
        case .abstract(let name):
            if alreadyBound { return .failure(AddressError(EINVAL)) }
            let key = abstractKey(name, type, in: namespace)
            return bindings[key] == nil ? .success(key) : .failure(AddressError(EADDRINUSE))
        case .tcp:
            return .failure(AddressError(EINVAL))
        }
    }

    /// A released socket's name is free again (unix_release_sock -> unix_remove_socket); a path's socket
    /// file stays.
    mutating func unbind(_ e: EndpointID) {
        guard let key = endpoints[e]?.binding else { return }
        if bindings[key] == e { bindings[key] = nil }
        endpoints[e]?.binding = nil
    }

    // MARK: - sendto

    /// unix_find_other: the socket bound to `address` for a sender of `type`. A missing path is ENOENT, a
    /// path that is not a live socket ECONNREFUSED (unix_find_bsd), a socket of another type EPROTOTYPE; an
    /// abstract name nobody holds (in the sender's type's hash) ECONNREFUSED.
    /// `namespace`: the sending or connecting socket's (unix_find_abstract looks in sock_net).
    func findOther(_ address: SocketAddress, type: SocketType, namespace: Int) -> Result<EndpointID, AddressError> {
        switch address {
        case .unix(let path):
            // unix_find_bsd: kern_path (Model+Paths.swift), then the socket bound there.
            let name: FileName
            switch existing(path) {
            case .failure(let error): return .failure(error)
            case .success(.directory): return .failure(AddressError(ECONNREFUSED))
            case .success(.name(let found, _)): name = found
            }
            guard let bound = bindings[.path(name)], let other = endpoints[bound], !other.closed else {
                return .failure(AddressError(ECONNREFUSED))
            }
            if other.type != type { return .failure(AddressError(EPROTOTYPE)) }
            return .success(bound)
        case .abstract(let name):
            guard let bound = bindings[abstractKey(name, type, in: namespace)] else {
                return .failure(AddressError(ECONNREFUSED))
            }
            return .success(bound)
        case .tcp:
            return .failure(AddressError(EINVAL))
        }
    }

    /// sendmsg(2) with msg_name (nil: a send on an addressed socket). net/unix/af_unix.c:
    /// - unix_stream_sendmsg: scm_send validates the descriptors, then an address is EISCONN on a connected
    ///   socket and EOPNOTSUPP otherwise; without one, an unconnected socket is ENOTCONN.
    /// - unix_seqpacket_sendmsg: a pending error, then ENOTCONN unless connected; the address is ignored.
    /// - unix_dgram_sendmsg (6.18): scm_send, MSG_OOB, autobind when SO_PASSCRED/SO_PASSPIDFD is on,
    ///   SEND_SHUTDOWN (EPIPE, in sock_alloc_send_pskb), the address (unix_find_other) or the peer (ENOTCONN;
    ///   6.12 and 6.1 look for the peer before the autobind and EPIPE: dgramShutdownFirst), then unix_may_send (EPERM: the receiver
    ///   is connected to another socket), a dead peer (ECONNREFUSED, disconnecting), RCV_SHUTDOWN (EPIPE),
    ///   SO_PASSRIGHTS (EPERM), and a receive
    ///   queue longer than max_dgram_qlen (EAGAIN, or the sender waits) unless the receiver is the sender or
    ///   connected to it.
    /// TCP ignores msg_name (tcp_sendmsg: a send); UDP refuses a sockaddr_un (udp_sendmsg: EINVAL when shorter
    /// than a sockaddr_in, else EAFNOSUPPORT).
    /// `flags` (a send on an addressed socket): MSG_OOB is EOPNOTSUPP after scm_send on dgram (and on a
    /// connected seqpacket, in send), and on a stream without a byte to make out-of-band, before the address
    /// and the connection are looked at (unix_stream_sendmsg).
    mutating func sendto(_ process: String, socket: Int32, address rawAddress: SocketAddress?, fds: [Int32],
                         data: [UInt8], flags: Set<SendFlag> = []) -> Outcome {
        let address = rawAddress.map(normalized)
        if let address, let error = socketPreconditions(address, type: .dgram) { return .failure(error) }
        let table = self[tableOf: process]
        guard case let (_, desc)? = fdget(process, socket) else { return .failure(EBADF) }
        guard case .socket(let id) = desc.target, let endpoint = endpoints[id] else { return .failure(ENOTSOCK) }
        switch endpoint.family {
        case .tcp: return send(process, socket: socket, fds: fds, data: data, flags: flags)
        case .udp:
            let length = address.map(ReferenceModel.sockaddrLength) ?? Linux.sockaddrInSize
            return .failure(length < Linux.sockaddrInSize ? EINVAL : EAFNOSUPPORT)
        case .unix: break
        }
        func validated() -> Result<[DescriptionID], AddressError> {
            if fds.count > ReferenceModel.scmMaxFD { return .failure(AddressError(EINVAL)) }
            var attached: [DescriptionID] = []
            for fd in fds {
                guard let e = table[fd] else { return .failure(AddressError(EBADF)) }
                attached.append(e.description)
            }
            return .success(attached)
        }
        switch endpoint.type {
        case .stream:
            if case .failure(let error) = validated() { return .failure(error.errno) }
            if flags.contains(.oob) && (data.isEmpty || !unixOOB) { return .failure(EOPNOTSUPP) }
            let connected = endpoint.peer != nil && endpoint.listener == nil
            if address != nil { return .failure(connected ? EISCONN : EOPNOTSUPP) }
            if !connected { return .failure(ENOTCONN) }
            return send(process, socket: socket, fds: fds, data: data, flags: flags)
        case .seqpacket:
            // The address is ignored (msg_namelen zeroed) once the socket is connected.
            if let error = seqpacketSendRefusal(id) { return .failure(error) }
            return send(process, socket: socket, fds: fds, data: data, flags: flags)
        case .dgram:
            break
        }
        let attached: [DescriptionID]
        switch validated() {
        case .failure(let error): return .failure(error.errno)
        case .success(let list): attached = list
        }
        if flags.contains(.oob) { return .failure(EOPNOTSUPP) }
        // Before 6.18's order (dgramShutdownFirst false), unix_peer_get came before the autobind and EPIPE.
        let unconnected = address == nil && (endpoint.peer == nil || endpoint.disconnected)
        if unconnected && !dgramShutdownFirst { return .failure(ENOTCONN) }
        autobindForCredentials(id)
        // sock_alloc_send_pskb: a socket shut down for sending is EPIPE before the receiver is looked up, and
        // (since the peer is read after it) before an unconnected socket's ENOTCONN.
        if endpoint.sendShutdown { return .failure(EPIPE) }
        if unconnected { return .failure(ENOTCONN) }
        let otherID: EndpointID
        if let address {
            switch findOther(address, type: endpoint.type, namespace: endpoint.netns) {
            case .failure(let error): return .failure(error.errno)
            case .success(let found): otherID = found
            }
        } else if let peer = endpoint.peer {
            otherID = peer
        } else {
            return .failure(ENOTCONN)
        }
        guard let other = endpoints[otherID] else { return .failure(ECONNREFUSED) }
        // unix_may_send: a receiver connected to another socket refuses; one whose send found its peer dead
        // was disconnected (unix_peer cleared) and takes anything again.
        if let otherPeer = other.peer, otherPeer != id, !other.closed, !other.disconnected { return .failure(EPERM) }
        if other.closed {
            // The connected peer died: disconnect and purge our own queue (unix_dgram_disconnected).
            if address == nil || endpoint.peer == otherID {
                endpoints[id]?.disconnected = true
                endpoints[id]?.queue = []
                for message in endpoint.queue {
                    for d in message.descriptions { release(d) }
                }
                return .failure(ECONNREFUSED)
            }
            return .failure(ECONNREFUSED)
        }
        if other.receiveShutdown { return .failure(EPIPE) }
        if !attached.isEmpty, !other.options.passRights { return .failure(EPERM) }
        if otherID != id, other.peer != id, other.queue.count > maxDgramQlen(inNamespace: other.netns) {
            return desc.nonBlocking ? .failure(EAGAIN) : Outcome(blocks: true)
        }
        // sock_alloc_send_pskb (Model+SendBuffer.swift): the kernel allocates the skb before it looks for the
        // receiver; the model asks the send buffer last (a full buffer and a refusing receiver together are
        // not told apart).
        let bounds = truesizeBounds(length: data.count, stream: false)
        if let (_, outcome) = sendBufferRefusal(id, [bounds], sizes: [data.count], dontWait: desc.nonBlocking) {
            return outcome
        }
        for d in attached { getFile(d) }
        let credentials = attachedCredentials(process, from: endpoints[id] ?? endpoint, to: otherID)
        var message = SocketMessage(data: data, descriptions: attached, sender: process, credentials: credentials,
                                    senderEndpoint: id)
        message.charge = SkbCharge(owner: id, lower: bounds.lower, upper: bounds.upper)
        endpoints[otherID]?.queue.append(message)
        return Outcome(result: Int64(data.count))
    }

    /// unix_dgram_sendmsg (datagram and seqpacket sends): SO_PASSCRED or SO_PASSPIDFD on an unbound socket
    /// autobinds it (unix_autobind) after scm_send and the MSG_OOB check, before anything else can fail: a
    /// send refused for a dead peer, a shutdown or no peer at all still leaves the socket bound.
    mutating func autobindForCredentials(_ id: EndpointID) {
        guard let endpoint = endpoints[id], endpoint.options.mayPassCredentials, endpoint.boundAddress == nil,
              !endpoint.autobound else { return }
        endpoints[id]?.autobound = true
    }

    // MARK: - recvfrom

    /// What recvfrom reports for a message: the sending socket's address now (unix_copy_addr of skb->sk; an
    /// unbound socket gives msg_namelen 0); nil when it was autobound to a name the model cannot know.
    func senderAddress(of message: SocketMessage, receiver: SocketEndpoint) -> SenderAddress? {
        guard let sender = message.senderEndpoint ?? receiver.peer, let socket = endpoints[sender] else { return nil }
        if socket.autobound { return nil }
        return socket.boundAddress ?? .unnamed
    }

    /// recvmsg(2) with msg_name: as recv, plus the sender's address (predicted for unix sockets only).
    mutating func recvfrom(_ process: String, socket: Int32, count: Int, room: Int, closeOnExec: Bool,
                           nonBlocking: Bool) -> Outcome {
        guard case let (_, desc)? = fdget(process, socket), case .socket(let id) = desc.target,
              let endpoint = endpoints[id], endpoint.family == .unix
        else {
            return recv(process, socket: socket, count: count, room: room, closeOnExec: closeOnExec,
                        nonBlocking: nonBlocking, viaRead: false)
        }
        let head = endpoint.queue.first
        var outcome = recv(process, socket: socket, count: count, room: room, closeOnExec: closeOnExec,
                           nonBlocking: nonBlocking, viaRead: false)
        guard outcome.errno == 0, !outcome.blocks else { return outcome }
        if let head, endpoint.type != .stream || count > 0 {
            outcome.from = senderAddress(of: head, receiver: endpoint)
        } else if head == nil {
            // End of file: no message, no address.
            outcome.from = .unnamed
        }
        return outcome
    }

    /// recvmsg on an addressed socket that is not connected: unix_stream_read_generic refuses (EINVAL: not
    /// established), unix_seqpacket_recvmsg too (ENOTCONN); unix_dgram_recvmsg takes the next datagram, or
    /// says end of file to a blocking reader after SHUT_RD, else EAGAIN or waits.
    mutating func receiveUnconnected(_ process: String, _ id: EndpointID, _ endpoint: SocketEndpoint, count: Int,
                                     room: Int, closeOnExec: Bool, dontWait: Bool, viaRead: Bool) -> Outcome {
        switch endpoint.type {
        case .stream: return .failure(EINVAL)
        case .seqpacket: return .failure(ENOTCONN)
        case .dgram: break
        }
        guard let message = endpoint.queue.first else {
            if endpoint.receiveShutdown && !dontWait { return Outcome(result: 0, data: [], messageFlags: viaRead ? nil : 0) }
            return dontWait ? .failure(EAGAIN) : Outcome(blocks: true)
        }
        endpoints[id]?.queue.removeFirst()
        let bytes = Array(message.data.prefix(max(0, count)))
        let flags: Int32 = message.data.count > count ? Linux.MSG_TRUNC : 0
        let control = receiveControl(process, receiver: endpoint.options, taken: message.descriptions,
                                     sender: message.credentials, stream: false,
                                     controlLength: viaRead ? 0 : ReferenceModel.controlLength(room: room, control: nil),
                                     closeOnExec: closeOnExec)
        var outcome = Outcome(result: Int64(bytes.count), fds: control.fds, data: bytes,
                              messageFlags: viaRead ? nil : flags | control.flags)
        outcome.credentials = viaRead ? nil : control.credentials
        return outcome
    }

    // MARK: - connect and poll

    /// unix_dgram_connect to a bound datagram socket: refused (EPERM) when that socket is connected to
    /// another (unix_may_send); the new socket's sends go there.
    mutating func connectDatagram(_ process: String, to target: EndpointID, flags: Set<StatusFlag>,
                                  closeOnExec: Bool) -> Outcome {
        guard let other = endpoints[target], !other.closed else { return .failure(ECONNREFUSED) }
        if other.peer != nil, !other.disconnected { return .failure(EPERM) }
        let id = nextEndpoint.take()
        endpoints[id] = SocketEndpoint(type: .dgram, peer: target)
        endpoints[id]?.addressed = true
        endpoints[id]?.netns = netns[process, default: 0]
        return install(process, target: .socket(endpoint: id), access: .readWrite, flags: flags,
                       closeOnExec: closeOnExec)
    }

    /// unix_poll and unix_dgram_poll for addressed sockets: an unconnected stream or seqpacket socket
    /// (TCP_CLOSE) reports POLLHUP; a datagram socket connected to a socket whose queue is over
    /// max_dgram_qlen is not writable (unix_dgram_poll's unix_recvq_full check).
    func addressedReadiness(_ endpoint: SocketEndpoint, _ mask: Int16) -> Int16 {
        var mask = mask
        guard let peer = endpoint.peer else {
            if endpoint.type != .dgram { mask |= Linux.POLLHUP }
            return mask
        }
        if endpoint.type == .dgram, let other = endpoints[peer], !other.closed, other.peer == nil,
           other.queue.count > maxDgramQlen(inNamespace: other.netns) {
            mask &= ~Linux.POLLOUT
        }
        return mask
    }
}
