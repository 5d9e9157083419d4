// Internal state of the reference model: processes, open file descriptions and the objects they refer to.
// Everything here is a plain value type so that ReferenceModel can be copied, compared and snapshotted.

// MARK: - Identifiers

/// The identifiers of the model's objects: numbers in creation order, never reused, typed so that a pipe can
/// never be taken for a socket endpoint or a descriptor table.
protocol ModelIdentifier: Hashable, Sendable, Comparable {
    var raw: Int { get }
    init(raw: Int)
}

extension ModelIdentifier {
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.raw < rhs.raw }

    /// Returns this identifier and moves on to the next one: `let id = nextPipe.take()`.
    mutating func take() -> Self {
        defer { self = Self(raw: raw + 1) }
        return self
    }
}

extension DescriptionID: ModelIdentifier {}

/// A descriptor table (ReferenceModel.tables).
struct TableID: ModelIdentifier { let raw: Int }
/// A pipe (ReferenceModel.pipes).
struct PipeID: ModelIdentifier { let raw: Int }
/// A memfd's contents (ReferenceModel.memfds).
struct MemfdID: ModelIdentifier { let raw: Int }
/// An eventfd's counter (ReferenceModel.eventCounters).
struct EventfdID: ModelIdentifier { let raw: Int }
/// A socket (ReferenceModel.endpoints): one end of a connection, a listening socket (whose id is also the
/// listener's, in `bindings`) or a UDP socket.
struct EndpointID: ModelIdentifier { let raw: Int }
/// An epoll instance (ReferenceModel.epolls).
struct EpollID: ModelIdentifier { let raw: Int }

// MARK: - Tables, processes, descriptions

/// One entry of a process's descriptor table.
struct TableEntry: Equatable, Sendable {
    var description: DescriptionID
    var closeOnExec: Bool
}

/// A descriptor table (the kernel's files_struct), possibly shared by several processes (CLONE_FILES).
struct DescriptorTable: Equatable, Sendable {
    var entries: [Int32: TableEntry]
    /// Processes using the table (the kernel's files->count). At zero its descriptors are released.
    var users: Int
}

struct ModelProcess: Equatable, Sendable {
    var name: String
    var parent: String?
    var state: ModelProcessState
    /// The table the process uses (a key of ReferenceModel.tables); nil once it exited.
    var tableID: TableID?
    /// RLIMIT_NOFILE: the soft limit (used for every descriptor-number rule) and the hard limit.
    var nofileLimit: Int32
    var hardNofileLimit: Int32
    /// Capabilities removed from the effective, permitted and inheritable sets (the process starts with all).
    var droppedCapabilities: Set<String> = []
    /// The mm's dumpable flag (SUID_DUMP_USER when true, SUID_DUMP_DISABLE when false).
    var dumpable: Bool = true
}

/// What an open file description refers to, with the identity of the underlying object.
enum DescriptionTarget: Equatable, Sendable {
    /// A pipe end or a socket: what is written is read back in the order it came.
    var isQueue: Bool {
        switch self {
        case .pipeRead, .pipeWrite, .pipeReadWrite, .socket: return true
        default: return false
        }
    }

    /// The file or memfd whose contents the description reads and writes.
    var contents: ContentsID? {
        switch self {
        case .file(let path): return .file(path)
        case .memfd(let object, _): return .memfd(object)
        default: return nil
        }
    }

    /// The pipe behind either end (or an O_RDWR reopen) of one.
    var pipe: PipeID? {
        switch self {
        case .pipeRead(let pipe), .pipeWrite(let pipe), .pipeReadWrite(let pipe): return pipe
        default: return nil
        }
    }

    case file(path: FileName)
    case memfd(object: MemfdID, name: String)
    case pipeRead(pipe: PipeID)
    case pipeWrite(pipe: PipeID)
    /// A pipe opened O_RDWR through /proc/PID/fd/N: counts as a reader and as a writer.
    case pipeReadWrite(pipe: PipeID)
    case socket(endpoint: EndpointID)
    case pidfd(process: String)
    /// An eventfd: a 64-bit counter (ReferenceModel.eventCounters).
    case eventfd(object: EventfdID)
    /// An epoll instance: its interest list is ReferenceModel.epolls[object].
    case epoll(object: EpollID)
    /// A signalfd, timerfd or inotify instance (Model+AnonymousInodes).
    case anonymous(AnonymousObject)
    case inherited(String)
}

/// A file or a memfd: what has contents (ReferenceModel.files, memfds).
enum ContentsID: Hashable, Sendable {
    case file(FileName)
    case memfd(MemfdID)
}

/// One registration of an epoll's interest list. The kernel keys it by (struct file, fd) (ep_find): the
/// same description registered under two numbers is two registrations.
struct EpollRegistration: Hashable, Sendable {
    var description: DescriptionID
    var fd: Int32
}

/// struct eventpoll, as far as descriptors are concerned: what is registered, with which events.
struct EpollObject: Equatable, Sendable {
    var interest: [EpollRegistration: Set<EpollEvent>] = [:]
    /// EPOLLONESHOT registrations epoll_wait has reported: their events are cleared (`epi->event.events &=
    /// EP_PRIVATE_BITS`) until an EPOLL_CTL_MOD sets them again.
    var disarmed: Set<EpollRegistration> = []
    /// Edge-triggered registrations on the ready list: armed (ADD, MOD) while ready (ep_insert, ep_modify) or
    /// woken since (ep_poll_callback, Model+Wakeups.swift). The next wait reports those still ready, once.
    var edgeQueued: Set<EpollRegistration> = []
    /// Edge-triggered registrations off `edgeQueued` that a wake-up the model does not follow may have queued:
    /// a wait that finds one ready is past the model.
    var edgeUnknown: Set<EpollRegistration> = []
}

struct OpenDescription: Equatable, Sendable {
    var id: DescriptionID
    var target: DescriptionTarget
    var accessMode: AccessMode
    var statusFlags: Set<StatusFlag>
    /// Tracked for files and memfds only.
    var offset: Int64?
    /// Table entries (in every process) plus SCM_RIGHTS references in flight.
    var references: Int
    /// True once the last reference went away (the kernel's final fput).
    var released: Bool = false
    /// An O_PATH description: only "raw" descriptor operations work on it (dup, fcntl F_GETFL/F_GETFD/
    /// F_SETFD, close, passing it with SCM_RIGHTS); read, write, lseek, F_SETFL and socket calls fail EBADF.
    var pathOnly: Bool = false
    /// A pidfd opened through /proc/PID/fd/N (pidfs): ftruncate of it answers as an O_TRUNC reopen does,
    /// which on 6.12 differs from ftruncate of pidfd_open's own file (EPERM, not EOPNOTSUPP).
    var reopenedPidfd: Bool = false
    /// filp->f_pipe: the pipe's writer opens (w_counter) when a FIFO was opened O_NONBLOCK for reading with no
    /// writer; 0 for every other description (pipe_poll reports POLLHUP only once w_counter differs).
    var fifoWritersSeen = 0

    var readable: Bool { accessMode == .readOnly || accessMode == .readWrite }
    var writable: Bool { accessMode == .writeOnly || accessMode == .readWrite }
    var nonBlocking: Bool { statusFlags.contains(.nonblock) }
    var append: Bool { statusFlags.contains(.append) }
}

/// One page-sized slot of a pipe's ring (struct pipe_buffer): the kernel counts capacity in slots, not bytes.
struct PipeSlot: Equatable, Sendable {
    /// Where the unread data starts inside the page (advances as it is read).
    var pageOffset: Int
    var bytes: [UInt8]
    var end: Int { pageOffset + bytes.count }
}

struct PipeObject: Equatable, Sendable {
    static let pageSize = 4096
    /// Default pipe size: 16 pages = 65536 bytes (PIPE_DEF_BUFFERS).
    static let defaultSlots = 16

    var slots: [PipeSlot] = []
    /// pipe->max_usage: how many slots the ring may fill (F_SETPIPE_SZ changes it).
    var slotLimit = PipeObject.defaultSlots
    /// Open descriptions of each end (the kernel's pipe->readers / pipe->writers).
    var readers = 0
    var writers = 0
    /// pipe->r_counter and pipe->w_counter: how many opens for reading and for writing the pipe has seen
    /// (alloc_pipe_info starts both at 1). A FIFO opener asleep for its partner waits for the other one to move
    /// (wait_for_partner), and a reader opened O_NONBLOCK before any writer keeps the writers' count it saw
    /// (filp->f_pipe) to hold back POLLHUP until a writer has come.
    var readerOpens = 1
    var writerOpens = 1
    /// The FIFO this pipe belongs to (inode->i_pipe of a mkfifo'd name); nil for pipe(2)'s.
    var fifo: FileName? = nil

    var available: Int { slots.reduce(0) { $0 + $1.bytes.count } }

    /// Removes and returns up to `count` bytes from the head of the pipe.
    mutating func take(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count, !slots.isEmpty {
            let want = count - out.count
            if slots[0].bytes.count <= want {
                out += slots[0].bytes
                slots.removeFirst()
            } else {
                out += slots[0].bytes[0..<want]
                slots[0].bytes.removeFirst(want)
                slots[0].pageOffset += want
            }
        }
        return out
    }

    /// `wouldBlock` says how much pipe_write copied into the ring before it went to sleep for the rest.
    enum WriteResult: Equatable { case wrote(Int), wouldBlock(afterWriting: Int) }

    /// Mirrors fs/pipe.c pipe_write: the first (len % PAGE_SIZE) bytes may merge into the last page if they
    /// fit behind its data; the rest fills new pages while fewer than `slotLimit` slots are in use. When the ring is
    /// full a non-blocking write returns what it wrote so far (EAGAIN if nothing), a blocking one waits.
    /// Callers handle the zero-length write and the no-readers case.
    mutating func write(_ data: [UInt8], nonBlocking: Bool) -> WriteResult {
        var working = self
        var rest = data[...]
        var written = 0
        let chars = data.count & (PipeObject.pageSize - 1)
        if chars > 0, let last = working.slots.last, last.end + chars <= PipeObject.pageSize {
            working.slots[working.slots.count - 1].bytes += rest.prefix(chars)
            rest = rest.dropFirst(chars)
            written += chars
            if rest.isEmpty {
                self = working
                return .wrote(written)
            }
        }
        while true {
            if working.slots.count < slotLimit {
                let chunk = rest.prefix(PipeObject.pageSize)
                working.slots.append(PipeSlot(pageOffset: 0, bytes: Array(chunk)))
                rest = rest.dropFirst(chunk.count)
                written += chunk.count
                if rest.isEmpty {
                    self = working
                    return .wrote(written)
                }
                continue
            }
            if nonBlocking {
                self = working
                return .wrote(written)  // 0 means EAGAIN
            }
            return .wouldBlock(afterWriting: written)
        }
    }
}

struct SocketMessage: Equatable, Sendable {
    var data: [UInt8]
    /// In-flight references (one per fd the sender listed, duplicates included).
    var descriptions: [DescriptionID]
    var sender: String
    /// The process whose credentials (pid, uid, gid) the message carries: the sender when either end had
    /// SO_PASSCRED or SO_PASSPIDFD at send time, or the peer was not accepted yet (unix_maybe_add_creds);
    /// nil when it carries none.
    var credentials: String? = nil
    /// Unix stream: this one-byte message is the receiver's oob_skb (the latest MSG_OOB byte, not yet read).
    /// Once read with MSG_OOB its data is empty and it stays queued until a read passes it (manage_oob).
    var outOfBand = false
    /// A zero-length datagram a peek has returned (skb_set_peeked): a later peek at offset 0 under SO_PEEK_OFF
    /// passes over it (__skb_try_recv_from_queue: `_off >= skb->len && (_off || skb->peeked)`).
    var peeked = false
    /// The sending socket, when it is not the receiver's peer (a datagram sent to an address): recvfrom
    /// reports that socket's address at receive time (unix_copy_addr of skb->sk).
    var senderEndpoint: EndpointID? = nil
    /// Unix sockets: the socket whose sk_wmem_alloc this skb is charged to (skb_set_owner_w in
    /// sock_alloc_send_pskb) until the receiver frees it, and the bounds of its truesize
    /// (Model+SendBuffer.swift). nil: charged to nobody the model follows (TCP, messages built by tests).
    var charge: SkbCharge? = nil
}

/// One skb's share of its sender's sk_wmem_alloc: the sending socket and the bounds of skb->truesize.
struct SkbCharge: Equatable, Sendable {
    var owner: EndpointID
    var lower: Int
    var upper: Int
}

/// TCP urgent data (tcp_check_urg, tcp_urg): the byte, where it sits in the receive queue (bytes ahead of
/// the reader), and whether recv(MSG_OOB) took it (TCP_URG_READ; it still marks the stream until passed).
struct UrgentByte: Equatable, Sendable {
    var offset: Int
    var byte: UInt8
    var read = false
}

enum SocketFamily: Equatable, Sendable {
    case unix, tcp, udp
}

/// Where a listening socket is bound (the key of its binding in the model's name spaces).
enum BoundAddress: Hashable, Sendable {
    case path(FileName)
    /// Abstract names are looked up per socket type (the type is mixed into the hash bucket).
    case abstract(FileName, SocketType, namespace: Int)
    /// nil until the runner reports the ephemeral port with `assignPort`.
    case tcp(UInt16?)
}

/// A listening socket: its address, its backlog and the server endpoints waiting to be accepted.
struct ListenerState: Equatable, Sendable {
    var address: BoundAddress
    var backlog: Int
    /// Embryo (server-side) endpoints in the accept queue, oldest first. They have no description yet.
    var waiting: [EndpointID] = []
}

struct SocketEndpoint: Equatable, Sendable {
    var type: SocketType
    /// The connected peer; nil for listening sockets and UDP sockets.
    var peer: EndpointID?
    var family: SocketFamily = .unix
    /// Set for a listening socket.
    var listener: ListenerState? = nil
    /// TCP: a FIN arrived from the peer (SOCK_DONE): reads return EOF once the queue is drained.
    var finReceived = false
    /// TCP: the connection was reset or closed under us (state TCP_CLOSE, shutdown both ways).
    var reset = false
    /// TCP: a listener that stopped listening (shutdown for reading: tcp_disconnect), in TCP_CLOSE with
    /// sk_shutdown cleared, so a read is ENOTCONN rather than end of file.
    var stoppedListening = false
    var queue: [SocketMessage] = []
    /// The endpoint's description was released (the socket is closed).
    var closed = false
    /// A pending socket error (sk_err), reported once: ECONNRESET when a stream/seqpacket peer closed with
    /// unread data in its receive queue.
    var pendingError: Int32? = nil
    /// dgram: the peer pointer was cleared after a send found the peer dead (later sends: ENOTCONN).
    var disconnected = false
    /// sk_shutdown's SEND_SHUTDOWN: sends fail with EPIPE (shutdown(SHUT_WR), or the unix peer's SHUT_RD).
    var sendShutdown = false
    /// sk_shutdown's RCV_SHUTDOWN: reads return end-of-file once the queue is drained.
    var receiveShutdown = false
    /// TCP: the urgent byte of the receive queue (tp->urg_data, tp->urg_seq), if any.
    var urgent: UrgentByte? = nil
    /// SOL_SOCKET options a socket keeps (Model+SocketOptions.swift): SO_PASSCRED, SO_PASSPIDFD,
    /// SO_PASSRIGHTS (on by default), SO_PEEK_OFF (-1 by default).
    var options = SocketOptions()
    /// sk_peer_cred / sk_peer_pid: the process whose credentials SO_PEERCRED reports (the creator of a
    /// socketpair, the listener's or the connector's); nil for none.
    var peerCredentials: String? = nil
    /// Created by `socket` (or a datagram `connect` to a bound socket): its sends and receives follow the
    /// unconnected rules of Model+Datagrams.swift.
    var addressed = false
    /// The address bind gave it (an accepted socket shares its listener's); nil while unbound.
    var boundAddress: SenderAddress? = nil
    /// Its key in `bindings`, released with the socket.
    var binding: BoundAddress? = nil
    /// Autobound (unix_autobind) to a name the model cannot predict.
    var autobound = false
    /// sock_net: the network namespace the socket was created in (Model+Namespaces.swift). Its abstract
    /// names are bound and looked up there, wherever its descriptor goes and whichever process uses it.
    var netns = 0

    /// The bytes of every queued message: what a byte stream holds unread.
    var queuedBytes: Int { queue.reduce(0) { $0 + $1.data.count } }
}

/// The SOL_SOCKET options the model keeps per socket (struct sock), so they travel with the description.
struct SocketOptions: Equatable, Sendable {
    var passCredentials = false
    var passPidfd = false
    var passRights = true
    var peekOffset: Int32 = -1
    /// SO_INQ (AF_UNIX stream): every recvmsg gets SCM_INQ after the other control messages.
    var queueLength = false

    /// unix_may_passcred: either switch makes a sender attach its credentials.
    var mayPassCredentials: Bool { passCredentials || passPidfd }
}
