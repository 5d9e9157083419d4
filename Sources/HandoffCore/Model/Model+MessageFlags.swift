#if canImport(Glibc)
import Glibc
#endif
import HandoffProtocol

// recvmsg(2) flags and exact control buffers (net/unix/af_unix.c, net/core/scm.c, net/ipv4/tcp.c), verified on
// 6.18 with a standalone C program:
// - MSG_PEEK: unix_stream_read_generic and unix_dgram_recvmsg leave the message queued and call
//   unix_peek_fds (scm_fp_dup): the receiver gets new references to the descriptors, the message keeps its own.
//   A stream peek stops after a message that carries descriptors, like a read - but, unlike a read, it walks
//   on past `count` ("goto again" in the peek branch, before the loop's size test) to the first message with
//   descriptors, and peeks those: a one-byte peek of "ab" then "cd"+rights returns "a" with the rights. It
//   never waits once it has started (the peek branch breaks at the queue's end), MSG_WAITALL or not. (The
//   stream read itself, with out-of-band bytes, is ReferenceModel.unixStreamRead in Model+OutOfBand.swift.)
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
        control <= Linux.cmsghdrSize ? 0 : (control - Linux.cmsghdrSize) / Linux.descriptorSize
    }

    /// msg_controllen as the agents set it: exactly `control` bytes, else CMSG_SPACE(room * sizeof(int)) (0 for
    /// room 0: no control buffer).
    static func controlLength(room: Int, control: Int?) -> Int {
        if let control { return control }
        return room > 0 ? cmsgSpace(descriptors: room) : 0
    }

    /// SO_PEEK_OFF after a receive (sk_peek_offset_fwd after a peek, sk_peek_offset_bwd after a read): moves
    /// only when set (>= 0), never below 0.
    mutating func movePeekOffset(_ id: EndpointID, _ endpoint: SocketEndpoint, by delta: Int) {
        let offset = Int(endpoint.options.peekOffset)
        guard offset >= 0 else { return }
        endpoints[id]?.options.peekOffset = Int32(clamping: max(offset + delta, 0))
    }

    /// unix_dgram_recvmsg with MSG_TRUNC: "err = (flags & MSG_TRUNC) ? skb->len - skip : size".
    static func datagramResult(_ message: SocketMessage) -> Int { message.data.count }

    /// unix_stream_read_generic with MSG_WAITALL when the queue ran out before `count` bytes (copied < target):
    /// sock_error takes a pending error (consumed: the read returns what it copied, and the next call does not
    /// see the error - fuzz seed 7), then RCV_SHUTDOWN (the peer's close too) or a non-blocking call return what
    /// was copied; otherwise the reader waits. Without MSG_WAITALL the target is 1 byte and none of this happens
    /// once something was copied.
    mutating func streamWaitsForAll(_ id: EndpointID, _ endpoint: SocketEndpoint, flags: Set<MessageFlag>,
                                    ranOut: Bool, dontWait: Bool, peerClosed: Bool) -> Bool {
        guard flags.contains(.waitall), ranOut else { return false }
        if endpoint.pendingError != nil {
            endpoints[id]?.pendingError = nil
            return false
        }
        return !dontWait && !peerClosed && !endpoint.receiveShutdown
    }
}

// Hand-built SCM_RIGHTS messages (send_headers), verified on 6.18 with a standalone C program:
// - __scm_send walks the headers (for_each_cmsghdr): a header whose cmsg_len is below sizeof(struct cmsghdr)
//   or reaches past the control buffer fails CMSG_OK: EINVAL, nothing sent.
// - scm_fp_copy takes (cmsg_len - sizeof(struct cmsghdr)) / sizeof(int) descriptors of each header and appends
//   them to one list (EINVAL past SCM_MAX_FD in total, EBADF for a bad one); a header with none is accepted
//   and adds nothing. The receiver gets one SCM_RIGHTS header with all of them (scm_detach_fds).
// - TCP and UDP never look at SCM_RIGHTS (__sock_cmsg_send ignores it) but still check CMSG_OK.
// - unix_seqpacket_sendmsg reports a listener (ENOTCONN) and a pending error before scm_send.
// - A raw cmsg_len also decides where for_each_cmsghdr looks for a next header; the parser allows one only
//   for a header of at most 2 descriptors, whose CMSG_SPACE (24) leaves no room for one, so the model never
//   has to read descriptor numbers as a header (fuzz seed 6 found the kernel's EINVAL for 3).

extension ReferenceModel {
    mutating func sendHeaders(_ process: String, socket: Int32, fds: [Int32], headers: [Int], cmsgLength: Int?,
                              data: [UInt8]) -> Outcome {
        guard case let (_, desc)? = fdget(process, socket) else { return .failure(EBADF) }
        guard case .socket(let endpointID) = desc.target, let endpoint = endpoints[endpointID] else {
            return .failure(ENOTSOCK)
        }
        if let error = seqpacketSendRefusal(endpointID) { return .failure(error) }
        // The control buffer the agents build: CMSG_SPACE of each header's descriptors, back to back.
        let controlLength = headers.reduce(0) { $0 + ReferenceModel.cmsgSpace(descriptors: $1) }
        var offset = 0
        var listed = fds[...]
        var carried: [Int32] = []
        for count in headers {
            let length = cmsgLength ?? Linux.cmsghdrSize + Linux.descriptorSize * count
            // CMSG_OK.
            if length < Linux.cmsghdrSize || length > controlLength - offset { return .failure(EINVAL) }
            let written = Array(listed.prefix(count))
            listed = listed.dropFirst(count)
            // What the kernel reads: the header's descriptors, then the zeroed padding the agents leave (0).
            let taken = (length - Linux.cmsghdrSize) / Linux.descriptorSize
            carried += written.prefix(taken) + Array(repeating: 0, count: max(0, taken - written.count))
            // scm_fp_copy: the descriptors of this header are checked before the next header is looked at.
            if endpoint.family == .unix {
                if carried.count > ReferenceModel.scmMaxFD { return .failure(EINVAL) }
                if carried.contains(where: { self[tableOf: process][$0] == nil }) { return .failure(EBADF) }
            }
            offset += ReferenceModel.cmsgSpace(descriptors: count)
        }
        return send(process, socket: socket, fds: carried, data: data)
    }

    /// CMSG_SPACE(count * sizeof(int)) on x86_64.
    static func cmsgSpace(descriptors count: Int) -> Int {
        let payload = Linux.descriptorSize * count
        return Linux.cmsghdrSize + (payload + Linux.cmsgAlignment - 1) / Linux.cmsgAlignment * Linux.cmsgAlignment
    }
}
