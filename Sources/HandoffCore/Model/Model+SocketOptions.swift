#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HandoffProtocol

// SOL_SOCKET options (net/core/sock.c: sk_setsockopt, sk_getsockopt; net/unix/af_unix.c) and what they do
// to AF_UNIX messages: SO_PASSCRED and SO_PASSPIDFD attach the sender's credentials (unix_maybe_add_creds)
// and deliver them as SCM_CREDENTIALS and SCM_PIDFD (scm_recv_unix); SO_PASSRIGHTS off refuses SCM_RIGHTS
// (the sender gets EPERM). The options live on the socket (SocketEndpoint), so they travel with dup,
// fork and SCM_RIGHTS. Checked on 6.18 with standalone C programs first.

/// The ids a socket reports, as the agents' user namespace sees them (from_kuid_munged): their own (the
/// runner's: no operation changes them), the initial namespace's root (a zeroed scm_cookie's kuid 0), and
/// the overflow ids an unmapped id becomes (INVALID_UID of a message queued without credentials).
public struct SocketIDs: Equatable, Sendable {
    public var uid = UInt32(getuid())
    public var gid = UInt32(getgid())
    public var rootUID: UInt32 = 0
    public var rootGID: UInt32 = 0
    public var overflowUID = Linux.overflowID
    public var overflowGID = Linux.overflowID

    public init() {}
}

extension ReferenceModel {
    /// What SO_PEERCRED reports for a socket without peer credentials: pid 0 and (uid_t)-1 / (gid_t)-1
    /// (cred_to_ucred of no cred).
    static let noCredentialsID = UInt32.max

    /// A process's credentials as a socket reports them.
    func credentials(of process: String?) -> NamedCredentials {
        guard let process else {
            return NamedCredentials(process: NamedCredentials.noProcess, uid: ReferenceModel.noCredentialsID,
                                    gid: ReferenceModel.noCredentialsID)
        }
        return NamedCredentials(process: process, uid: socketIDs.uid, gid: socketIDs.gid)
    }

    /// The socket behind a descriptor: EBADF, then ENOTSOCK (sockfd_lookup).
    func socketEndpoint(_ process: String, _ fd: Int32) -> Result<(EndpointID, SocketEndpoint), AddressError> {
        guard case let (_, desc)? = fdget(process, fd) else { return .failure(AddressError(EBADF)) }
        guard case .socket(let id) = desc.target, let endpoint = endpoints[id] else {
            return .failure(AddressError(ENOTSOCK))
        }
        return .success((id, endpoint))
    }

    /// net/socket.c: __sys_setsockopt -> sk_setsockopt. SO_PASSCRED, SO_PASSPIDFD and SO_PASSRIGHTS take
    /// any int as a boolean, but only on AF_UNIX (sk_may_scm_recv, 6.16: EOPNOTSUPP on TCP and UDP);
    /// SO_PEEK_OFF stores any int (sk_set_peek_off, unix_set_peek_off); read-only options are ENOPROTOOPT.
    mutating func setsockopt(_ process: String, socket: Int32, option: SocketOption, value: Int32) -> Outcome {
        let id: EndpointID
        let endpoint: SocketEndpoint
        switch socketEndpoint(process, socket) {
        case .failure(let error): return .failure(error.errno)
        case .success(let found): (id, endpoint) = found
        }
        let on = value != 0
        switch option {
        case .passcred, .passpidfd, .passrights:
            if endpoint.family != .unix && passOptionsSince616 { return .failure(EOPNOTSUPP) }
            switch option {
            case .passcred: endpoints[id]?.options.passCredentials = on
            case .passpidfd: endpoints[id]?.options.passPidfd = on
            default: endpoints[id]?.options.passRights = on
            }
        case .peekOff:
            // TCP takes SO_PEEK_OFF since 6.9 (inet_stream_ops.set_peek_off; EOPNOTSUPP before: probed).
            if endpoint.family == .tcp && !tcpPeekOffset { return .failure(EOPNOTSUPP) }
            endpoints[id]?.options.peekOffset = value
        case .inq:
            // unix_setsockopt: AF_UNIX stream sockets only (listeners too), and only 0 or 1.
            guard endpoint.family == .unix, endpoint.type == .stream else { return .failure(ENOPROTOOPT) }
            guard value == 0 || value == 1 else { return .failure(EINVAL) }
            endpoints[id]?.options.queueLength = on
        case .error, .type, .domain, .acceptconn, .peercred, .peerpidfd:
            return .failure(ENOPROTOOPT)
        }
        return Outcome(result: 0)
    }

    /// net/socket.c: __sys_getsockopt -> sk_getsockopt. The result is the option's value: SO_ERROR reads
    /// and clears the pending error (sock_error); SO_PEERCRED's struct ucred comes as credentials (result
    /// 0); SO_PEERPIDFD installs a close-on-exec pidfd of the peer's process (pidfd_prepare, ENODATA without
    /// a peer pid).
    mutating func getsockopt(_ process: String, socket: Int32, option: SocketOption) -> Outcome {
        let id: EndpointID
        let endpoint: SocketEndpoint
        switch socketEndpoint(process, socket) {
        case .failure(let error): return .failure(error.errno)
        case .success(let found): (id, endpoint) = found
        }
        func flag(_ value: Bool) -> Outcome {
            endpoint.family == .unix || !passOptionsSince616 ? Outcome(result: value ? 1 : 0) : .failure(EOPNOTSUPP)
        }
        switch option {
        case .passcred: return flag(endpoint.options.passCredentials)
        case .passpidfd: return flag(endpoint.options.passPidfd)
        case .passrights: return flag(endpoint.options.passRights)
        case .peekOff:
            if endpoint.family == .tcp && !tcpPeekOffset { return .failure(EOPNOTSUPP) }
            return Outcome(result: Int64(endpoint.options.peekOffset))
        case .inq: return .failure(ENOPROTOOPT)
        case .error:
            endpoints[id]?.pendingError = nil
            return Outcome(result: Int64(endpoint.pendingError ?? 0))
        case .type: return Outcome(result: Int64(endpoint.type.linux))
        case .domain: return Outcome(result: Int64(endpoint.family == .unix ? Linux.AF_UNIX : Linux.AF_INET))
        case .acceptconn: return Outcome(result: endpoint.listener != nil ? 1 : 0)
        case .peercred:
            var outcome = Outcome(result: 0)
            outcome.credentials = credentials(of: endpoint.family == .unix ? endpoint.peerCredentials : nil)
            return outcome
        case .peerpidfd:
            guard endpoint.family == .unix, let peer = endpoint.peerCredentials else { return .failure(ENODATA) }
            return install(process, target: .pidfd(process: peer), access: .readWrite, flags: [], closeOnExec: true)
        }
    }

    /// The SO_PASS* switches a new connection takes from its listener (SO_PEEK_OFF and SO_INQ stay).
    mutating func inheritPassOptions(_ connection: EndpointID, from listener: SocketOptions) {
        endpoints[connection]?.options.passCredentials = listener.passCredentials
        endpoints[connection]?.options.passPidfd = listener.passPidfd
        endpoints[connection]?.options.passRights = listener.passRights
    }

    // MARK: - Credentials on messages

    /// unix_maybe_add_creds: a message carries the sender's credentials when the sending or the receiving
    /// socket has SO_PASSCRED or SO_PASSPIDFD, or the receiver is a connection not accepted yet.
    func attachedCredentials(_ process: String, from sender: SocketEndpoint, to receiver: EndpointID) -> String? {
        guard let other = endpoints[receiver] else { return nil }
        let embryo = endpoints.values.contains { $0.listener?.waiting.contains(receiver) ?? false }
        return sender.options.mayPassCredentials || other.options.mayPassCredentials || embryo ? process : nil
    }

    /// The control messages a recvmsg gets, in the kernel's order (scm_recv_unix): SCM_CREDENTIALS with
    /// SO_PASSCRED (put_cmsg, truncated when it does not fit), SCM_RIGHTS (scm_detach_fds: as many as fit
    /// below RLIMIT_NOFILE), then SCM_PIDFD with SO_PASSPIDFD (scm_pidfd_recv: always close-on-exec, none for
    /// a message queued without credentials). No control buffer (room 0) takes nothing and sets MSG_CTRUNC
    /// when anything was there. `controlLength` is msg_controllen in bytes (Model+MessageFlags.swift:
    /// CMSG_SPACE of `room` descriptors, or `control` exactly). Returns the installed numbers, the flags and the credentials received.
    /// `sender` is the process whose credentials the message carries (nil: none attached); `endOfFile`: a
    /// stream read that found nothing still runs scm_recv_unix, with a zeroed scm_cookie (pid 0, uid and
    /// gid 0).
    /// A stream socket with SO_INQ then gets SCM_INQ (unix_stream_read_generic, after scm_recv_unix).
    mutating func receiveControl(_ process: String, receiver: SocketOptions, taken: [DescriptionID],
                                 sender: String?, endOfFile: Bool = false, stream: Bool, controlLength: Int,
                                 closeOnExec: Bool)
        -> (fds: [Int32], flags: Int32, credentials: NamedCredentials?)
    {
        var flags: Int32 = 0
        let queueLength = stream && receiver.queueLength
        guard controlLength > 0 else {
            if !taken.isEmpty || receiver.mayPassCredentials || queueLength { flags |= Linux.MSG_CTRUNC }
            for d in taken { release(d) }
            return ([], flags, nil)
        }
        let header = Linux.cmsghdrSize
        func space(_ length: Int) -> Int { header + (length + 7) / 8 * 8 }
        var left = controlLength
        var received: NamedCredentials?
        if receiver.passCredentials {
            // put_cmsg: a header that does not fit is nothing; a payload that does not fit is cut (MSG_CTRUNC).
            if left < header + Linux.ucredSize { flags |= Linux.MSG_CTRUNC }
            if left >= header + Linux.ucredSize {
                // A message queued without credentials has INVALID_UID (the overflow ids); end of file a
                // zeroed cookie (the initial namespace's root).
                let uid = endOfFile ? socketIDs.rootUID : socketIDs.overflowUID
                let gid = endOfFile ? socketIDs.rootGID : socketIDs.overflowGID
                received = sender.map(self.credentials(of:)) ?? NamedCredentials(
                    process: NamedCredentials.noProcess, uid: uid, gid: gid)
            }
            if left >= header { left -= min(space(Linux.ucredSize), left) }
        }
        var installed: [Int32] = []
        if !taken.isEmpty {
            let capacity = left <= header ? 0 : (left - header) / 4
            for d in taken {
                guard installed.count < capacity, let n = lowestFree(process, from: 0) else { break }
                // The in-flight reference becomes the table's reference.
                self[tableOf: process][n] = TableEntry(description: d, closeOnExec: closeOnExec)
                installed.append(n)
            }
            if installed.count < taken.count {
                flags |= Linux.MSG_CTRUNC
                for d in taken[installed.count...] { release(d) }
            }
            if !installed.isEmpty { left -= min(space(4 * installed.count), left) }
        }
        if receiver.passPidfd {
            if left < header + 4 {
                flags |= Linux.MSG_CTRUNC
            } else if let sender {
                // Without a free number the message carries the negative errno instead of a descriptor.
                if let n = lowestFree(process, from: 0) {
                    let id = newDescription(.pidfd(process: sender), access: .readWrite, flags: [], offset: nil)
                    place(process, number: n, description: id, closeOnExec: true)
                    installed.append(n)
                }
                left -= min(space(4), left)
            }
        }
        // put_cmsg of SCM_INQ's int: cut (MSG_CTRUNC) when it does not fit whole.
        if queueLength, left < header + 4 { flags |= Linux.MSG_CTRUNC }
        return (installed, flags, received)
    }
}
