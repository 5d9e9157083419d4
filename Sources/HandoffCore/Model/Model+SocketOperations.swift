// Socket operations applied to the model: the dispatch by operation, and the rules that belong to no
// one kernel object's file (ReferenceModel.apply dispatches here by family).

import Glibc
import HandoffProtocol

extension ReferenceModel {
    mutating func apply(sockets operation: SocketOperation<ResolvedNaming>, by process: String) -> Outcome {
        switch operation {
        case let .shutdown(socket, how):
            return shutdown(process, socket: socket, how: how)
        case let .setsockopt(socket, option, value):
            return setsockopt(process, socket: socket, option: option, value: value)
        case let .getsockopt(socket, option):
            return getsockopt(process, socket: socket, option: option)
        case let .socketpair(type, closeOnExec, nonBlocking):
            return socketpair(process, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .listen(address, type, closeOnExec, nonBlocking, backlog):
            return listen(process, address: address, type: type, closeOnExec: closeOnExec,
                          nonBlocking: nonBlocking, backlog: backlog)
        case let .connect(address, type, closeOnExec, nonBlocking):
            return connect(process, address: address, type: type, closeOnExec: closeOnExec,
                           nonBlocking: nonBlocking)
        case let .accept(socket, closeOnExec, nonBlocking):
            return accept(process, socket: socket, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .unixGC:
            return unixGC(process)
        case .unshareNet:
            return unshareNet(process)
        case let .socket(type, closeOnExec, nonBlocking):
            return socket(process, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .bind(socket, address):
            return bind(process, socket: socket, address: address)
        case let .sendto(socket, address, fds, data):
            return sendto(process, socket: socket, address: address, fds: fds, data: data)
        case let .recvfrom(socket, count, room, closeOnExec, nonBlocking):
            return recvfrom(process, socket: socket, count: count, room: room, closeOnExec: closeOnExec,
                            nonBlocking: nonBlocking)
        }
    }

    /// shutdown(2): net/socket.c __sys_shutdown_sock, then the protocol's: unix_shutdown always succeeds and,
    /// on a connected stream or seqpacket socket, shuts the peer's opposite direction too; inet_shutdown
    /// (TCP and UDP) in Model+InetSockets.swift (shutdownInet).
    mutating func shutdown(_ process: String, socket: Int32, how raw: Int32) -> Outcome {
        guard case let (_, desc)? = fdget(process, socket) else { return .failure(EBADF) }
        guard case .socket(let id) = desc.target, let endpoint = endpoints[id] else { return .failure(ENOTSOCK) }
        // unix_shutdown and inet_shutdown both refuse a mode past SHUT_RDWR, or negative, first (EINVAL):
        // before a TCP socket's ENOTCONN.
        guard let how = ShutdownHow(linux: raw) else { return .failure(EINVAL) }
        let receive = how != .write
        let send = how != .read
        if endpoint.family != .unix { return shutdownInet(id, endpoint, receive: receive, send: send) }
        if receive { endpoints[id]?.receiveShutdown = true }
        if send { endpoints[id]?.sendShutdown = true }
        // unix_shutdown: sk->sk_state_change(sk), and other->sk_state_change(other) for a stream or seqpacket
        // peer - wake-ups with no key, whatever was shut down before.
        wake(.socket(id), key: 0)
        if endpoint.type != .dgram, endpoint.listener == nil, let peer = endpoint.peer, endpoints[peer]?.closed == false {
            if receive { endpoints[peer]?.sendShutdown = true }
            if send { endpoints[peer]?.receiveShutdown = true }
            wake(.socket(peer), key: 0)
        }
        return Outcome(result: 0)
    }

    /// The descriptor it needs a full (non-O_PATH) file for, which ReferenceModel.apply checks first (EBADF);
    /// nil when it takes none or checks O_PATH in its own rule, in the kernel's order.
    func fullFile(_ operation: SocketOperation<ResolvedNaming>) -> Int32? {
        switch operation {
        case .accept(let fd, _, _), .shutdown(let fd, _), .setsockopt(let fd, _, _), .getsockopt(let fd, _),
             .bind(let fd, _), .sendto(let fd, _, _, _), .recvfrom(let fd, _, _, _, _):
            return fd
        case .socketpair, .socket, .listen, .connect, .unixGC, .unshareNet: return nil
        }
    }
}
