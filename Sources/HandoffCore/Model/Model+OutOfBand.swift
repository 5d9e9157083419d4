#if canImport(Glibc)
import Glibc
#endif
import HandoffProtocol

// Out-of-band data: MSG_OOB on unix stream sockets (net/unix/af_unix.c, CONFIG_AF_UNIX_OOB, 5.15) and TCP
// urgent data (net/ipv4/tcp.c, tcp_input.c), verified on 6.18 with standalone C programs (the shapes of
// kselftest net/af_unix/msg_oob.c):
// - unix: send(MSG_OOB) queues all but the last byte as usual (with the descriptors) and the last byte as a
//   message of its own that becomes the receiver's oob_skb (queue_oob; a previous one turns into an ordinary
//   byte); an empty MSG_OOB send is EOPNOTSUPP, and so is any on dgram/seqpacket. A read stops before the
//   oob_skb once it copied something; reaching it first, it drops it (manage_oob, "SKIP_OOB") along with its
//   descriptors. recv(MSG_OOB) returns the byte with MSG_OOB in msg_flags and leaves an empty message in
//   the queue (and no descriptors installed); a read that meets that empty message after copying stops,
//   otherwise removes it. EINVAL without an oob_skb.
// - TCP: the last byte of a MSG_OOB send is urgent. A read stops at it once it copied something, else skips
//   it and forgets the urgent byte (tcp_recvmsg_locked, "after(copied_seq, urg_seq)"); recv(MSG_OOB) returns
//   it once (TCP_URG_READ; it still stops and is skipped by reads); a new urgent byte makes the previous one
//   ordinary data, unless it is the next byte to read, which is then dropped (tcp_check_urg). With count 0,
//   recv(MSG_OOB) says 0 with MSG_TRUNC. UDP refuses MSG_OOB sends (EOPNOTSUPP) and ignores it on receive.

/// What a unix stream read (unix_stream_read_generic with manage_oob) copies, takes and leaves.
struct UnixStreamRead {
    var bytes: [UInt8] = []
    /// The descriptors of the message that ended the read (references to take, or to copy for a peek).
    var taken: [DescriptionID] = []
    /// The queue ran out (skb == NULL) before `count`: the caller decides between EOF, errors and waiting.
    var ranOut = false
    var queue: [SocketMessage]
    /// Descriptions of messages dropped on the way (an unread oob byte, an empty message after MSG_OOB).
    var dropped: [DescriptionID] = []
    /// The credentials of the first message copied from (scm_set_cred / unix_skb_to_scm), for scm_recv_unix.
    var credentials: String?
}

extension ReferenceModel {
    /// unix_stream_read_generic for a stream socket with a non-empty queue, MSG_PEEK or not. `skip` is
    /// SO_PEEK_OFF's start for a peek (0 otherwise): whole messages it covers are walked over, then the copy
    /// starts inside the next. `checkCredentials` (unix_may_passcred: SO_PASSCRED or SO_PASSPIDFD on the
    /// reader): the first message copied from sets the credentials, and the read stops before a message
    /// of other credentials ("Never glue messages from different writers"), a peek's walk included.
    static func unixStreamRead(_ queue: [SocketMessage], count: Int, peek: Bool, skip startSkip: Int = 0,
                               checkCredentials: Bool = false) -> UnixStreamRead {
        var read = UnixStreamRead(queue: queue)
        var size = max(0, count)
        var skip = startSkip
        var started = false
        repeat {
            // redo: skb_peek.
            var index: Int? = read.queue.isEmpty ? nil : 0
            again: while true {
                if let current = index {
                    index = manageOutOfBand(&read, current, copied: read.bytes.count, peek: peek)
                    // "if (!skb && copied) break": the read ends at the mark, MSG_WAITALL or not.
                    if index == nil && !read.bytes.isEmpty { return read }
                }
                guard var i = index else {
                    read.ranOut = true
                    return read
                }
                // while (skip >= unix_skb_len(skb)): empty messages, and those SO_PEEK_OFF covers, are walked over.
                while skip >= read.queue[i].data.count {
                    skip -= read.queue[i].data.count
                    i += 1
                    if i >= read.queue.count {
                        index = nil
                        continue again
                    }
                }
                if checkCredentials {
                    if started && read.queue[i].credentials != read.credentials { return read }
                    if !started { read.credentials = read.queue[i].credentials }
                }
                started = true
                let chunk = min(read.queue[i].data.count - skip, size)
                read.bytes += read.queue[i].data[skip..<(skip + chunk)]
                size -= chunk
                if peek {
                    skip = 0
                    if !read.queue[i].descriptions.isEmpty {
                        read.taken = read.queue[i].descriptions
                        return read
                    }
                    // The peek branch goes on to the next message before the loop tests the size.
                    index = i + 1
                    if i + 1 >= read.queue.count { return read }
                    continue again
                }
                read.queue[i].data.removeFirst(chunk)
                let hadDescriptors = !read.queue[i].descriptions.isEmpty
                if hadDescriptors {
                    read.taken = read.queue[i].descriptions
                    read.queue[i].descriptions = []
                }
                if !read.queue[i].data.isEmpty { return read }
                read.queue.remove(at: i)
                if hadDescriptors { return read }
                break again
            }
        } while size > 0
        return read
    }

    /// manage_oob: what the read does at message `index` (nil: stop here).
    static func manageOutOfBand(_ read: inout UnixStreamRead, _ index: Int, copied: Int, peek: Bool) -> Int? {
        var i = index
        if !read.queue[i].data.isEmpty && !read.queue[i].outOfBand { return i }
        if read.queue[i].data.isEmpty {
            let current = read.queue.firstIndex { $0.outOfBand }
            if copied > 0 && (current == nil || current == i) { return nil }
            if peek {
                i += 1
            } else {
                read.dropped += read.queue[i].descriptions
                read.queue.remove(at: i)
            }
            if i >= read.queue.count { return nil }
        }
        if !read.queue[i].outOfBand { return i }
        if copied > 0 { return nil }
        if peek { return i + 1 < read.queue.count ? i + 1 : nil }
        // Not SO_OOBINLINE: the unread out-of-band byte is dropped, the read goes on from the queue's head.
        read.dropped += read.queue[i].descriptions
        read.queue.remove(at: i)
        return read.queue.isEmpty ? nil : 0
    }

    /// unix_stream_recv_urg: recv(MSG_OOB) on a unix stream socket.
    mutating func unixReceiveOutOfBand(_ id: EndpointID, _ endpoint: SocketEndpoint, count: Int,
                                       peek: Bool) -> Outcome {
        guard endpoint.type == .stream, unixOOB else { return .failure(EOPNOTSUPP) }
        guard var current = endpoint.queue.firstIndex(where: { $0.outOfBand }) else { return .failure(EINVAL) }
        var queue = endpoint.queue
        let byte = queue[current].data.first ?? 0
        if !peek {
            queue[current].outOfBand = false
            // An empty message just before it (an earlier out-of-band byte, read) is freed now.
            if current > 0 && queue[current - 1].data.isEmpty {
                for d in queue[current - 1].descriptions { release(d) }
                queue.remove(at: current - 1)
                current -= 1
            }
            queue[current].data.removeFirst(min(1, queue[current].data.count))
            endpoints[id]?.queue = queue
        }
        // The byte is copied whatever the count (the actor's chunk is 1); no descriptors are installed.
        return Outcome(result: 1, data: count > 0 ? [byte] : [], messageFlags: Linux.MSG_OOB)
    }

    /// queue_oob: the last byte of a MSG_OOB send, an skb of its own (with the descriptors when it is the
    /// send's only skb), becomes the peer's oob_skb; the skbs before it were queued as usual (unix_send).
    mutating func queueUnixOutOfBand(to peer: EndpointID, byte: SocketMessage) {
        guard var queue = endpoints[peer]?.queue else { return }
        for i in queue.indices { queue[i].outOfBand = false }
        var byte = byte
        byte.outOfBand = true
        queue.append(byte)
        endpoints[peer]?.queue = queue
    }

    // MARK: - TCP urgent data

    /// tcp_check_urg and tcp_urg on the receiver when `data` arrives with the urgent flag.
    mutating func markUrgent(_ peer: EndpointID, data: [UInt8]) {
        guard var endpoint = endpoints[peer], let last = data.last else { return }
        var queued = endpoint.queuedBytes
        // The previous urgent byte, if it is the next to read, is dropped; elsewhere it becomes ordinary data.
        if let previous = endpoint.urgent, previous.offset == 0, queued > 0 {
            dropStreamBytes(&endpoint.queue, 1)
            queued -= 1
        }
        endpoint.queue.append(SocketMessage(data: data, descriptions: [], sender: ""))
        endpoint.urgent = UrgentByte(offset: queued + data.count - 1, byte: last)
        endpoints[peer] = endpoint
    }

    /// tcp_recv_urg: recv(MSG_OOB) on TCP.
    mutating func tcpReceiveOutOfBand(_ id: EndpointID, _ endpoint: SocketEndpoint, count: Int,
                                      flags: Set<MessageFlag>) -> Outcome {
        // "Yes this is right !": no urgent byte, or already read.
        guard let urgent = endpoint.urgent, !urgent.read else { return .failure(EINVAL) }
        if endpoint.reset && !endpoint.finReceived { return .failure(ENOTCONN) }
        if !flags.contains(.peek) { endpoints[id]?.urgent?.read = true }
        if count == 0 { return Outcome(result: 0, data: [], messageFlags: Linux.MSG_OOB | Linux.MSG_TRUNC) }
        return Outcome(result: 1, data: flags.contains(.trunc) ? nil : [urgent.byte], messageFlags: Linux.MSG_OOB)
    }

    /// tcp_recvmsg_locked's copy loop over a non-empty queue: stops at the urgent byte once something was
    /// copied, skips it otherwise. Returns the bytes, how far the reader got, the urgent byte left, and
    /// whether the queue ran out before `count`.
    static func tcpRead(_ endpoint: SocketEndpoint, count: Int, peek: Bool)
        -> (bytes: [UInt8], consumed: Int, urgent: UrgentByte?, ranOut: Bool) {
        let stream = endpoint.queue.flatMap(\.data)
        var urgent = endpoint.urgent
        var position = 0
        var bytes: [UInt8] = []
        var ranOut = false
        while bytes.count < count {
            if let u = urgent, u.offset == position, !bytes.isEmpty { break }
            if position >= stream.count {
                ranOut = true
                break
            }
            var used = min(stream.count - position, count - bytes.count)
            if let u = urgent, u.offset >= position, u.offset - position < used {
                if u.offset == position {
                    position += 1
                    used -= 1
                } else {
                    used = u.offset - position
                }
            }
            bytes += stream[position..<(position + used)]
            position += used
            // skip_copy: the reader (not a peek) went past the urgent byte: it is forgotten.
            if !peek, let u = urgent, position > u.offset { urgent = nil }
        }
        urgent?.offset -= position
        return (bytes, peek ? 0 : position, peek ? endpoint.urgent : urgent, ranOut)
    }

    /// Removes `count` bytes from the front of a byte-stream queue.
    func dropStreamBytes(_ queue: inout [SocketMessage], _ count: Int) {
        var left = count
        while left > 0, !queue.isEmpty {
            let chunk = min(left, queue[0].data.count)
            queue[0].data.removeFirst(chunk)
            left -= chunk
            if queue[0].data.isEmpty { queue.removeFirst() }
        }
    }
}
