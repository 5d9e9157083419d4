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
// - An exec that regains dropped capabilities (uid 0) leaves the process dumpable only if fs.suid_dumpable
//   is 1 (commit_creds); `suidDumpable`, `ptraceScope` (Yama) and `somaxconn` describe the machine.
//
// Not modelled (documented simplifications): socket send-buffer limits and stream message splitting into
// ~36 KiB skbs, the AF_UNIX garbage collector (cycles of in-flight sockets stay alive here), file
// permissions and directories, the per-user in-flight fd limit (ETOOMANYREFS, only for unprivileged
// runners), O_WRONLY|O_RDWR opens (treated as O_RDWR), files larger than 256 MiB (refused with EFBIG),
// TCP send/receive buffer sizes and windows, ports held by other programs on the machine, an sctp module
// that would make seqpacket over TCP work, UDP beyond "nothing listens, every datagram draws ICMP port
// unreachable", and reopening pidfds on pidfs (assumed ENXIO like sockets).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct ReferenceModel: Sendable {
    static let scmMaxFD = 253
    static let oCloexec: Int32 = 0o2000000
    static let msgCtrunc: Int32 = 0x8
    static let msgTrunc: Int32 = 0x20
    static let oAccmode: Int64 = 3
    static let oAppend: Int64 = 0o2000
    static let oNonblock: Int64 = 0o4000
    static let maximumModelledFileSize = 256 << 20

    var processes: [String: ModelProcess] = [:]
    var order: [String] = []
    var descriptions: [DescriptionID: OpenDescription] = [:]
    var nextDescription: DescriptionID = 1
    var files: [String: [UInt8]] = [:]
    var memfds: [Int: [UInt8]] = [:]
    var nextMemfd = 1
    var pipes: [Int: PipeObject] = [:]
    var nextPipe = 1
    var endpoints: [Int: SocketEndpoint] = [:]
    var eventCounters: [Int: UInt64] = [:]
    var nextEventfd = 1
    var nextEndpoint = 1
    /// Descriptor tables by id; a table may be shared by several processes (clone with CLONE_FILES).
    var tables: [Int: DescriptorTable] = [:]
    var nextTable = 1
    /// Socket files that bind(2) created in the scenario directory (they stay after the socket closes).
    var socketFiles: Set<String> = []
    /// Live listening sockets by the address they are bound to.
    var bindings: [BoundAddress: Int] = [:]
    /// Whether each process that exec'd a launcher runs it in accept mode (one service per connection).
    var launchModes: [String: Bool] = [:]

    /// kernel.yama.ptrace_scope of the machine (0 when Yama is absent). pidfd_getfd (a PTRACE_MODE_ATTACH
    /// check) is subject to it; open of /proc/PID/fd/N (PTRACE_MODE_READ) is not.
    public var ptraceScope: Int = 0
    /// fs.suid_dumpable of the machine: the dumpable value an exec that regains capabilities leaves behind.
    public var suidDumpable: Int = 0
    /// net.core.somaxconn: listen(2) clamps the backlog to it.
    public var somaxconn: Int = 4096

    public init(root: String = "main", nofileLimit: Int32, initial: [InitialDescriptor] = InitialDescriptor.standard) {
        var table: [Int32: TableEntry] = [:]
        for entry in initial {
            let id = nextDescription
            nextDescription += 1
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
        tables[nextTable] = DescriptorTable(entries: table, users: 1)
        processes[root] = ModelProcess(name: root, parent: nil, state: .running, tableID: nextTable,
                                       nofileLimit: nofileLimit, hardNofileLimit: nofileLimit)
        nextTable += 1
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

    /// The table `process` uses (shared or private); empty once it exited.
    subscript(tableOf process: String) -> [Int32: TableEntry] {
        get {
            guard let id = processes[process]?.tableID else { return [:] }
            return tables[id]?.entries ?? [:]
        }
        _modify {
            let id = processes[process]!.tableID!
            yield &tables[id]!.entries
        }
    }

    func kind(of target: DescriptionTarget) -> ObjectKind {
        switch target {
        case .file(let path): return .file(path: path)
        case .memfd(_, let name): return .memfd(name: name)
        case .pipeRead, .pipeWrite, .pipeReadWrite: return .pipe
        case .socket(let endpoint): return .socket(endpoints[endpoint]?.type ?? .stream)
        case .pidfd: return .pidfd
        case .eventfd: return .eventfd
        case .inherited(let what): return .inherited(what)
        }
    }

    // MARK: - Apply

    public mutating func apply(_ operation: Operation, by process: String) -> Outcome {
        guard let proc = processes[process], proc.state == .running else { return .failure(ESRCH) }
        if let fd = needsFullFile(operation), let entry = self[tableOf: process][fd],
            descriptions[entry.description]?.pathOnly == true
        {
            return .failure(EBADF)
        }
        switch operation {
        case let .launch(_, _, _, listen, acceptMode):
            launchModes[process] = acceptMode
            return launch(process, listen: listen, acceptMode: acceptMode)
        case let .attach(child):
            return attach(process, child: child, acceptMode: launchModes[process] ?? false)
        case let .shutdown(socket, how):
            return shutdown(process, socket: socket, how: how)
        case let .epollCreate(closeOnExec):
            return epollCreate(process, closeOnExec: closeOnExec)
        case let .epollCtl(epoll, op, fd, events):
            return epollCtl(process, epoll: epoll, op: op, fd: fd, events: events)
        case let .open(path, flags, _):
            return open(process, path: path, flags: flags)
        case let .pipe(closeOnExec, nonBlocking):
            return pipe(process, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .socketpair(type, closeOnExec, nonBlocking):
            return socketpair(process, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .memfd(name, closeOnExec):
            return memfd(process, name: name, closeOnExec: closeOnExec)
        case let .eventfd(initial, closeOnExec, nonBlocking):
            return eventfd(process, initial: initial, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .dup(fd):
            guard let entry = self[tableOf: process][fd] else { return .failure(EBADF) }
            return duplicate(process, entry.description, minimum: 0, closeOnExec: false)
        case let .dup2(fd, target):
            guard self[tableOf: process][fd] != nil else { return .failure(EBADF) }
            if fd == target { return Outcome(result: Int64(fd), fds: [fd]) }
            guard target >= 0, target < proc.nofileLimit else { return .failure(EBADF) }
            return duplicateOnto(process, fd: fd, target: target, closeOnExec: false)
        case let .dup3(fd, target, flags):
            if flags & ~ReferenceModel.oCloexec != 0 { return .failure(EINVAL) }
            if fd == target { return .failure(EINVAL) }
            guard target >= 0, target < proc.nofileLimit else { return .failure(EBADF) }
            guard self[tableOf: process][fd] != nil else { return .failure(EBADF) }
            return duplicateOnto(process, fd: fd, target: target, closeOnExec: flags & ReferenceModel.oCloexec != 0)
        case let .fcntl(fd, command):
            return fcntl(process, fd: fd, command: command)
        case let .close(fd):
            guard let entry = self[tableOf: process][fd] else { return .failure(EBADF) }
            self[tableOf: process][fd] = nil
            release(entry.description)
            return Outcome(result: 0)
        case let .closeRange(first, last, closeOnExec, unshare):
            // close_range validates its range before CLOSE_RANGE_UNSHARE takes a private copy.
            guard first <= last else { return .failure(EINVAL) }
            if unshare { unshareTable(process) }
            return closeRange(process, first: first, last: last, closeOnExec: closeOnExec)
        case let .lseek(fd, offset, whence):
            return lseek(process, fd: fd, offset: offset, whence: whence)
        case let .read(fd, count):
            return read(process, fd: fd, count: count)
        case let .write(fd, data):
            return write(process, fd: fd, data: data)
        case let .fork(child):
            return fork(process, child: child)
        case .exec:
            return exec(process)
        case let .exit(status):
            exit(process, state: .exited(status: status & 0xff))
            return Outcome()
        case let .wait(child):
            return wait(process, child: child)
        case let .send(socket, fds, data):
            return send(process, socket: socket, fds: fds, data: data)
        case let .recv(socket, count, room, closeOnExec, nonBlocking):
            return recv(process, socket: socket, count: count, room: room, closeOnExec: closeOnExec,
                        nonBlocking: nonBlocking, viaRead: false)
        case let .pidfdOpen(target):
            guard let t = processes[target], t.state != .reaped else { return .failure(ESRCH) }
            // pidfd_open always returns a close-on-exec descriptor. A killed agent is assumed to be still
            // unreaped (a zombie), which pidfd_open accepts; if the runner's reaper already collected it the
            // kernel says ESRCH instead (uncertain, depends on the runner).
            return install(process, target: .pidfd(process: target), access: .readWrite, flags: [],
                           closeOnExec: true)
        case let .pidfdGetfd(target, fd, flags):
            if flags != 0 { return .failure(EINVAL) }
            guard let t = processes[target], t.state != .reaped else { return .failure(ESRCH) }
            // __pidfd_fget checks ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS) before it looks at the
            // table, so EPERM comes before ESRCH (exiting target) and EBADF (bad number).
            if ptraceDenied(caller: process, target: target, attach: true) { return .failure(EPERM) }
            // Since Linux 6.9 ("pidfd: getfd should always report ESRCH if a task is exiting") a target
            // that has exited (no files table) gives ESRCH, not EBADF.
            guard t.state == .running else { return .failure(ESRCH) }
            guard let entry = self[tableOf: target][fd] else { return .failure(EBADF) }
            return duplicate(process, entry.description, minimum: 0, closeOnExec: true)
        case let .listen(address, type, closeOnExec, nonBlocking, backlog):
            return listen(process, address: address, type: type, closeOnExec: closeOnExec,
                          nonBlocking: nonBlocking, backlog: backlog)
        case let .connect(address, type, closeOnExec, nonBlocking):
            return connect(process, address: address, type: type, closeOnExec: closeOnExec,
                           nonBlocking: nonBlocking)
        case let .accept(socket, closeOnExec, nonBlocking):
            return accept(process, socket: socket, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .setrlimit(nofile):
            // The soft limit may not exceed the hard one (EINVAL); the hard limit stays as it is.
            guard nofile <= UInt64(proc.hardNofileLimit) else { return .failure(EINVAL) }
            processes[process]!.nofileLimit = Int32(nofile)
            return Outcome(result: 0)
        case let .dropCapability(name):
            guard let canonical = ReferenceModel.capabilityName(name) else { return .failure(EINVAL) }
            processes[process]!.droppedCapabilities.insert(canonical)
            return Outcome(result: 0)
        case let .setDumpable(value):
            processes[process]!.dumpable = value
            return Outcome(result: 0)
        case let .reopen(target, fd, flags):
            return reopen(process, target: target, fd: fd, flags: flags)
        case let .cloneFiles(child):
            return cloneFiles(process, child: child)
        case .unshareFiles:
            unshareTable(process)
            return Outcome(result: 0)
        }
    }

    // MARK: - Descriptor numbers

    func lowestFree(_ process: String, from minimum: Int32) -> Int32? {
        guard let proc = processes[process] else { return nil }
        let table = self[tableOf: process]
        var n = max(0, minimum)
        while table[n] != nil { n += 1 }
        return n < proc.nofileLimit ? n : nil
    }

    /// Lowest `count` free numbers (allocated one after the other), or nil if they do not all fit.
    func lowestFree(_ process: String, count: Int) -> [Int32]? {
        guard let proc = processes[process] else { return nil }
        let table = self[tableOf: process]
        var result: [Int32] = []
        var n: Int32 = 0
        while result.count < count {
            while table[n] != nil { n += 1 }
            guard n < proc.nofileLimit else { return nil }
            result.append(n)
            n += 1
        }
        return result
    }

    mutating func newDescription(_ target: DescriptionTarget, access: AccessMode, flags: Set<StatusFlag>,
                                 offset: Int64?) -> DescriptionID {
        let id = nextDescription
        nextDescription += 1
        descriptions[id] = OpenDescription(id: id, target: target, accessMode: access, statusFlags: flags,
                                           offset: offset, references: 0)
        return id
    }

    mutating func place(_ process: String, number: Int32, description: DescriptionID, closeOnExec: Bool) {
        descriptions[description]!.references += 1
        self[tableOf: process][number] = TableEntry(description: description, closeOnExec: closeOnExec)
    }

    mutating func install(_ process: String, target: DescriptionTarget, access: AccessMode,
                          flags: Set<StatusFlag>, closeOnExec: Bool, offset: Int64? = nil) -> Outcome {
        guard let n = lowestFree(process, from: 0) else { return .failure(EMFILE) }
        let id = newDescription(target, access: access, flags: flags, offset: offset)
        place(process, number: n, description: id, closeOnExec: closeOnExec)
        return Outcome(result: Int64(n), fds: [n])
    }

    mutating func duplicate(_ process: String, _ description: DescriptionID, minimum: Int32,
                            closeOnExec: Bool) -> Outcome {
        guard let n = lowestFree(process, from: minimum) else { return .failure(EMFILE) }
        place(process, number: n, description: description, closeOnExec: closeOnExec)
        return Outcome(result: Int64(n), fds: [n])
    }

    mutating func duplicateOnto(_ process: String, fd: Int32, target: Int32, closeOnExec: Bool) -> Outcome {
        let source = self[tableOf: process][fd]!.description
        let old = self[tableOf: process][target]
        // Take the new reference before dropping the old one: target may already share the description.
        place(process, number: target, description: source, closeOnExec: closeOnExec)
        if let old { release(old.description) }
        return Outcome(result: Int64(target), fds: [target])
    }

    // MARK: - Creation

    mutating func open(_ process: String, path: String, flags: Set<OpenFlag>) -> Outcome {
        if flags.contains(.path) { return openPath(process, path: path, closeOnExec: flags.contains(.cloexec)) }
        let access: AccessMode = flags.contains(.rdwr) ? .readWrite : flags.contains(.wronly) ? .writeOnly : .readOnly
        // getname() rejects an empty path before anything else; then the number is reserved
        // (get_unused_fd_flags before do_filp_open), so EMFILE wins over every lookup error.
        if path.isEmpty { return .failure(ENOENT) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let components = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if components.contains(where: { $0.utf8.count > 255 }) { return .failure(ENAMETOOLONG) }
        guard components.count == 1 else {
            // Only plain names in the scenario directory exist; a path through a regular file is ENOTDIR.
            if components.count > 1, isNonDirectory(String(components[0])) { return .failure(ENOTDIR) }
            return .failure(ENOENT)
        }
        let name = String(components[0])
        if socketFiles.contains(name) {
            // A socket file: O_CREAT|O_EXCL finds it (EEXIST); otherwise its inode has no open (ENXIO).
            if flags.contains(.creat) && flags.contains(.excl) { return .failure(EEXIST) }
            return .failure(ENXIO)
        }
        if files[name] != nil {
            if flags.contains(.creat) && flags.contains(.excl) { return .failure(EEXIST) }
            // Linux truncates on O_TRUNC whatever the access mode (O_RDONLY|O_TRUNC included).
            if flags.contains(.trunc) { files[name] = [] }
        } else {
            guard flags.contains(.creat) else { return .failure(ENOENT) }
            files[name] = []
        }
        var status: Set<StatusFlag> = []
        if flags.contains(.append) { status.insert(.append) }
        if flags.contains(.nonblock) { status.insert(.nonblock) }
        return install(process, target: .file(path: name), access: access, flags: status,
                       closeOnExec: flags.contains(.cloexec), offset: 0)
    }

    /// open(O_PATH): every flag but O_CLOEXEC (and O_DIRECTORY/O_NOFOLLOW) is ignored, nothing is created,
    /// and the file need not be openable for I/O - a socket file included.
    mutating func openPath(_ process: String, path: String, closeOnExec: Bool) -> Outcome {
        if path.isEmpty { return .failure(ENOENT) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let components = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard components.count == 1 else { return .failure(components.count > 1 && isNonDirectory(String(components[0])) ? ENOTDIR : ENOENT) }
        let name = String(components[0])
        guard isNonDirectory(name) else { return .failure(ENOENT) }
        let outcome = install(process, target: .file(path: name), access: .readOnly, flags: [], closeOnExec: closeOnExec,
                              offset: 0)
        if let number = outcome.fds.first, let id = self[tableOf: process][number]?.description {
            descriptions[id]!.pathOnly = true
        }
        return outcome
    }

    /// The descriptor an operation needs a full (non-O_PATH) file for: fdget() refuses FMODE_PATH files.
    func needsFullFile(_ operation: Operation) -> Int32? {
        switch operation {
        case .read(let fd, _), .write(let fd, _), .lseek(let fd, _, _), .send(let fd, _, _), .recv(let fd, _, _, _, _),
             .accept(let fd, _, _), .fcntl(let fd, .setfl):
            return fd
        default:
            return nil
        }
    }

    mutating func pipe(_ process: String, closeOnExec: Bool, nonBlocking: Bool) -> Outcome {
        guard let numbers = lowestFree(process, count: 2) else { return .failure(EMFILE) }
        let pipeID = nextPipe
        nextPipe += 1
        pipes[pipeID] = PipeObject(slots: [], readers: 1, writers: 1)
        let flags: Set<StatusFlag> = nonBlocking ? [.nonblock] : []
        let r = newDescription(.pipeRead(pipe: pipeID), access: .readOnly, flags: flags, offset: nil)
        let w = newDescription(.pipeWrite(pipe: pipeID), access: .writeOnly, flags: flags, offset: nil)
        place(process, number: numbers[0], description: r, closeOnExec: closeOnExec)
        place(process, number: numbers[1], description: w, closeOnExec: closeOnExec)
        return Outcome(result: 0, fds: numbers)
    }

    mutating func socketpair(_ process: String, type: SocketType, closeOnExec: Bool, nonBlocking: Bool) -> Outcome {
        guard let numbers = lowestFree(process, count: 2) else { return .failure(EMFILE) }
        let a = nextEndpoint
        let b = nextEndpoint + 1
        nextEndpoint += 2
        endpoints[a] = SocketEndpoint(type: type, peer: b)
        endpoints[b] = SocketEndpoint(type: type, peer: a)
        let flags: Set<StatusFlag> = nonBlocking ? [.nonblock] : []
        let da = newDescription(.socket(endpoint: a), access: .readWrite, flags: flags, offset: nil)
        let db = newDescription(.socket(endpoint: b), access: .readWrite, flags: flags, offset: nil)
        place(process, number: numbers[0], description: da, closeOnExec: closeOnExec)
        place(process, number: numbers[1], description: db, closeOnExec: closeOnExec)
        return Outcome(result: 0, fds: numbers)
    }

    mutating func eventfd(_ process: String, initial: UInt32, closeOnExec: Bool, nonBlocking: Bool) -> Outcome {
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let object = nextEventfd
        nextEventfd += 1
        eventCounters[object] = UInt64(initial)
        return install(process, target: .eventfd(object: object), access: .readWrite,
                       flags: nonBlocking ? [.nonblock] : [], closeOnExec: closeOnExec)
    }

    mutating func memfd(_ process: String, name: String, closeOnExec: Bool) -> Outcome {
        // MFD_NAME_MAX_LEN = NAME_MAX - strlen("memfd:") = 249, checked before the number is reserved.
        if name.utf8.count > 249 { return .failure(EINVAL) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let object = nextMemfd
        nextMemfd += 1
        memfds[object] = []
        return install(process, target: .memfd(object: object, name: name), access: .readWrite, flags: [],
                       closeOnExec: closeOnExec, offset: 0)
    }

    // MARK: - fcntl, close_range, lseek

    mutating func fcntl(_ process: String, fd: Int32, command: FcntlCommand) -> Outcome {
        guard let entry = self[tableOf: process][fd] else { return .failure(EBADF) }
        let limit = processes[process]!.nofileLimit
        switch command {
        case .dupfd(let minimum), .dupfdCloexec(let minimum):
            // The kernel takes the argument as unsigned: a negative minimum is huge, hence EINVAL.
            guard minimum >= 0, minimum < limit else { return .failure(EINVAL) }
            var cloexec = false
            if case .dupfdCloexec = command { cloexec = true }
            return duplicate(process, entry.description, minimum: minimum, closeOnExec: cloexec)
        case .getfd:
            return Outcome(result: entry.closeOnExec ? 1 : 0)
        case .setfd(let closeOnExec):
            self[tableOf: process][fd]!.closeOnExec = closeOnExec
            return Outcome(result: 0)
        case .getfl:
            let desc = descriptions[entry.description]!
            var value: Int64
            switch desc.accessMode {
            case .readOnly: value = Int64(O_RDONLY)
            case .writeOnly: value = Int64(O_WRONLY)
            case .readWrite: value = Int64(O_RDWR)
            }
            if desc.append { value |= ReferenceModel.oAppend }
            if desc.nonBlocking { value |= ReferenceModel.oNonblock }
            return Outcome(result: value,
                           resultMask: ReferenceModel.oAccmode | ReferenceModel.oAppend | ReferenceModel.oNonblock)
        case .setfl(let flags):
            descriptions[entry.description]!.statusFlags = flags
            return Outcome(result: 0)
        }
    }

    mutating func closeRange(_ process: String, first: UInt32, last: UInt32, closeOnExec: Bool) -> Outcome {
        let numbers = self[tableOf: process].keys
            .filter { $0 >= 0 && UInt32($0) >= first && UInt32($0) <= last }
            .sorted()
        for number in numbers {
            if closeOnExec {
                self[tableOf: process][number]!.closeOnExec = true
            } else {
                let entry = self[tableOf: process].removeValue(forKey: number)!
                release(entry.description)
            }
        }
        return Outcome(result: 0)
    }

    func contentsSize(_ target: DescriptionTarget) -> Int64? {
        switch target {
        case .file(let path): return Int64(files[path]?.count ?? 0)
        case .memfd(let object, _): return Int64(memfds[object]?.count ?? 0)
        default: return nil
        }
    }

    mutating func lseek(_ process: String, fd: Int32, offset: Int64, whence: Whence) -> Outcome {
        guard let entry = self[tableOf: process][fd] else { return .failure(EBADF) }
        let desc = descriptions[entry.description]!
        switch desc.target {
        case .pipeRead, .pipeWrite, .pipeReadWrite, .socket, .pidfd, .eventfd:
            // No llseek in their file_operations (pidfd included): vfs_llseek says ESPIPE.
            return .failure(ESPIPE)
        case .inherited:
            // /dev/null always seeks to 0, the log file's size is unknown: not predictable.
            return Outcome(result: nil)
        case .file, .memfd:
            let current = desc.offset ?? 0
            let base: Int64
            switch whence {
            case .set: base = 0
            case .cur: base = current
            case .end: base = contentsSize(desc.target) ?? 0
            }
            let (sum, overflow) = base.addingReportingOverflow(offset)
            guard !overflow else { return .failure(EOVERFLOW) }
            guard sum >= 0 else { return .failure(EINVAL) }
            descriptions[entry.description]!.offset = sum
            return Outcome(result: sum)
        }
    }

    // MARK: - read / write

    mutating func read(_ process: String, fd: Int32, count: Int) -> Outcome {
        guard let entry = self[tableOf: process][fd] else { return .failure(EBADF) }
        let desc = descriptions[entry.description]!
        guard desc.readable else { return .failure(EBADF) }
        switch desc.target {
        case .inherited:
            return Outcome(result: 0, data: [])
        case .pidfd:
            return .failure(EINVAL)
        case .eventfd(let object):
            // eventfd_read: fewer than 8 bytes is EINVAL; a zero counter waits (EAGAIN when non-blocking);
            // otherwise the counter, little-endian, and it is reset (no EFD_SEMAPHORE).
            if count < 8 { return .failure(EINVAL) }
            let value = eventCounters[object] ?? 0
            if value == 0 { return desc.nonBlocking ? .failure(EAGAIN) : Outcome(blocks: true) }
            eventCounters[object] = 0
            return Outcome(result: 8, data: (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) })
        case .file, .memfd:
            let contents = self.contents(of: desc.target)
            let offset = Int(desc.offset ?? 0)
            let n = max(0, min(count, contents.count - offset))
            let bytes = n > 0 ? Array(contents[offset..<(offset + n)]) : []
            descriptions[entry.description]!.offset = Int64(offset + n)
            return Outcome(result: Int64(n), data: bytes)
        case .pipeRead(let pipeID), .pipeWrite(let pipeID), .pipeReadWrite(let pipeID):
            if count == 0 { return Outcome(result: 0, data: []) }
            var pipe = pipes[pipeID]!
            if pipe.available == 0 {
                if pipe.writers == 0 { return Outcome(result: 0, data: []) }
                if desc.nonBlocking { return .failure(EAGAIN) }
                return Outcome(blocks: true)
            }
            let bytes = pipe.take(count)
            pipes[pipeID] = pipe
            return Outcome(result: Int64(bytes.count), data: bytes)
        case .socket:
            // sock_read_iter answers a zero-length read with 0 before asking the protocol.
            if count == 0 { return Outcome(result: 0, data: []) }
            return recv(process, socket: fd, count: count, room: 0, closeOnExec: false, nonBlocking: false,
                        viaRead: true)
        }
    }

    func contents(of target: DescriptionTarget) -> [UInt8] {
        switch target {
        case .file(let path): return files[path] ?? []
        case .memfd(let object, _): return memfds[object] ?? []
        default: return []
        }
    }

    mutating func setContents(_ target: DescriptionTarget, _ bytes: [UInt8]) {
        switch target {
        case .file(let path): files[path] = bytes
        case .memfd(let object, _): memfds[object] = bytes
        default: break
        }
    }

    mutating func write(_ process: String, fd: Int32, data: [UInt8]) -> Outcome {
        guard let entry = self[tableOf: process][fd] else { return .failure(EBADF) }
        let desc = descriptions[entry.description]!
        guard desc.writable else { return .failure(EBADF) }
        switch desc.target {
        case .inherited:
            return Outcome(result: Int64(data.count))
        case .pidfd:
            return .failure(EINVAL)
        case .eventfd(let object):
            // eventfd_write: exactly 8 bytes (fewer: EINVAL), a value below 2^64-1 (else EINVAL) added to the
            // counter; a sum past 2^64-2 would wait (not modelled: scenarios stay far below).
            if data.count < 8 { return .failure(EINVAL) }
            let value = (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[$1]) << ($1 * 8) }
            if value == UInt64.max { return .failure(EINVAL) }
            eventCounters[object, default: 0] &+= value
            return Outcome(result: 8)
        case .file, .memfd:
            // A zero-length write changes nothing (not even an O_APPEND offset).
            if data.isEmpty { return Outcome(result: 0) }
            var contents = self.contents(of: desc.target)
            let start = desc.append ? contents.count : Int(desc.offset ?? 0)
            // Model limit, not kernel behaviour: contents are stored densely, so refuse to materialise
            // files beyond 256 MiB (the kernel would create a sparse file) instead of exhausting memory.
            if start + data.count > ReferenceModel.maximumModelledFileSize { return .failure(EFBIG) }
            if contents.count < start { contents += [UInt8](repeating: 0, count: start - contents.count) }
            let overlap = min(data.count, contents.count - start)
            if overlap > 0 { contents.replaceSubrange(start..<(start + overlap), with: data[0..<overlap]) }
            if overlap < data.count { contents += data[overlap...] }
            setContents(desc.target, contents)
            descriptions[entry.description]!.offset = Int64(start + data.count)
            return Outcome(result: Int64(data.count))
        case .pipeRead(let pipeID), .pipeWrite(let pipeID), .pipeReadWrite(let pipeID):
            // "Null write succeeds" comes before the readers check in pipe_write.
            if data.isEmpty { return Outcome(result: 0) }
            var pipe = pipes[pipeID]!
            // The agent ignores SIGPIPE, so the caller sees EPIPE.
            if pipe.readers == 0 { return .failure(EPIPE) }
            switch pipe.write(data, nonBlocking: desc.nonBlocking) {
            case .wouldBlock:
                return Outcome(blocks: true)
            case .wrote(let n):
                if n == 0 { return .failure(EAGAIN) }
                pipes[pipeID] = pipe
                return Outcome(result: Int64(n))
            }
        case .socket:
            return send(process, socket: fd, fds: [], data: data)
        }
    }

    // MARK: - SCM_RIGHTS

    mutating func send(_ process: String, socket: Int32, fds: [Int32], data: [UInt8]) -> Outcome {
        let table = self[tableOf: process]
        guard let entry = table[socket] else { return .failure(EBADF) }
        guard case .socket(let endpointID) = descriptions[entry.description]!.target else {
            return .failure(ENOTSOCK)
        }
        let endpoint = endpoints[endpointID]!
        if endpoint.family != .unix {
            return sendInet(endpointID, data: data)
        }
        if endpoint.listener != nil {
            // A listening unix socket has no peer: seqpacket says ENOTCONN at once; stream validates the
            // descriptors (scm_send) first.
            if endpoint.type == .stream {
                if fds.count > ReferenceModel.scmMaxFD { return .failure(EINVAL) }
                if fds.contains(where: { table[$0] == nil }) { return .failure(EBADF) }
            }
            return .failure(ENOTCONN)
        }
        // unix_seqpacket_sendmsg reports (and clears) a pending socket error before anything else.
        if endpoint.type == .seqpacket, let error = endpoint.pendingError {
            endpoints[endpointID]!.pendingError = nil
            return .failure(error)
        }
        // scm_send: the descriptor list is validated before the peer is looked at.
        if fds.count > ReferenceModel.scmMaxFD { return .failure(EINVAL) }
        var attached: [DescriptionID] = []
        for fd in fds {
            guard let e = table[fd] else { return .failure(EBADF) }
            attached.append(e.description)
        }
        let peerID = endpoint.peer
        let peerClosed = endpoints[peerID]!.closed
        switch endpoint.type {
        case .stream:
            if peerClosed { return .failure(EPIPE) }
            // A zero-length stream send queues nothing; the descriptors are dropped.
            if data.isEmpty { return Outcome(result: 0) }
        case .seqpacket:
            if peerClosed { return .failure(EPIPE) }
        case .dgram:
            if endpoint.disconnected { return .failure(ENOTCONN) }
            if peerClosed {
                // The first send after the peer died disconnects and purges our own receive queue
                // (unix_dgram_disconnected).
                endpoints[endpointID]!.disconnected = true
                let purged = endpoints[endpointID]!.queue
                endpoints[endpointID]!.queue = []
                for message in purged {
                    for d in message.descriptions { release(d) }
                }
                return .failure(ECONNREFUSED)
            }
        }
        for d in attached { descriptions[d]!.references += 1 }
        endpoints[peerID]!.queue.append(SocketMessage(data: data, descriptions: attached, sender: process))
        return Outcome(result: Int64(data.count))
    }

    /// CMSG_SPACE(room * sizeof(int)) bytes of control buffer hold this many descriptors on x86_64.
    static func capacity(room: Int) -> Int {
        guard room > 0 else { return 0 }
        let payload = 4 * room
        return ((payload + 7) / 8 * 8) / 4
    }

    mutating func recv(_ process: String, socket: Int32, count: Int, room: Int, closeOnExec: Bool,
                       nonBlocking: Bool, viaRead: Bool) -> Outcome {
        guard let entry = self[tableOf: process][socket] else { return .failure(EBADF) }
        let desc = descriptions[entry.description]!
        guard case .socket(let endpointID) = desc.target else { return .failure(ENOTSOCK) }
        let endpoint = endpoints[endpointID]!
        let dontWait = nonBlocking || desc.nonBlocking
        if endpoint.listener != nil {
            // unix_stream_read_generic: EINVAL unless established; unix_seqpacket_recvmsg and
            // tcp_recvmsg: ENOTCONN.
            return .failure(endpoint.type == .stream && endpoint.family == .unix ? EINVAL : ENOTCONN)
        }
        if endpoint.family != .unix {
            return recvInet(endpointID, count: count, dontWait: dontWait, viaRead: viaRead)
        }
        let peerClosed = endpoints[endpoint.peer]!.closed

        // seqpacket (skb datagram path) reports a pending error before looking at the queue.
        if endpoint.type == .seqpacket, let error = endpoint.pendingError {
            endpoints[endpointID]!.pendingError = nil
            return .failure(error)
        }
        if endpoint.queue.isEmpty {
            // stream: the pending error comes before EOF and EAGAIN when nothing was copied.
            if endpoint.type == .stream, let error = endpoint.pendingError {
                endpoints[endpointID]!.pendingError = nil
                return .failure(error)
            }
            if peerClosed && endpoint.type != .dgram {
                return Outcome(result: 0, data: [], messageFlags: viaRead ? nil : 0)
            }
            if dontWait { return .failure(EAGAIN) }
            return Outcome(blocks: true)
        }

        var queue = endpoint.queue
        var bytes: [UInt8] = []
        var taken: [DescriptionID] = []
        var flags: Int32 = 0
        switch endpoint.type {
        case .dgram, .seqpacket:
            let message = queue.removeFirst()
            bytes = Array(message.data.prefix(max(0, count)))
            if message.data.count > count { flags |= ReferenceModel.msgTrunc }
            taken = message.descriptions
        case .stream:
            // unix_stream_read_generic: keep copying from consecutive messages (from any sender, as long as
            // SO_PASSCRED is off) until `count` bytes are read or the queue is empty; a message's
            // descriptors are taken with its first bytes and the read stops after that message.
            var remaining = max(0, count)
            repeat {
                guard !queue.isEmpty else { break }
                let chunk = min(queue[0].data.count, remaining)
                bytes += queue[0].data[0..<chunk]
                remaining -= chunk
                let hadDescriptors = !queue[0].descriptions.isEmpty
                if hadDescriptors {
                    taken = queue[0].descriptions
                    queue[0].descriptions = []
                }
                queue[0].data.removeFirst(chunk)
                if !queue[0].data.isEmpty { break }
                queue.removeFirst()
                if hadDescriptors { break }
            } while remaining > 0
        }
        endpoints[endpointID]!.queue = queue

        let capacity = viaRead ? 0 : ReferenceModel.capacity(room: room)
        var installed: [Int32] = []
        for d in taken {
            guard installed.count < capacity, let n = lowestFree(process, from: 0) else { break }
            // The in-flight reference becomes the table's reference.
            self[tableOf: process][n] = TableEntry(description: d, closeOnExec: closeOnExec)
            installed.append(n)
        }
        if installed.count < taken.count {
            flags |= ReferenceModel.msgCtrunc
            for d in taken[installed.count...] { release(d) }
        }
        return Outcome(result: Int64(bytes.count), fds: installed, data: bytes,
                       messageFlags: viaRead ? nil : flags)
    }

    // MARK: - Processes

    mutating func fork(_ process: String, child: String) -> Outcome {
        // The runner never reuses a name; refuse rather than corrupt the tree.
        guard processes[child] == nil else { return .failure(EEXIST) }
        // A forked child always gets a private copy, even of a shared table.
        var copy = processes[process]!
        copy.name = child
        copy.parent = process
        copy.state = .running
        copy.tableID = privateCopy(of: self[tableOf: process])
        processes[child] = copy
        order.append(child)
        return Outcome()
    }

    /// clone(CLONE_FILES | SIGCHLD): like fork, but the child uses the very same table (no new references).
    mutating func cloneFiles(_ process: String, child: String) -> Outcome {
        guard processes[child] == nil else { return .failure(EEXIST) }
        var copy = processes[process]!
        copy.name = child
        copy.parent = process
        copy.state = .running
        tables[copy.tableID!]!.users += 1
        processes[child] = copy
        order.append(child)
        return Outcome()
    }

    /// A new table holding the same descriptions and close-on-exec bits (dup_fd): one more reference each.
    mutating func privateCopy(of entries: [Int32: TableEntry]) -> Int {
        for entry in entries.values { descriptions[entry.description]!.references += 1 }
        let id = nextTable
        nextTable += 1
        tables[id] = DescriptorTable(entries: entries, users: 1)
        return id
    }

    /// unshare(CLONE_FILES) (also done by execve and by close_range with CLOSE_RANGE_UNSHARE): a shared
    /// table is copied for `process`; a private one stays as it is.
    mutating func unshareTable(_ process: String) {
        let old = processes[process]!.tableID!
        guard tables[old]!.users > 1 else { return }
        let id = privateCopy(of: tables[old]!.entries)
        tables[old]!.users -= 1
        processes[process]!.tableID = id
    }

    mutating func exec(_ process: String) -> Outcome {
        // begin_new_exec: unshare_files() first, then do_close_on_exec on the (now private) table.
        unshareTable(process)
        let closing = self[tableOf: process].filter { $0.value.closeOnExec }.sorted { $0.key < $1.key }
        for (number, entry) in closing {
            self[tableOf: process][number] = nil
            release(entry.description)
        }
        // begin_new_exec makes the mm dumpable again (SUID_DUMP_USER: same uid, readable binary). For uid 0,
        // cap_bprm_creds_from_file recomputes permitted = bounding set | inheritable, so dropped capabilities
        // come back; commit_creds then sees the permitted set grow and sets dumpable to fs.suid_dumpable
        // (and clears the parent-death signal). Assumes every dropped capability is in the bounding set.
        let regained = !processes[process]!.droppedCapabilities.isEmpty
        processes[process]!.droppedCapabilities = []
        processes[process]!.dumpable = regained ? suidDumpable == 1 : true
        return Outcome(result: 0)
    }

    /// The process stops using its table; the descriptors are released when no process uses it any more.
    mutating func closeAll(_ process: String) {
        guard let id = processes[process]!.tableID else { return }
        processes[process]!.tableID = nil
        tables[id]!.users -= 1
        guard tables[id]!.users == 0 else { return }
        let entries = tables[id]!.entries.sorted { $0.key < $1.key }
        tables[id] = nil
        for (_, entry) in entries { release(entry.description) }
    }

    /// Ends `process` with `state` and kills every running descendant (agents die with their parent).
    mutating func exit(_ process: String, state: ModelProcessState) {
        closeAll(process)
        processes[process]!.state = state
        for name in order where processes[name]!.parent == process && processes[name]!.state == .running {
            exit(name, state: .killed)
        }
    }

    mutating func wait(_ process: String, child: String) -> Outcome {
        guard let c = processes[child], c.parent == process else { return .failure(ECHILD) }
        switch c.state {
        case .reaped: return .failure(ECHILD)
        case .running: return Outcome(blocks: true)
        case .exited(let status):
            processes[child]!.state = .reaped
            return Outcome(status: status)
        case .killed:
            processes[child]!.state = .reaped
            return Outcome(status: 128 + SIGKILL)
        }
    }

    // MARK: - Releasing references

    /// Drops one reference to `id`; at zero the description is finally released, which may cascade
    /// (a socket's purged receive queue releases the descriptions in flight in it).
    mutating func release(_ id: DescriptionID) {
        var pending = [id]
        while !pending.isEmpty {
            let current = pending.removeFirst()
            guard var desc = descriptions[current], !desc.released else { continue }
            desc.references -= 1
            if desc.references > 0 {
                descriptions[current] = desc
                continue
            }
            desc.released = true
            descriptions[current] = desc
            switch desc.target {
            case .pipeRead(let p): pipes[p]!.readers -= 1
            case .pipeWrite(let p): pipes[p]!.writers -= 1
            case .pipeReadWrite(let p):
                pipes[p]!.readers -= 1
                pipes[p]!.writers -= 1
            case .socket(let e) where endpoints[e]!.listener != nil:
                pending += releaseListener(e)
            case .socket(let e) where endpoints[e]!.family == .udp:
                endpoints[e]!.closed = true
            case .socket(let e) where endpoints[e]!.family == .tcp:
                pending += releaseTCP(e)
            case .socket(let e):
                var endpoint = endpoints[e]!
                endpoint.closed = true
                let unread = !endpoint.queue.isEmpty
                for message in endpoint.queue { pending += message.descriptions }
                endpoint.queue = []
                endpoints[e] = endpoint
                let peer = endpoint.peer
                if endpoint.type != .dgram, unread, !endpoints[peer]!.closed {
                    endpoints[peer]!.pendingError = ECONNRESET
                }
            case .file, .memfd, .pidfd, .eventfd, .inherited:
                break
            }
        }
    }

    // MARK: - Introspection for tests

    /// References to each live description recomputed from the tables and the queues (for invariants).
    func recomputedReferences() -> [DescriptionID: Int] {
        var counts: [DescriptionID: Int] = [:]
        for table in tables.values where table.users > 0 {
            for entry in table.entries.values { counts[entry.description, default: 0] += 1 }
        }
        for endpoint in endpoints.values {
            for message in endpoint.queue {
                for d in message.descriptions { counts[d, default: 0] += 1 }
            }
        }
        return counts
    }

    /// True when every stored reference count matches the recomputed one.
    func referencesAreConsistent() -> Bool {
        let counts = recomputedReferences()
        for (id, desc) in descriptions {
            let expected = counts[id] ?? 0
            if desc.released ? expected != 0 : expected != desc.references { return false }
        }
        return true
    }

    /// The number of bytes waiting in the pipe behind a description (tests).
    func pipeBytes(_ id: DescriptionID) -> Int? {
        guard let desc = descriptions[id] else { return nil }
        switch desc.target {
        case .pipeRead(let p), .pipeWrite(let p), .pipeReadWrite(let p): return pipes[p]?.available
        default: return nil
        }
    }

    /// References to a description (tests).
    func references(_ id: DescriptionID) -> Int { descriptions[id]?.released == true ? 0 : descriptions[id]?.references ?? 0 }
}

// MARK: - Sockets with addresses: listen, connect, accept

extension ReferenceModel {
    /// The shim refuses addresses that do not fit sun_path (108 bytes with the terminating or leading NUL).
    static let sunPathRoom = 108

    /// The runner reports the ephemeral port the kernel chose for the listening socket at `fd` of `process`
    /// (after a successful listen on `.tcp(port: 0)`); later connects to that port reach it.
    public mutating func assignPort(_ port: UInt16, process: String, fd: Int32) {
        guard let entry = self[tableOf: process][fd], let desc = descriptions[entry.description],
              case .socket(let e) = desc.target, let listener = endpoints[e]?.listener,
              case .tcp = listener.address else { return }
        bindings[listener.address] = nil
        let bound = BoundAddress.tcp(port)
        endpoints[e]!.listener!.address = bound
        bindings[bound] = e
    }

    /// unix(path: "") is sun_path "" whose first byte is NUL: the kernel binds it as the abstract name "".
    func normalized(_ address: SocketAddress) -> SocketAddress {
        if case .unix(let path) = address, path.isEmpty { return .abstract(name: "") }
        return address
    }

    /// True when `name` exists in the scenario directory and is not a directory.
    func isNonDirectory(_ name: String) -> Bool { files[name] != nil || socketFiles.contains(name) }

    /// Resolves a unix path to a name in the scenario directory, or the errno of the lookup.
    func socketPath(_ path: String) -> Result<String, SocketPathError> {
        let components = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard components.count == 1 else {
            if components.count > 1, isNonDirectory(String(components[0])) { return .failure(SocketPathError(ENOTDIR)) }
            return .failure(SocketPathError(ENOENT))
        }
        return .success(String(components[0]))
    }

    struct SocketPathError: Error {
        var errno: Int32
        init(_ errno: Int32) { self.errno = errno }
    }

    func lacks(_ process: String, _ capability: String) -> Bool {
        processes[process]!.droppedCapabilities.contains(capability)
    }

    /// The checks that come before a socket exists: the shim's address length, then socket(2) itself.
    func socketPreconditions(_ address: SocketAddress, type: SocketType) -> Int32? {
        switch address {
        case .unix(let name), .abstract(let name):
            if name.utf8.count + 1 > ReferenceModel.sunPathRoom { return ENAMETOOLONG }
        case .tcp:
            // inet_create finds no protocol for SOCK_SEQPACKET in inetsw (only SCTP registers one, and
            // protocol 0 does not load it): ESOCKTNOSUPPORT. If the sctp module happened to be loaded
            // already the kernel would create an SCTP socket instead (not modelled).
            if type == .seqpacket { return ESOCKTNOSUPPORT }
        }
        return nil
    }

    /// socket + bind + listen, as the agent's shim does them (on failure it closes the socket).
    mutating func listen(_ process: String, address rawAddress: SocketAddress, type: SocketType, closeOnExec: Bool,
                         nonBlocking: Bool, backlog: Int32) -> Outcome {
        let address = normalized(rawAddress)
        if let error = socketPreconditions(address, type: type) { return .failure(error) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        // bind(2)
        let bound: BoundAddress
        var family = SocketFamily.unix
        switch address {
        case .unix(let path):
            switch socketPath(path) {
            case .failure(let error): return .failure(error.errno)
            case .success(let name):
                // mknod of an existing name: EEXIST, which unix_bind_bsd reports as EADDRINUSE.
                if isNonDirectory(name) { return .failure(EADDRINUSE) }
                // The socket file is created by bind and stays, even when listen fails below.
                socketFiles.insert(name)
                bound = .path(name)
            }
        case .abstract(let name):
            bound = .abstract(name, type)
            if bindings[bound] != nil { return .failure(EADDRINUSE) }
        case .tcp(let port):
            family = type == .dgram ? .udp : .tcp
            // __inet_bind: ports below ip_unprivileged_port_start (1024) need CAP_NET_BIND_SERVICE.
            if port != 0, port < 1024, lacks(process, "CAP_NET_BIND_SERVICE") { return .failure(EACCES) }
            // SO_REUSEADDR is set, so only a listening socket on the port conflicts (UDP ports are a
            // separate space in which the model has no bound socket).
            if family == .tcp, port != 0, bindings[.tcp(port)] != nil { return .failure(EADDRINUSE) }
            bound = .tcp(port == 0 ? nil : port)
        }
        // listen(2): datagram sockets have no listen (sock_no_listen).
        if type == .dgram { return .failure(EOPNOTSUPP) }
        // __sys_listen clamps (unsigned)backlog to somaxconn, so a negative backlog means somaxconn.
        var effective = Int(backlog)
        if backlog < 0 || effective > somaxconn { effective = somaxconn }
        let id = nextEndpoint
        nextEndpoint += 1
        endpoints[id] = SocketEndpoint(type: type, peer: 0, family: family,
                                       listener: ListenerState(address: bound, backlog: effective))
        if case .tcp(nil) = bound {} else { bindings[bound] = id }
        return install(process, target: .socket(endpoint: id), access: .readWrite,
                       flags: nonBlocking ? [.nonblock] : [], closeOnExec: closeOnExec)
    }

    /// socket + connect (blocking), then O_NONBLOCK if asked, as the agent's shim does it.
    mutating func connect(_ process: String, address rawAddress: SocketAddress, type: SocketType, closeOnExec: Bool,
                          nonBlocking: Bool) -> Outcome {
        let address = normalized(rawAddress)
        if let error = socketPreconditions(address, type: type) { return .failure(error) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let flags: Set<StatusFlag> = nonBlocking ? [.nonblock] : []
        let listenerID: Int
        switch address {
        case .unix(let path):
            switch socketPath(path) {
            case .failure(let error): return .failure(error.errno)
            case .success(let name):
                // unix_find_bsd: a missing name is ENOENT; a name that is not a socket, or a socket file no
                // live socket is bound to, is ECONNREFUSED; a socket of another type is EPROTOTYPE.
                guard isNonDirectory(name) else { return .failure(ENOENT) }
                guard let bound = bindings[.path(name)] else { return .failure(ECONNREFUSED) }
                if endpoints[bound]!.type != type { return .failure(EPROTOTYPE) }
                listenerID = bound
            }
        case .abstract(let name):
            // Abstract lookups hash the socket type in: a listener of another type is simply not found.
            guard let bound = bindings[.abstract(name, type)] else { return .failure(ECONNREFUSED) }
            listenerID = bound
        case .tcp(let port):
            if type == .dgram {
                // A UDP connect only records the destination; it always succeeds.
                let id = nextEndpoint
                nextEndpoint += 1
                endpoints[id] = SocketEndpoint(type: .dgram, peer: 0, family: .udp)
                return install(process, target: .socket(endpoint: id), access: .readWrite, flags: flags,
                               closeOnExec: closeOnExec)
            }
            guard port != 0, let bound = bindings[.tcp(port)] else { return .failure(ECONNREFUSED) }
            listenerID = bound
        }
        let listener = endpoints[listenerID]!
        // A full accept queue (more waiting than the backlog: unix_recvq_full, sk_acceptq_is_full) makes a
        // blocking connect wait (unix) or retransmit its SYN (tcp) until an accept makes room.
        if listener.listener!.waiting.count > listener.listener!.backlog { return Outcome(blocks: true) }
        let client = nextEndpoint
        let server = nextEndpoint + 1
        nextEndpoint += 2
        endpoints[client] = SocketEndpoint(type: type, peer: server, family: listener.family)
        endpoints[server] = SocketEndpoint(type: type, peer: client, family: listener.family)
        endpoints[listenerID]!.listener!.waiting.append(server)
        let outcome = install(process, target: .socket(endpoint: client), access: .readWrite, flags: flags,
                              closeOnExec: closeOnExec)
        return outcome
    }

    /// accept4(2): EBADF, then the number (EMFILE), then ENOTSOCK, then the protocol's checks.
    mutating func accept(_ process: String, socket: Int32, closeOnExec: Bool, nonBlocking: Bool) -> Outcome {
        guard let entry = self[tableOf: process][socket] else { return .failure(EBADF) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let desc = descriptions[entry.description]!
        guard case .socket(let e) = desc.target else { return .failure(ENOTSOCK) }
        let endpoint = endpoints[e]!
        // Datagram sockets have no accept (sock_no_accept); a stream or seqpacket socket must listen.
        if endpoint.type == .dgram { return .failure(EOPNOTSUPP) }
        guard let listener = endpoint.listener else { return .failure(EINVAL) }
        guard let server = listener.waiting.first else {
            // Waiting follows the listener's own O_NONBLOCK; accept4's SOCK_NONBLOCK is for the new socket.
            return desc.nonBlocking ? .failure(EAGAIN) : Outcome(blocks: true)
        }
        endpoints[e]!.listener!.waiting.removeFirst()
        return install(process, target: .socket(endpoint: server), access: .readWrite,
                       flags: nonBlocking ? [.nonblock] : [], closeOnExec: closeOnExec)
    }

    /// The last reference to a listening socket went away: its address is freed (a socket file stays) and
    /// every connection waiting in its accept queue is released; each client sees ECONNRESET
    /// (unix_release_sock with embrion set; inet_csk_listen_stop resets every child). Returns descriptions
    /// that were in flight in the waiting connections' queues.
    mutating func releaseListener(_ id: Int) -> [DescriptionID] {
        var listener = endpoints[id]!
        listener.closed = true
        let state = listener.listener!
        listener.listener!.waiting = []
        endpoints[id] = listener
        if bindings[state.address] == id { bindings[state.address] = nil }
        var inFlight: [DescriptionID] = []
        for server in state.waiting {
            var embryo = endpoints[server]!
            embryo.closed = true
            for message in embryo.queue { inFlight += message.descriptions }
            embryo.queue = []
            endpoints[server] = embryo
            let client = embryo.peer
            guard !endpoints[client]!.closed else { continue }
            if listener.family == .tcp {
                // A client that already sent its FIN only has an orphan left: nothing to observe.
                if endpoints[client]!.reset { continue }
                endpoints[client]!.reset = true
            }
            endpoints[client]!.pendingError = ECONNRESET
        }
        return inFlight
    }

    /// tcp_close: unread data makes it an abortive close (RST: ECONNRESET for the peer); otherwise the peer
    /// gets a FIN (EOF once drained) and this side lingers as an orphan that answers later data with RST.
    mutating func releaseTCP(_ id: Int) -> [DescriptionID] {
        var endpoint = endpoints[id]!
        endpoint.closed = true
        let unread = !endpoint.queue.isEmpty
        endpoint.queue = []
        endpoints[id] = endpoint
        let peer = endpoint.peer
        guard !endpoint.reset, !endpoints[peer]!.closed, !endpoints[peer]!.reset else { return [] }
        if unread {
            endpoints[peer]!.reset = true
            endpoints[peer]!.pendingError = ECONNRESET
        } else {
            endpoints[peer]!.finReceived = true
        }
        return []
    }

    /// sendmsg on TCP and UDP sockets. SCM_RIGHTS is not an error there: __sock_cmsg_send skips
    /// SCM_RIGHTS/SCM_CREDENTIALS ("semantically in SOL_UNIX"), so the descriptors are silently ignored and
    /// never validated.
    mutating func sendInet(_ id: Int, data: [UInt8]) -> Outcome {
        let endpoint = endpoints[id]!
        if endpoint.family == .udp {
            // Nothing listens on UDP in the model: every datagram draws an ICMP port unreachable, which a
            // connected UDP socket records as ECONNREFUSED and reports (once) on its next call.
            if let error = endpoint.pendingError {
                endpoints[id]!.pendingError = nil
                return .failure(error)
            }
            endpoints[id]!.pendingError = ECONNREFUSED
            return Outcome(result: Int64(data.count))
        }
        // A listener is neither ESTABLISHED nor CLOSE_WAIT, nor connecting: sk_stream_wait_connect says EPIPE.
        if endpoint.listener != nil { return .failure(EPIPE) }
        if endpoint.reset {
            // State TCP_CLOSE: sk_stream_wait_connect reports a pending error once, then EPIPE.
            if let error = endpoint.pendingError {
                endpoints[id]!.pendingError = nil
                return .failure(error)
            }
            return .failure(EPIPE)
        }
        if data.isEmpty { return Outcome(result: 0) }
        let peer = endpoint.peer
        if endpoints[peer]!.closed {
            // The peer closed with a FIN (we are in CLOSE_WAIT): this write is accepted, the orphan answers
            // it with RST, and tcp_reset in CLOSE_WAIT records EPIPE. The data is lost.
            endpoints[id]!.reset = true
            endpoints[id]!.pendingError = EPIPE
            return Outcome(result: Int64(data.count))
        }
        endpoints[peer]!.queue.append(SocketMessage(data: data, descriptions: [], sender: ""))
        return Outcome(result: Int64(data.count))
    }

    /// recvmsg on TCP and UDP sockets (never any descriptors, so never MSG_CTRUNC).
    mutating func recvInet(_ id: Int, count: Int, dontWait: Bool, viaRead: Bool) -> Outcome {
        var endpoint = endpoints[id]!
        let flags: Int32? = viaRead ? nil : 0
        if endpoint.family == .udp {
            // __skb_try_recv_datagram reports a pending error before it looks at the queue.
            if let error = endpoint.pendingError {
                endpoints[id]!.pendingError = nil
                return .failure(error)
            }
            return dontWait ? .failure(EAGAIN) : Outcome(blocks: true)
        }
        if endpoint.queue.isEmpty {
            // tcp_recvmsg_locked with nothing copied: SOCK_DONE (a FIN arrived) first, then sk_err, then
            // RCV_SHUTDOWN, then EAGAIN.
            if endpoint.finReceived { return Outcome(result: 0, data: [], messageFlags: flags) }
            if let error = endpoint.pendingError {
                endpoints[id]!.pendingError = nil
                return .failure(error)
            }
            if endpoint.reset { return Outcome(result: 0, data: [], messageFlags: flags) }
            return dontWait ? .failure(EAGAIN) : Outcome(blocks: true)
        }
        // A byte stream: copy across the queued writes.
        var bytes: [UInt8] = []
        var remaining = max(0, count)
        while remaining > 0, !endpoint.queue.isEmpty {
            let chunk = min(endpoint.queue[0].data.count, remaining)
            bytes += endpoint.queue[0].data[0..<chunk]
            endpoint.queue[0].data.removeFirst(chunk)
            remaining -= chunk
            if endpoint.queue[0].data.isEmpty { endpoint.queue.removeFirst() }
        }
        endpoints[id] = endpoint
        return Outcome(result: Int64(bytes.count), data: bytes, messageFlags: flags)
    }
}

// MARK: - Credentials, ptrace access and /proc/PID/fd

extension ReferenceModel {
    /// Capability names as libcap's cap_from_name knows them (Linux 6.x: 0 ... 40).
    static let capabilityNames: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]

    /// The canonical name of a capability (cap_from_name is case-insensitive and takes numbers too), or nil.
    static func capabilityName(_ name: String) -> String? {
        if let number = Int(name) {
            return capabilityNames.indices.contains(number) ? capabilityNames[number] : nil
        }
        let upper = name.uppercased()
        return capabilityNames.contains(upper) ? upper : nil
    }

    /// ptrace_may_access(target) by `caller`, everyone having the same uid (root):
    /// - the same process is always allowed;
    /// - __ptrace_may_access: a live target whose mm is not dumpable needs CAP_SYS_PTRACE;
    /// - cap_ptrace_access_check: a target holding capabilities the caller lacks needs CAP_SYS_PTRACE;
    /// - Yama (PTRACE_MODE_ATTACH only): scope 1 needs a descendant or CAP_SYS_PTRACE, scope 2 always
    ///   CAP_SYS_PTRACE, scope 3 forbids attaching.
    func ptraceDenied(caller: String, target: String, attach: Bool) -> Bool {
        if caller == target { return false }
        let c = processes[caller]!
        let t = processes[target]!
        let capable = !c.droppedCapabilities.contains("CAP_SYS_PTRACE")
        if t.state == .running, !t.dumpable, !capable { return true }
        if !c.droppedCapabilities.isSubset(of: t.droppedCapabilities), !capable { return true }
        if attach {
            switch ptraceScope {
            case 1: if !capable && !isDescendant(target, of: caller) { return true }
            case 2: if !capable { return true }
            case 3: return true
            default: break
            }
        }
        return false
    }

    func isDescendant(_ process: String, of ancestor: String) -> Bool {
        var current = processes[process]?.parent
        while let name = current {
            if name == ancestor { return true }
            current = processes[name]?.parent
        }
        return false
    }

    /// open("/proc/PID/fd/N", flags): a new open file description of what the target's descriptor refers to.
    mutating func reopen(_ process: String, target: String, fd: Int32, flags: Set<OpenFlag>) -> Outcome {
        // do_sys_openat2 reserves the number before the path walk: EMFILE first.
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        // /proc/PID of a reaped (or unknown) process does not exist; a zombie's fd directory is empty.
        guard let t = processes[target], t.state == .running,
              let entry = self[tableOf: target][fd] else { return .failure(ENOENT) }
        // O_CREAT|O_EXCL implies O_NOFOLLOW: the existing /proc entry itself is found (EEXIST) before the
        // magic link (and its permission check) is followed. O_CREAT alone follows it and is ignored.
        if flags.contains(.creat) && flags.contains(.excl) { return .failure(EEXIST) }
        // proc_pid_get_link: ptrace_may_access(PTRACE_MODE_READ_FSCREDS), else EACCES.
        if ptraceDenied(caller: process, target: target, attach: false) { return .failure(EACCES) }
        let desc = descriptions[entry.description]!
        let access: AccessMode = flags.contains(.rdwr) ? .readWrite : flags.contains(.wronly) ? .writeOnly : .readOnly
        var status: Set<StatusFlag> = []
        if flags.contains(.append) { status.insert(.append) }
        if flags.contains(.nonblock) { status.insert(.nonblock) }
        let cloexec = flags.contains(.cloexec)
        switch desc.target {
        case .socket, .pidfd, .eventfd:
            // An anonymous inode (eventfd) has no open either (ENXIO), like a socket inode (no_open: ENXIO). pidfd: assumed the same for its pidfs/anon inode
            // (uncertain for 6.9+ pidfs).
            return .failure(ENXIO)
        case .file, .memfd:
            // O_TRUNC empties a regular file or memfd whatever the access mode.
            if flags.contains(.trunc) { setContents(desc.target, []) }
            return install(process, target: desc.target, access: access, flags: status, closeOnExec: cloexec,
                           offset: 0)
        case .pipeRead(let p), .pipeWrite(let p), .pipeReadWrite(let p):
            // fifo_open on the pipe's inode: never waits for a partner on an anonymous pipe (is_pipe).
            let pipeTarget: DescriptionTarget
            switch access {
            case .readOnly:
                pipeTarget = .pipeRead(pipe: p)
                pipes[p]!.readers += 1
            case .writeOnly:
                pipeTarget = .pipeWrite(pipe: p)
                pipes[p]!.writers += 1
            case .readWrite:
                pipeTarget = .pipeReadWrite(pipe: p)
                pipes[p]!.readers += 1
                pipes[p]!.writers += 1
            }
            return install(process, target: pipeTarget, access: access, flags: status, closeOnExec: cloexec)
        case .inherited(let what):
            return install(process, target: .inherited(what), access: access, flags: status, closeOnExec: cloexec)
        }
    }
}
