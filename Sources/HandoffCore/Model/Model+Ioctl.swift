// ioctl(2) with the requests every file answers (fs/ioctl.c), and FIONREAD as each object answers it.

import Glibc
import HandoffProtocol

extension ReferenceModel {
    /// fs/ioctl.c: SYSCALL_DEFINE3(ioctl) takes the file with fdget, which refuses O_PATH (EBADF, checked
    /// before the rule: `fullFile`); do_vfs_ioctl then answers FIOCLEX and FIONCLEX (set_close_on_exec on
    /// the descriptor) and FIONBIO (ioctl_fionbio: O_NONBLOCK on the open file description, with no
    /// ->check_flags and no wake-up) for every file, and FIONREAD for regular files; the rest goes to the
    /// file's own ioctl (vfs_ioctl).
    mutating func ioctl(_ process: String, fd: Int32, request: IoctlRequest) -> Outcome {
        guard case let (entry, desc)? = fdget(process, fd) else { return .failure(EBADF) }
        switch request {
        case .fioclex, .fionclex:
            self[tableOf: process][fd]?.closeOnExec = request == .fioclex
            return Outcome(result: 0)
        case .fionbio(let on):
            if on {
                descriptions[entry.description]?.statusFlags.insert(.nonblock)
            } else {
                descriptions[entry.description]?.statusFlags.remove(.nonblock)
            }
            return Outcome(result: 0)
        case .fionread:
            return bytesToRead(desc)
        }
    }

    /// FIONREAD: the int each kind of file writes back.
    func bytesToRead(_ desc: OpenDescription) -> Outcome {
        switch desc.target {
        case .file, .memfd:
            // do_vfs_ioctl: `put_user(i_size_read(inode) - filp->f_pos, (int __user *)argp)` - an int, so a
            // position past the end gives a negative count, and the difference is cut to 32 bits.
            let size = Int64(contents(of: desc.target).count)
            return Outcome(result: Int64(Int32(truncatingIfNeeded: size &- (desc.offset ?? 0))))
        case .pipeRead, .pipeWrite, .pipeReadWrite:
            // fs/pipe.c: pipe_ioctl sums the lengths of the buffers in the ring, from either end.
            return Outcome(result: Int64(desc.target.pipe.flatMap { pipes[$0]?.available } ?? 0))
        case .socket(let endpointID):
            return socketBytesToRead(endpointID)
        case .inherited(let what):
            // /dev/null (null_fops) has no ioctl: vfs_ioctl's ENOTTY. The log is a regular file whose size the
            // runner's own writes change.
            if what.contains("/dev/null") { return .failure(ENOTTY) }
            return .beyondModel("FIONREAD of the agents' log: its size is the runner's, not the scenario's")
        case .epoll:
            // ep_eventpoll_ioctl (6.9) refuses requests it does not know with EINVAL; before, epoll had no ioctl.
            return .failure(epollIoctl ? EINVAL : ENOTTY)
        case .anonymous(.inotify):
            // fs/notify/inotify/inotify_user.c: inotify_ioctl sums the queued events; without watches, none.
            return Outcome(result: 0)
        case .pidfd where pidfdsReopen:
            // A pidfd on pidfs (6.9) has a regular inode: 6.12's do_vfs_ioctl answers i_size - f_pos, 0, while
            // 6.18 passes it to pidfd_ioctl (ENOTTY). Found running the catalog on Debian's 6.12.
            return .beyondModel("FIONREAD of a pidfd on pidfs: 0 on 6.12 (a regular inode to do_vfs_ioctl), ENOTTY on 6.18")
        case .eventfd, .pidfd, .anonymous(.signalfd), .anonymous(.timerfd):
            // No ioctl of their own for FIONREAD (timerfd's knows only TFD_IOC_SET_TICKS), and not regular files to
            // do_vfs_ioctl (anon_inode_getfile): ENOTTY.
            return .failure(ENOTTY)
        }
    }

    /// net/unix/af_unix.c: unix_ioctl SIOCINQ (FIONREAD) -> unix_inq_len: EINVAL on a listening socket; a
    /// stream or seqpacket socket sums what is left of every skb in its receive queue (unix_skb_len, the
    /// out-of-band byte's skb included until it is read), a datagram socket reports its first datagram's
    /// length (0 when none, or when it is empty).
    /// From 6.17 the stream count is cached (u->inq_len, for SO_INQ), and manage_oob does not lower it when a
    /// read drops an unread out-of-band skb: the kernel then reports a byte too many, which the model (the
    /// sum, as 6.1 and 6.12 compute it) shows as a finding (divergences/kernel/unix-oob-dropped-fionread.yaml).
    ///
    /// net/ipv4/tcp.c: tcp_ioctl SIOCINQ -> tcp_inq: EINVAL on a listener; otherwise rcv_nxt - copied_seq (the
    /// bytes not yet read, a received FIN not counted), except that with an urgent byte still ahead of the
    /// reader and not inline (no SO_OOBINLINE in the model) it is urg_seq - copied_seq: the bytes before the
    /// urgent byte, whether recv(MSG_OOB) took it already or not (urg_data stays set, TCP_URG_READ), so 0 when
    /// it is the next byte. net/ipv4/udp.c: udp_ioctl SIOCINQ -> first_packet_length: the first datagram's
    /// length, 0 when none (the model's UDP sockets never receive: nothing listens on UDP there).
    func socketBytesToRead(_ endpointID: EndpointID) -> Outcome {
        guard let endpoint = endpoints[endpointID] else { return .failure(EBADF) }
        if endpoint.listener != nil { return .failure(EINVAL) }
        if endpoint.family == .tcp, let urgent = endpoint.urgent { return Outcome(result: Int64(urgent.offset)) }
        // A TCP connection is a stream, a UDP socket a datagram socket: the same answers as unix's.
        switch endpoint.type {
        case .stream, .seqpacket:
            return Outcome(result: Int64(endpoint.queuedBytes))
        case .dgram:
            return Outcome(result: Int64(endpoint.queue.first?.data.count ?? 0))
        }
    }
}
