// The reference model: a pure, deterministic prediction of what Linux (6.x, x86_64) does for each operation
// of a scenario, and of every process's descriptor table afterwards. No system calls are made here; Glibc is
// imported for errno and flag constants only.
//
// Kernel details modelled beyond the obvious ones (each checked against the 6.x sources):
// - A descriptor number is reserved before the object is created or looked up, so EMFILE wins over
//   ENOENT/EEXIST in open, and nothing is created when it fails.
// - Pipes count capacity in 16 page slots (fs/pipe.c), not in bytes; small writes merge into the last page.
// - AF_UNIX stream reads glue consecutive messages together (without SO_PASSCRED) and stop after the
//   message whose descriptors they took (unix_stream_read_generic).
// - Closing a stream/seqpacket endpoint with unread data sets ECONNRESET on its peer (reported once).
// - A dgram send to a dead peer fails ECONNREFUSED once, purges the sender's own receive queue and
//   disconnects it (later sends fail ENOTCONN).
// - pidfd_getfd on an exiting/zombie target fails ESRCH (kernel >= 6.9), not EBADF; its ptrace check
//   (EPERM) comes first, and includes cap_ptrace_access_check: a caller without CAP_SYS_PTRACE may not take
//   from a target that holds capabilities it lacks, dumpable or not.
// - Descriptor tables are shared objects (CLONE_FILES); execve and close_range(CLOSE_RANGE_UNSHARE) unshare
//   first; a table's descriptors are released when its last user ends.
// - Sockets with addresses follow the agent's shim: socket (ESOCKTNOSUPPORT for seqpacket over TCP), number
//   (EMFILE), bind (a unix path's socket file stays forever, even when listen then fails with EOPNOTSUPP for
//   dgram), listen; connect is blocking and gets O_NONBLOCK afterwards, and result is the new descriptor.
//   Abstract names are per socket type (the type is hashed into the lookup), so a connect of another type
//   is ECONNREFUSED, while a path of another type is EPROTOTYPE. A full accept queue (more waiting than the
//   backlog) makes connect block. Closing a listener resets its waiting connections (ECONNRESET).
// - TCP: SCM_RIGHTS is ignored (__sock_cmsg_send skips it); an orderly close gives the peer EOF, and the
//   peer's first later write is swallowed (the orphan answers RST: EPIPE afterwards); a close with unread
//   data resets the peer: queued data first, then ECONNRESET once (to a read or a write), then EOF/EPIPE.
// - SOL_SOCKET options live on the socket: SO_PASSCRED/SO_PASSPIDFD make senders attach credentials
//   (either end, or a peer not accepted yet) and deliver SCM_CREDENTIALS before SCM_RIGHTS and a
//   close-on-exec SCM_PIDFD after them, in the control room left (a stream read at end of file too);
//   with credentials on, stream reads never glue messages of different writers; SO_PASSRIGHTS off makes
//   sends with descriptors EPERM; a connection inherits its listener's SO_PASS* switches at connect (6.16;
//   at accept before).
// - An exec that regains dropped capabilities (uid 0) leaves the process dumpable only if fs.suid_dumpable
//   is 1 (commit_creds); `suidDumpable`, `ptraceScope` (Yama) and `somaxconn` describe the machine.
//
// - The AF_UNIX garbage collector (Model+UnixGC: strongly connected components of in-flight sockets,
//   unix_vertex_dead) collects at the `unix_gc` step that schedules it; poll (Model+Poll) is the wait.
// - pidfd_send_signal ends a process like an exit (its status the signal); waitid(P_PIDFD) reaps a child.
// - Addressed AF_UNIX sockets (Model+Datagrams): socket(2) alone, bind of an existing socket, sendto routed
//   to the socket bound at the address (unix_find_other) with its rights, unix_may_send, max_dgram_qlen,
//   SO_PASSCRED autobind, and recvfrom's sender address read at receive time (unix_copy_addr).
// - Unix stream skbs (Model+SendBuffer): unix_stream_sendmsg cuts a send into skbs of at most
//   min((sk_sndbuf >> 1) - 64, SKB_MAX_HEAD(0) + UNIX_SKB_FRAGS_SZ) bytes - `unixStreamSkbPayload`, measured on
//   the running kernel by SystemProbe (36544 on x86_64 6.x) - with the descriptors on the first skb
//   (unix_scm_to_skb) and the credentials on every one; a MSG_OOB send's last byte is an skb of its own. Reads
//   and peeks stop after the skb whose descriptors they took, as for separate sends.
// - AF_UNIX send buffers (Model+SendBuffer): every skb is charged to its sender's sk_wmem_alloc until the
//   receiver frees it, as an interval of truesize (allocator rounding is not knowable: the bounds and their
//   reasons are written there), against sk_sndbuf = net.core.wmem_default (`socketSendBuffer`, probed).
//   unix_writable (POLLOUT) and sock_alloc_send_pskb (a send's EAGAIN, a stream send cut short) are predicted
//   only when the whole interval agrees; otherwise the step is an ERROR, Outcome.beyondModel, not a guess, and
//   so is a blocking send into a certainly full buffer (it would wait).
// - Reopening a pidfd through /proc/PID/fd/N: ENXIO where pidfds are anonymous inodes, a new pidfd
//   description on pidfs (`pidfdsReopen`; O_TRUNC, ftruncate and pread errnos probed apart).
// - SO_PEEK_OFF: a peek starts at the offset and moves it forward by what it copied, a read moves it back
//   (stream: by the bytes read; dgram and seqpacket: by the whole datagram, sk_peek_offset_bwd(skb->len)).
// - epoll nesting (Model+Epoll): ep_loop_check refuses a loop and more than five levels, counted below the
//   added epoll and above the target (ELOOP; `epollNestingDepth`, probed; a kernel without that count is
//   beyond the model there); an eventfd's counter stops at 2^64-2 (eventfd_write: EAGAIN or a wait); an lseek
//   sum past 2^63-1 wraps and vfs_setpos refuses it (EINVAL, never EOVERFLOW). All three found by porting LTP.
//
// Not modelled (documented simplifications): SO_SNDBUF/SO_RCVBUF (every socket has the default sk_sndbuf),
// the exact truesize of an skb (bounded, see above), collections the rest of the machine triggers at other
// moments (a scenario waits), file
// permissions and directories (a path naming the scenario directory itself is refused by the parser), epoll's
// reverse-path limits (ep's path_limits: hundreds of epolls watching one file), the per-user in-flight fd limit (ETOOMANYREFS, only for unprivileged
// runners), O_WRONLY|O_RDWR opens (treated as O_RDWR), files larger than 256 MiB and file positions past
// 4 GiB - 1 (the filesystem's s_maxbytes; either is an ERROR of the step, Outcome.beyondModel), TCP send/receive buffer sizes and windows, ports held by other programs on the machine, an sctp module
// that would make seqpacket over TCP work, UDP beyond "nothing listens, every datagram draws ICMP port
// unreachable", and SCM_INQ's value (only the control room it takes). For datagram sends the model asks the
// send buffer after the receiver's checks, while unix_dgram_sendmsg allocates before it looks for the
// receiver (a full buffer and a refusing receiver together are not told apart). Socket credentials are the
// runner's ids as its user namespace sees them (probed). Before 6.16 (probed with SO_PASSRIGHTS) the SO_PASS*
// switches are accepted on TCP and copied at accept instead of connect: written from the kernel source, not
// yet run on such a kernel.
//
// Layout: this file holds the state, the public views and `apply`, the one dispatch over Operation. The rules
// live in one extension per kernel object: Model+DescriptorTable (numbers, dup, close, fcntl, lseek, the
// read/write dispatch, releasing references), Model+Files (open, O_PATH, memfd, /proc reopen, contents),
// Model+Pipes, Model+Eventfd, Model+UnixSockets (socketpair, SCM_RIGHTS, listen/connect/accept),
// Model+InetSockets (TCP and UDP on 127.0.0.1), Model+Processes (fork, clone, unshare, exec, exit, wait),
// Model+Credentials (rlimits, capabilities, dumpable, ptrace access, pidfds), Model+SocketOptions (setsockopt,
// getsockopt, SCM_CREDENTIALS and SCM_PIDFD), Model+Datagrams (socket, bind, sendto, recvfrom), Model+SendBuffer (stream
// skbs, send buffers), Model+Launchers, Model+UnixGC, Model+Poll and Model+PidfdProcesses
// (pidfd_send_signal, waitid).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct ReferenceModel: Sendable {
    static let scmMaxFD = 253
    static let maximumModelledFileSize = 256 << 20
    /// The largest file position every filesystem accepts (FAT's s_maxbytes, 4 GiB - 1): lseek on a file past it
    /// is beyond the model (Model+DescriptorTable.lseek).
    static let positionsEveryFilesystemTakes: Int64 = 0xFFFF_FFFF

    var processes: [String: ModelProcess] = [:]
    var order: [String] = []
    var descriptions: [DescriptionID: OpenDescription] = [:]
    var nextDescription = DescriptionID(raw: 1)
    var files: [FileName: [UInt8]] = [:]
    var memfds: [MemfdID: [UInt8]] = [:]
    /// Files and memfds that may hold holes, with the lowest offset one may start at: a write past the end or
    /// an ftruncate that grew them left a gap, which each filesystem keeps as a hole at its own granularity
    /// (a block, a page) or not at all. Below that offset everything was written (SEEK_DATA, SEEK_HOLE).
    var holesFrom: [ContentsID: Int64] = [:]
    var nextMemfd = MemfdID(raw: 1)
    var pipes: [PipeID: PipeObject] = [:]
    /// The FIFOs made in the scenario directory (mkfifo), each with the pipe its openers share while any is
    /// open (inode->i_pipe; nil when none is: a FIFO keeps no data between openings).
    var fifos: [FileName: FifoNode] = [:]
    /// Processes asleep in the open of a FIFO, waiting for a partner (Model+Fifos.swift).
    var fifoSleepers: [String: FifoSleeper] = [:]
    /// Processes asleep in accept, with the number it took before sleeping (net/socket.c: __sys_accept4_file
    /// calls get_unused_fd_flags before do_accept): a process sharing the table that opens meanwhile gets the
    /// next number (and dup2 onto it is EBUSY), and the connection is installed at this one.
    var reservedByCalls: [String: Int32] = [:]
    /// Processes asleep in the agents' socket + connect (a full accept queue), with the number of the socket made
    /// before the connect slept: in the table meanwhile, and kept by the call (its description is
    /// `callFiles[process][number]`).
    var connectingSockets: [String: Int32] = [:]
    var nextPipe = PipeID(raw: 1)
    var endpoints: [EndpointID: SocketEndpoint] = [:]
    var eventCounters: [EventfdID: UInt64] = [:]
    /// The eventfds made with EFD_SEMAPHORE (a read takes 1 instead of the whole count).
    var eventSemaphores: Set<EventfdID> = []
    var nextEventfd = EventfdID(raw: 1)
    var nextEndpoint = EndpointID(raw: 1)
    /// Descriptor tables by id; a table may be shared by several processes (clone with CLONE_FILES).
    var tables: [TableID: DescriptorTable] = [:]
    var nextTable = TableID(raw: 1)
    /// Socket files that bind(2) created in the scenario directory (they stay after the socket closes).
    var socketFiles: Set<FileName> = []
    /// Live listening sockets by the address they are bound to.
    var bindings: [BoundAddress: EndpointID] = [:]
    /// epoll instances and their interest lists.
    var epolls: [EpollID: EpollObject] = [:]
    var nextEpoll = EpollID(raw: 1)
    /// How each process that exec'd a launcher hands descriptors on, and whether it runs in accept mode
    /// (one service per connection).
    var launchModes: [String: (handover: LauncherHandover, accept: Bool)] = [:]

    /// kernel.yama.ptrace_scope of the machine (0 when Yama is absent). pidfd_getfd (a PTRACE_MODE_ATTACH
    /// check) is subject to it; open of /proc/PID/fd/N (PTRACE_MODE_READ) is not.
    public var ptraceScope: Int = 0
    /// fs.suid_dumpable of the machine: the dumpable value an exec that regains capabilities leaves behind.
    public var suidDumpable: Int = 0
    /// Whether open("/proc/PID/fd/N") of a pidfd makes a new pidfd (pidfs) instead of failing ENXIO; probed.
    public var pidfdsReopen = false
    /// Whether ptrace access checks on an exited task use the dumpability it had at exit (Linux 6.18).
    public var exitedKeepDumpability = false
    /// net.core.somaxconn: listen(2) clamps the backlog to it.
    public var somaxconn: Int = 4096
    /// net.unix.max_dgram_qlen: a datagram socket's receive queue holds more than this only from its peer.
    public var maxDgramQlen: Int = 10

    /// net.unix.max_dgram_qlen and net.core.somaxconn are per network namespace: the runner's (read from this
    /// machine) in the first, the kernel's defaults in one a scenario made (unix_net_init: 10;
    /// netns_core_init: SOMAXCONN, 4096) - a sysctl raised on the host does not reach it.
    func maxDgramQlen(inNamespace namespace: Int) -> Int { namespace == 0 ? maxDgramQlen : 10 }
    func somaxconn(inNamespace namespace: Int) -> Int { namespace == 0 ? somaxconn : 4096 }
    /// The most bytes one unix stream skb carries (SystemProbe.unixStreamSkbPayload; 36544 on x86_64 6.x):
    /// stream sends are cut into skbs of this size (Model+SendBuffer.swift). maximumTransfer or more: no split seen.
    public var unixStreamSkbPayload: Int = 36544
    /// sk_sndbuf of every socket: net.core.wmem_default (212992 here), which unix_writable and
    /// sock_alloc_send_pskb compare sk_wmem_alloc with (Model+SendBuffer.swift).
    public var socketSendBuffer: Int = 212992

    /// The agents' log file (descriptors 1 and 2, inherited): what the scenario wrote there and each
    /// description's position, for lseek and reads through a reopened log; positions are not compared with
    /// the kernel's (a dying agent or a launcher may write there too).
    var logContents: [UInt8] = []
    var logSize: Int64 = 0
    /// The most of the log the model keeps (the runner keeps the log's first MiB intact, ProcessTree.capLog).
    static let logKept: Int64 = 1 << 20
    var logPositions: [DescriptionID: Int64] = [:]

    /// Capabilities an exec as root can give back (the bounding set); every known one unless told otherwise.
    var regainableCapabilities = Set(ReferenceModel.capabilityNames)

    /// Permission bits of the scenario's files (created with `mode` & ~umask; the agents own them all).
    var fileModes: [FileName: UInt32] = [:]
    /// The agents' umask (the runner's, read from /proc/self/status).
    public var umask: UInt32 = 0o022

    /// What reopening a pidfd with O_TRUNC fails with on this kernel (SystemProbe), 0 if it does not.
    public var pidfdReopenTruncErrno: Int32 = EOPNOTSUPP
    /// ftruncate(2) of a pidfd opened for writing through /proc: probed apart (SystemProbe.pidfdFtruncateErrno).
    public var pidfdFtruncateErrno: Int32 = EOPNOTSUPP
    /// pread(2) of a pidfd: EINVAL on pidfs, ESPIPE for an anonymous inode (SystemProbe.pidfdPreadErrno).
    public var pidfdPreadErrno: Int32 = ESPIPE

    /// eventfd_write accepts exactly 8 bytes (newer kernels) rather than at least 8 (SystemProbe).
    public var eventfdWriteExact = true
    /// Whether epoll_ctl refuses nesting deeper than EP_MAX_NESTS counted both ways (ep_loop_check's depth below
    /// the added epoll + 1 + the depth above the target; SystemProbe.epollNestingDepth): without it the model
    /// does not say what such an add does (beyondModel).
    public var epollNestingDepth = true
    /// Whether epoll_wait looks the descriptor up (EBADF) before it checks maxevents (EINVAL), as 6.18 does;
    /// 6.12 and 6.1 check maxevents first (SystemProbe.epollWaitDescriptorFirst).
    public var epollWaitDescriptorFirst = false
    /// Whether pidfd_open knows PIDFD_NONBLOCK and waitid answers EAGAIN through an O_NONBLOCK pidfd (Linux 5.10;
    /// SystemProbe.pidfdNonBlock): before, the flag is EINVAL and waitid ignores the file's O_NONBLOCK.
    public var pidfdNonBlock = true
    /// Whether TCP sockets take SO_PEEK_OFF (Linux 6.9; EOPNOTSUPP before: SystemProbe.tcpPeekOffset).
    public var tcpPeekOffset = true
    /// Each memfd's seals (the inode's: shared by all its descriptions); absent is none.
    var memfdSeals: [MemfdID: Set<MemfdSeal>] = [:]
    /// Whether F_SEAL_EXEC exists (Linux 6.3; SystemProbe.memfdSealExec).
    public var sealExec = true
    /// Whether the scenario directory is on tmpfs, whose files are shmem files with F_SEAL_SEAL
    /// (SystemProbe.isTmpfs).
    public var filesAreShmem = false
    /// fs.pipe-max-size: the largest pipe F_SETPIPE_SZ gives without CAP_SYS_RESOURCE.
    public var pipeMaxSize = Linux.defaultPipeMaxSize
    /// Whether the agents run in the initial user namespace: capable() asks that one, so outside it no
    /// capability the agents hold counts there (pipe_set_size's CAP_SYS_RESOURCE).
    public var initialUserNamespace = true
    /// Whether epoll files answer ioctl themselves (SystemProbe.epollIoctl, Linux 6.9): EINVAL, not ENOTTY.
    public var epollIoctl = true
    /// Each process's network namespace (0: the runner's); absent is 0. fork inherits it (copy_net_ns is
    /// not asked for), exec keeps it.
    var netns: [String: Int] = [:]
    var nextNetns = 1

    /// The ids sockets report (SO_PEERCRED, SCM_CREDENTIALS), as the agents' user namespace sees them.
    public var socketIDs = SocketIDs()

    /// Linux 6.16's SO_PASS* rules (probed with SO_PASSRIGHTS): the switches exist on AF_UNIX only
    /// (EOPNOTSUPP elsewhere) and a connection takes its listener's at connect; before, any socket kept
    /// them and unix_accept copied them (unix_sock_inherit_flags).
    public var passOptionsSince616 = true

    /// Unix stream sockets know MSG_OOB (CONFIG_AF_UNIX_OOB, 5.15; SystemProbe.unixOOB).
    public var unixOOB = true
    /// unix_dgram_sendmsg autobinds and checks SEND_SHUTDOWN before it looks for the peer (6.18;
    /// SystemProbe.unixDgramShutdownFirst); false: the peer first (ENOTCONN), as 6.12 and 6.1 do.
    public var dgramShutdownFirst = true

    /// Numbers the harness itself holds in a process's table (the agents' control channels, at the top of
    /// the range): no descriptor the scenario creates can get them. The runner sets them before each step.
    public var harnessNumbers: [String: Set<Int32>] = [:]

    /// The files each call asleep keeps (fs/file.c: fdget takes a reference where the table is shared, and
    /// the call fdput()s it only when it returns): by process, the descriptions its descriptors named when it
    /// began, each counted as a reference until the call returns (returnFiles). A sharer of its table that
    /// closes or replaces such a descriptor meanwhile releases nothing: the read asleep on a pipe goes on
    /// reading it, and its writers see a reader.
    var callFiles: [String: [Int32: DescriptionID]] = [:]
    /// The process whose sleeping call the runner is predicting: its lookups of the call's numbers find the
    /// files the call kept, whatever its table holds now. nil otherwise, so that nothing else (a reopen of
    /// /proc/PID/fd/N, a pidfd_getfd) sees them.
    var applyingCallOf: String?

    /// Rules broken on purpose, to show that the oracles and `handoff fuzz` catch a wrong model (tests and
    /// demos only; never set by `handoff run`).
    public var brokenRules: Set<BrokenModelRule> = []

    public init(root: String = "main", nofileLimit: Int32, initial: [InitialDescriptor] = InitialDescriptor.standard) {
        var table: [Int32: TableEntry] = [:]
        for entry in initial {
            let id = nextDescription.take()
            let target: DescriptionTarget
            switch entry.kind {
            case .inherited(let what): target = .inherited(what)
            default: target = .inherited(entry.kind.description)
            }
            descriptions[id] = OpenDescription(id: id, target: target, accessMode: entry.accessMode,
                                               statusFlags: entry.statusFlags, offset: nil,
                                               references: entry.numbers.count)
            for number in entry.numbers {
                table[number] = TableEntry(description: id, closeOnExec: false)
            }
        }
        let tableID = nextTable.take()
        tables[tableID] = DescriptorTable(entries: table, users: 1)
        processes[root] = ModelProcess(name: root, parent: nil, state: .running, tableID: tableID,
                                       nofileLimit: nofileLimit, hardNofileLimit: nofileLimit)
        order = [root]
    }

    // MARK: - Public views

    public var processNames: [String] { order }

    public func state(of process: String) -> ModelProcessState? { processes[process]?.state }

    public func parent(of process: String) -> String? { processes[process]?.parent }

    public func table(of process: String) -> [Int32: ModelDescriptor] {
        guard let proc = processes[process], proc.state == .running else { return [:] }
        var result: [Int32: ModelDescriptor] = [:]
        for (number, entry) in self[tableOf: process] {
            result[number] = ModelDescriptor(number: number, description: entry.description,
                                             closeOnExec: entry.closeOnExec)
        }
        return result
    }

    public func description(_ id: DescriptionID) -> ModelDescription {
        guard let desc = descriptions[id] else {
            return ModelDescription(id: id, kind: .inherited("unknown description \(id)"), accessMode: .readOnly,
                                    statusFlags: [], offset: nil)
        }
        return ModelDescription(id: id, kind: kind(of: desc.target), accessMode: desc.accessMode,
                                statusFlags: desc.statusFlags, offset: desc.offset)
    }

    /// The current soft RLIMIT_NOFILE of `process`.
    public func nofileLimit(of process: String) -> Int32 { processes[process]?.nofileLimit ?? 0 }

    func kind(of target: DescriptionTarget) -> ObjectKind {
        switch target {
        case .file(let name): return .file(path: name.description)
        case .memfd(_, let name): return .memfd(name: name)
        case .pipeRead(let p), .pipeWrite(let p), .pipeReadWrite(let p):
            if let name = pipes[p]?.fifo { return .fifo(path: name.description) }
            return .pipe
        case .socket(let endpoint): return .socket(endpoints[endpoint]?.type ?? .stream)
        case .pidfd: return .pidfd
        case .eventfd: return .eventfd
        case .epoll: return .epoll
        case .anonymous(let object): return .anonymous(object.kind)
        case .inherited(let what): return .inherited(what)
        }
    }


    // MARK: - Apply

    /// Predicts `operation` by `process` and applies it to the model. It dispatches by family to the family's
    /// model file (Model+FileOperations.swift and the like), whose `apply` names each operation's rule; a rule
    /// lives there or in the extension of the kernel object it concerns.
    public mutating func apply(_ operation: Operation, by process: String) -> Outcome {
        guard processes[process]?.state == .running else { return .failure(ESRCH) }
        // fdget() refuses FMODE_PATH files for everything but the "raw" descriptor operations.
        if let fd = needsFullFile(operation), let entry = self[tableOf: process][fd],
            descriptions[entry.description]?.pathOnly == true
        {
            return .failure(EBADF)
        }
        // The wake-ups epoll sees that the step's rules do not announce themselves (Model+Wakeups.swift).
        let wakeups = wakeupSnapshot()
        let outcome: Outcome
        switch operation {
        case .files(let operation): outcome = apply(files: operation, by: process)
        case .table(let operation): outcome = apply(table: operation, by: process)
        case .sockets(let operation): outcome = apply(sockets: operation, by: process)
        case .messages(let operation): outcome = apply(messages: operation, by: process)
        case .events(let operation): outcome = apply(events: operation, by: process)
        case .processes(let operation): outcome = apply(processes: operation, by: process)
        }
        if let wakeups { followWakeups(since: wakeups) }
        return outcome
    }
}

/// A rule of the model broken on purpose (`ReferenceModel.brokenRules`): the proof that a wrong model is
/// found, by the catalog's oracles and by `handoff fuzz` from scratch.
public enum BrokenModelRule: String, CaseIterable, Sendable, Codable {
    /// dup2 copies the source's close-on-exec flag (the kernel clears it: do_dup2 with flags 0).
    case dup2KeepsCloseOnExec = "dup2-keeps-cloexec"
    /// fork leaves close-on-exec descriptors out of the child (the kernel copies them: dup_fd).
    case forkDropsCloseOnExec = "fork-drops-cloexec"
    /// An opener asleep in fifo_open never sees its partner come (the kernel's open returns: wait_for_partner).
    case fifoOpenMissesPartner = "fifo-open-misses-partner"
}
