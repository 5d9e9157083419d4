#if canImport(Glibc)
import Glibc
#endif

// AF_UNIX send buffers and stream skbs (net/unix/af_unix.c, net/core/sock.c, net/core/skbuff.c).
//
// Stream skbs: unix_stream_sendmsg cuts a send into skbs of at most
//   min((sk_sndbuf >> 1) - 64, SKB_MAX_HEAD(0) + UNIX_SKB_FRAGS_SZ)
// bytes (3776 + 32768 = 36544 on x86_64 6.x, 4 KiB pages, MAX_SKB_FRAGS 17), each of SKB_MAX_HEAD(0) bytes at
// most in its head and the rest in page frags (data_len = min(size, PAGE_ALIGN(size - SKB_MAX_HEAD(0)))).
// unix_scm_to_skb(&scm, skb, !fds_sent) puts the SCM_RIGHTS descriptors on the first skb only, while the
// credentials (UNIXCB(skb).pid, uid, gid: SCM_CREDENTIALS, SCM_PIDFD) go on every skb, so a reader with
// SO_PASSCRED still glues the skbs of one send. The payload is probed on the running kernel
// (SystemProbe.unixStreamSkbPayload, `unixStreamSkbPayload`); maximumTransfer or more means no split was seen.
// MSG_OOB: the loop sends all but the last byte, queue_oob the last byte in an skb of its own.
//
// Send buffers: every skb is charged to its sender (skb_set_owner_w: sk_wmem_alloc += skb->truesize) until the
// receiver frees it (sock_wfree: a read that consumes it, a purge at close, the garbage collector). Two rules
// read sk_wmem_alloc, whose refcount starts at 1 (sk_alloc):
// - unix_writable: `state != TCP_LISTEN && (refcount_read(&sk->sk_wmem_alloc) << 2) <= sk->sk_sndbuf`, for
//   POLLOUT in unix_poll (stream) and unix_dgram_poll (dgram, seqpacket; the peer's full queue is
//   Model+Datagrams.addressedReadiness);
// - sock_alloc_send_pskb, for each skb: it allocates while sk_wmem_alloc_get (refcount - 1) < sk_sndbuf,
//   otherwise EAGAIN without a timeout (O_NONBLOCK), or it waits. A stream send that already queued skbs
//   returns what it sent (`return sent ? : err`).
// sk_sndbuf is net.core.wmem_default (sock_init_data; SO_SNDBUF is not an operation): `socketSendBuffer`.
//
// truesize is not knowable exactly (kmalloc bucket rounding, skb_small_head_cache since 6.3, page-frag orders,
// struct sizes by configuration and version), so each skb is charged an interval:
// - __alloc_skb: truesize = SKB_TRUESIZE(kmalloc size - shinfo) = kmalloc_size_roundup(SKB_DATA_ALIGN(head) +
//   SKB_DATA_ALIGN(sizeof(struct skb_shared_info))) + SKB_DATA_ALIGN(sizeof(struct sk_buff)), and
//   alloc_skb_with_frags adds PAGE_SIZE << order for each page chunk: whole pages covering data_len.
// - lower: the data length + 512. sizeof(struct skb_shared_info) is 320 with 17 frags and sizeof(struct
//   sk_buff) 232 (256 aligned) on 6.1-6.18 x86_64, so the overhead is at least 576; 512 leaves room.
// - upper: the head's allocation at most twice its request (power-of-two kmalloc buckets, the small-head cache
//   at most 1 KiB), the request at most head + 63 (SKB_DATA_ALIGN) + 512 (a generous shared info), the sk_buff
//   at most 512, and the frags their whole pages. A stream skb's head is at most SKB_MAX_HEAD(0), whose
//   allocation is one page by that macro's definition: capped at PAGE_SIZE when the probe revealed the split.
//   The 36544-byte skb: [37056, 37376] (6.18 measured 37120 = 4096 + 256 + 32768); a 1-byte one: [513, 1664].
// A socket is certainly writable when 4 * (upper + 1) <= sk_sndbuf, certainly not when 4 * (lower + 1) >
// sk_sndbuf; an skb is certainly allocated when upper < sk_sndbuf, certainly not when lower >= sk_sndbuf.
// Between the two the step is an ERROR of the model (Outcome.beyondModel), not a guess.

extension ReferenceModel {
    static let pageSize = 4096
    /// UNIX_SKB_FRAGS_SZ: PAGE_SIZE << get_order(32768).
    static let unixSkbFragsSize = 32768
    static let skbOverheadLower = 512
    static let skbSharedInfoUpper = 512
    static let skbStructUpper = 512

    static func pageAligned(_ n: Int) -> Int { (n + pageSize - 1) / pageSize * pageSize }

    /// The bytes one stream skb carries: the probed payload, or (sk_sndbuf >> 1) - 64 if that is smaller.
    var streamSkbLimit: Int { max(1, min(unixStreamSkbPayload, (socketSendBuffer >> 1) - 64)) }

    /// SKB_MAX_HEAD(0) when the probe revealed it (a split payload not set by the sndbuf term); nil otherwise.
    var streamSkbHeadLimit: Int? {
        let payload = unixStreamSkbPayload
        guard payload < maximumTransfer, payload > ReferenceModel.unixSkbFragsSize, payload < (socketSendBuffer >> 1) - 64 else {
            return nil
        }
        return payload - ReferenceModel.unixSkbFragsSize
    }

    /// The payload sizes of the skbs a stream send of `count` bytes (> 0) becomes.
    func streamSkbSizes(_ count: Int) -> [Int] {
        var sizes: [Int] = []
        var left = count
        while left > 0 {
            let size = min(left, streamSkbLimit)
            sizes.append(size)
            left -= size
        }
        return sizes
    }

    /// Bounds of the truesize of an skb of `length` bytes (see the file's header).
    func truesizeBounds(length: Int, stream: Bool) -> (lower: Int, upper: Int) {
        let lower = length + ReferenceModel.skbOverheadLower
        var head = length
        var frags = 0
        if stream, let headLimit = streamSkbHeadLimit {
            frags = min(length, ReferenceModel.pageAligned(max(0, length - headLimit)))
            head = length - frags
        }
        var headAllocation = 2 * (head + 63 + ReferenceModel.skbSharedInfoUpper)
        if stream, streamSkbHeadLimit != nil { headAllocation = min(headAllocation, ReferenceModel.pageSize) }
        let upper = headAllocation + ReferenceModel.skbStructUpper + ReferenceModel.pageAligned(frags)
        return (lower, max(lower, upper))
    }

    /// The bounds of what `id`'s unfreed skbs charge to its sk_wmem_alloc (without the refcount's 1).
    func sendBufferCharge(_ id: EndpointID) -> (lower: Int, upper: Int, bytes: Int) {
        var lower = 0
        var upper = 0
        var bytes = 0
        for endpoint in endpoints.values {
            for message in endpoint.queue {
                guard let charge = message.charge, charge.owner == id else { continue }
                lower += charge.lower
                upper += charge.upper
                bytes += message.data.count
            }
        }
        return (lower, upper, bytes)
    }

    /// unix_writable's send-buffer half: true or false when the bounds agree, nil when they do not.
    func unixWritable(_ id: EndpointID) -> Bool? {
        let charge = sendBufferCharge(id)
        if 4 * (charge.upper + 1) <= socketSendBuffer { return true }
        if 4 * (charge.lower + 1) > socketSendBuffer { return false }
        return nil
    }

    /// Why the model cannot tell whether `id`'s send buffer is full.
    func sendBufferUncertainty(_ id: EndpointID, _ what: String) -> String {
        let charge = sendBufferCharge(id)
        return "\(what): the model cannot tell whether the send buffer is full: \(charge.bytes) bytes queued unread "
            + "account for \(charge.lower)...\(charge.upper) bytes of sk_wmem_alloc against sk_sndbuf \(socketSendBuffer)"
    }

    /// What sock_alloc_send_pskb does for skbs of these truesize bounds, in order, from `id`'s current charge:
    /// how many it allocates before the buffer is certainly full, or nil when that is uncertain for one.
    func skbsAllocated(_ id: EndpointID, _ skbs: [(lower: Int, upper: Int)]) -> Int? {
        var charge = sendBufferCharge(id)
        for (index, skb) in skbs.enumerated() {
            if charge.lower >= socketSendBuffer { return index }
            if charge.upper >= socketSendBuffer { return nil }
            charge.lower += skb.lower
            charge.upper += skb.upper
        }
        return skbs.count
    }

    /// A send whose skbs the send buffer may refuse: the outcome when it does (EAGAIN, the bytes sent so far, or
    /// beyond the model for a wait or an uncertain buffer), nil when all `skbs` are allocated.
    func sendBufferRefusal(_ id: EndpointID, _ skbs: [(lower: Int, upper: Int)], sizes: [Int], dontWait: Bool)
        -> (allocated: Int, outcome: Outcome)? {
        guard let allocated = skbsAllocated(id, skbs) else {
            return (0, .beyondModel(sendBufferUncertainty(id, "a send")))
        }
        if allocated == skbs.count { return nil }
        if !dontWait {
            return (0, .beyondModel("a blocking send into a full send buffer would wait (sock_alloc_send_pskb) until "
                                    + "the peer reads: \(sendBufferCharge(id).bytes) bytes queued unread"))
        }
        if allocated == 0 { return (0, .failure(EAGAIN)) }
        return (allocated, Outcome(result: Int64(sizes.prefix(allocated).reduce(0, +))))
    }
}
