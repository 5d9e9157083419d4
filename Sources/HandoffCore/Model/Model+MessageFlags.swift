import HandoffProtocol

// recvmsg(2) flags and exact control buffers (net/unix/af_unix.c, net/core/scm.c, net/ipv4/tcp.c), verified on
// 6.18 with a standalone C program:
// - MSG_PEEK: unix_stream_read_generic and unix_dgram_recvmsg leave the message queued and call
//   unix_peek_fds (scm_fp_dup): the receiver gets new references to the descriptors, the message keeps its own.
//   A stream peek stops after a message that carries descriptors, like a read.
// - MSG_TRUNC: unix_dgram_recvmsg (dgram and seqpacket) returns skb->len, the datagram's real length; a unix
//   stream ignores it; tcp_recvmsg_locked discards the bytes instead of copying them.
// - MSG_WAITALL: unix_stream_read_generic's target becomes `count` (sock_rcvlowat); when the queue runs out
//   before, a blocking reader waits (unix_stream_data_wait) unless a socket error, RCV_SHUTDOWN or the peer's
//   close ends the read; a non-blocking one returns what it copied. A message carrying descriptors still ends
//   the read. Datagram sockets ignore it.
// - An exact control buffer: scm_detach_fds installs min(scm_max_fds, count) descriptors, scm_max_fds being
//   (msg_controllen - sizeof(struct cmsghdr)) / sizeof(int), 0 when msg_controllen <= sizeof(struct cmsghdr).

extension ReferenceModel {
    /// scm_max_fds: how many descriptors a control buffer of exactly `control` bytes receives.
    static func capacity(control: Int) -> Int {
        control <= Linux.cmsghdrSize ? 0 : (control - Linux.cmsghdrSize) / 4
    }

    /// unix_dgram_recvmsg with MSG_TRUNC: "err = (flags & MSG_TRUNC) ? skb->len - skip : size".
    static func datagramResult(_ message: SocketMessage) -> Int { message.data.count }

    /// unix_stream_read_generic with MSG_WAITALL: the queue ran out before `count` bytes and nothing ends the
    /// wait (no pending error, no RCV_SHUTDOWN, the peer still open, a blocking call).
    func streamWaitsForAll(_ endpoint: SocketEndpoint, flags: Set<MessageFlag>, ranOut: Bool, dontWait: Bool,
                           peerClosed: Bool) -> Bool {
        flags.contains(.waitall) && ranOut && !dontWait && !peerClosed && !endpoint.receiveShutdown
            && endpoint.pendingError == nil
    }
}
