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
// - pidfd_getfd on an exiting/zombie target fails ESRCH (kernel >= 6.9), not EBADF.
//
// Not modelled (documented simplifications): socket send-buffer limits and stream message splitting into
// ~36 KiB skbs, the AF_UNIX garbage collector (cycles of in-flight sockets stay alive here), file
// permissions and directories, the per-user in-flight fd limit (ETOOMANYREFS, only for unprivileged
// runners), O_WRONLY|O_RDWR opens (treated as O_RDWR), files larger than 256 MiB (refused with EFBIG).

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
    var nextEndpoint = 1

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
        processes[root] = ModelProcess(name: root, parent: nil, state: .running, table: table,
                                       nofileLimit: nofileLimit)
        order = [root]
    }

    // MARK: - Public views

    public var processNames: [String] { order }

    public func state(of process: String) -> ModelProcessState? { processes[process]?.state }

    public func parent(of process: String) -> String? { processes[process]?.parent }

    public func table(of process: String) -> [Int32: ModelDescriptor] {
        guard let proc = processes[process], proc.state == .running else { return [:] }
        var result: [Int32: ModelDescriptor] = [:]
        for (number, entry) in proc.table {
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

    public mutating func assignPort(_ port: UInt16, process: String, fd: Int32) {}  // TEMPORARY

    public func nofileLimit(of process: String) -> Int32 { processes[process]?.nofileLimit ?? 0 }

    func kind(of target: DescriptionTarget) -> ObjectKind {
        switch target {
        case .file(let path): return .file(path: path)
        case .memfd(_, let name): return .memfd(name: name)
        case .pipeRead, .pipeWrite: return .pipe
        case .socket(let endpoint): return .socket(endpoints[endpoint]?.type ?? .stream)
        case .pidfd: return .pidfd
        case .inherited(let what): return .inherited(what)
        }
    }

    // MARK: - Apply

    public mutating func apply(_ operation: Operation, by process: String) -> Outcome {
        guard let proc = processes[process], proc.state == .running else { return .failure(ESRCH) }
        switch operation {
        case .listen, .connect, .accept, .setrlimit, .dropCapability, .setDumpable, .reopen, .cloneFiles, .unshareFiles,
             .launch, .attach:
            return .failure(ENOSYS)  // TEMPORARY until the model2 branch lands
        case let .open(path, flags, _):
            return open(process, path: path, flags: flags)
        case let .pipe(closeOnExec, nonBlocking):
            return pipe(process, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .socketpair(type, closeOnExec, nonBlocking):
            return socketpair(process, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case let .memfd(name, closeOnExec):
            return memfd(process, name: name, closeOnExec: closeOnExec)
        case let .dup(fd):
            guard let entry = proc.table[fd] else { return .failure(EBADF) }
            return duplicate(process, entry.description, minimum: 0, closeOnExec: false)
        case let .dup2(fd, target):
            guard proc.table[fd] != nil else { return .failure(EBADF) }
            if fd == target { return Outcome(result: Int64(fd), fds: [fd]) }
            guard target >= 0, target < proc.nofileLimit else { return .failure(EBADF) }
            return duplicateOnto(process, fd: fd, target: target, closeOnExec: false)
        case let .dup3(fd, target, flags):
            if flags & ~ReferenceModel.oCloexec != 0 { return .failure(EINVAL) }
            if fd == target { return .failure(EINVAL) }
            guard target >= 0, target < proc.nofileLimit else { return .failure(EBADF) }
            guard proc.table[fd] != nil else { return .failure(EBADF) }
            return duplicateOnto(process, fd: fd, target: target, closeOnExec: flags & ReferenceModel.oCloexec != 0)
        case let .fcntl(fd, command):
            return fcntl(process, fd: fd, command: command)
        case let .close(fd):
            guard let entry = proc.table[fd] else { return .failure(EBADF) }
            processes[process]!.table[fd] = nil
            release(entry.description)
            return Outcome(result: 0)
        case let .closeRange(first, last, closeOnExec, _):
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
            let closing = proc.table.filter { $0.value.closeOnExec }.sorted { $0.key < $1.key }
            for (number, entry) in closing {
                processes[process]!.table[number] = nil
                release(entry.description)
            }
            return Outcome(result: 0)
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
            // Since Linux 6.9 ("pidfd: getfd should always report ESRCH if a task is exiting") a target
            // that has exited (no files table) gives ESRCH, not EBADF.
            guard t.state == .running else { return .failure(ESRCH) }
            guard let entry = t.table[fd] else { return .failure(EBADF) }
            return duplicate(process, entry.description, minimum: 0, closeOnExec: true)
        }
    }

    // MARK: - Descriptor numbers

    func lowestFree(_ process: String, from minimum: Int32) -> Int32? {
        guard let proc = processes[process] else { return nil }
        var n = max(0, minimum)
        while proc.table[n] != nil { n += 1 }
        return n < proc.nofileLimit ? n : nil
    }

    /// Lowest `count` free numbers (allocated one after the other), or nil if they do not all fit.
    func lowestFree(_ process: String, count: Int) -> [Int32]? {
        guard let proc = processes[process] else { return nil }
        var result: [Int32] = []
        var n: Int32 = 0
        while result.count < count {
            while proc.table[n] != nil { n += 1 }
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
        processes[process]!.table[number] = TableEntry(description: description, closeOnExec: closeOnExec)
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
        let source = processes[process]!.table[fd]!.description
        let old = processes[process]!.table[target]
        // Take the new reference before dropping the old one: target may already share the description.
        place(process, number: target, description: source, closeOnExec: closeOnExec)
        if let old { release(old.description) }
        return Outcome(result: Int64(target), fds: [target])
    }

    // MARK: - Creation

    mutating func open(_ process: String, path: String, flags: Set<OpenFlag>) -> Outcome {
        let access: AccessMode = flags.contains(.rdwr) ? .readWrite : flags.contains(.wronly) ? .writeOnly : .readOnly
        // getname() rejects an empty path before anything else; then the number is reserved
        // (get_unused_fd_flags before do_filp_open), so EMFILE wins over every lookup error.
        if path.isEmpty { return .failure(ENOENT) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let components = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if components.contains(where: { $0.utf8.count > 255 }) { return .failure(ENAMETOOLONG) }
        guard components.count == 1 else {
            // Only plain names in the scenario directory exist; a path through a regular file is ENOTDIR.
            if components.count > 1, files[String(components[0])] != nil { return .failure(ENOTDIR) }
            return .failure(ENOENT)
        }
        let name = String(components[0])
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
        guard let entry = processes[process]!.table[fd] else { return .failure(EBADF) }
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
            processes[process]!.table[fd]!.closeOnExec = closeOnExec
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
        guard first <= last else { return .failure(EINVAL) }
        let numbers = processes[process]!.table.keys
            .filter { $0 >= 0 && UInt32($0) >= first && UInt32($0) <= last }
            .sorted()
        for number in numbers {
            if closeOnExec {
                processes[process]!.table[number]!.closeOnExec = true
            } else {
                let entry = processes[process]!.table.removeValue(forKey: number)!
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
        guard let entry = processes[process]!.table[fd] else { return .failure(EBADF) }
        let desc = descriptions[entry.description]!
        switch desc.target {
        case .pipeRead, .pipeWrite, .socket, .pidfd:
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
        guard let entry = processes[process]!.table[fd] else { return .failure(EBADF) }
        let desc = descriptions[entry.description]!
        guard desc.readable else { return .failure(EBADF) }
        switch desc.target {
        case .inherited:
            return Outcome(result: 0, data: [])
        case .pidfd:
            return .failure(EINVAL)
        case .file, .memfd:
            let contents = self.contents(of: desc.target)
            let offset = Int(desc.offset ?? 0)
            let n = max(0, min(count, contents.count - offset))
            let bytes = n > 0 ? Array(contents[offset..<(offset + n)]) : []
            descriptions[entry.description]!.offset = Int64(offset + n)
            return Outcome(result: Int64(n), data: bytes)
        case .pipeRead(let pipeID), .pipeWrite(let pipeID):
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
        guard let entry = processes[process]!.table[fd] else { return .failure(EBADF) }
        let desc = descriptions[entry.description]!
        guard desc.writable else { return .failure(EBADF) }
        switch desc.target {
        case .inherited:
            return Outcome(result: Int64(data.count))
        case .pidfd:
            return .failure(EINVAL)
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
        case .pipeRead(let pipeID), .pipeWrite(let pipeID):
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
        let table = processes[process]!.table
        guard let entry = table[socket] else { return .failure(EBADF) }
        guard case .socket(let endpointID) = descriptions[entry.description]!.target else {
            return .failure(ENOTSOCK)
        }
        let endpoint = endpoints[endpointID]!
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
        guard let entry = processes[process]!.table[socket] else { return .failure(EBADF) }
        let desc = descriptions[entry.description]!
        guard case .socket(let endpointID) = desc.target else { return .failure(ENOTSOCK) }
        let endpoint = endpoints[endpointID]!
        let dontWait = nonBlocking || desc.nonBlocking
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
            processes[process]!.table[n] = TableEntry(description: d, closeOnExec: closeOnExec)
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
        let parent = processes[process]!
        for entry in parent.table.values { descriptions[entry.description]!.references += 1 }
        processes[child] = ModelProcess(name: child, parent: process, state: .running, table: parent.table,
                                        nofileLimit: parent.nofileLimit)
        order.append(child)
        return Outcome()
    }

    mutating func closeAll(_ process: String) {
        let entries = processes[process]!.table.sorted { $0.key < $1.key }
        processes[process]!.table = [:]
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
            case .file, .memfd, .pidfd, .inherited:
                break
            }
        }
    }

    // MARK: - Introspection for tests

    /// References to each live description recomputed from the tables and the queues (for invariants).
    func recomputedReferences() -> [DescriptionID: Int] {
        var counts: [DescriptionID: Int] = [:]
        for proc in processes.values where proc.state == .running {
            for entry in proc.table.values { counts[entry.description, default: 0] += 1 }
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
        case .pipeRead(let p), .pipeWrite(let p): return pipes[p]?.available
        default: return nil
        }
    }

    /// References to a description (tests).
    func references(_ id: DescriptionID) -> Int { descriptions[id]?.released == true ? 0 : descriptions[id]?.references ?? 0 }
}
