#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Regular files in the scenario directory, O_PATH, memfds, their contents, and open of /proc/PID/fd/N.

extension ReferenceModel {
    // MARK: - open

    /// fs/open.c: do_sys_openat2 - getname, get_unused_fd_flags, then do_filp_open (lookup, O_CREAT/O_EXCL,
    /// O_TRUNC), then fd_install.
    mutating func open(_ process: String, path: String, flags: Set<OpenFlag>, mode: UInt32 = 0o644) -> Outcome {
        // The same open asked again while its process sleeps in fifo_open (a background call).
        if let resumed = resumeFifoOpen(process) { return resumed }
        if flags.contains(.path) { return openPath(process, path: path, closeOnExec: flags.contains(.cloexec)) }
        let access = AccessMode(openFlags: flags)
        // getname() rejects an empty or too long path before anything else; then the number is reserved
        // (get_unused_fd_flags before do_filp_open), so EMFILE wins over every lookup error.
        if let error = Self.getnameError(path) { return .failure(error) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let name: FileName
        switch walk(path) {
        case .failure(let error): return .failure(error.errno)
        case .success(.directory): return Self.directoryBeyondModel
        case .success(.name(let last, let trailingSlash)):
            if flags.contains(.creat) {
                // open_last_lookups, the create side: a trailing '/' is EISDIR before the name is looked up.
                if trailingSlash { return .failure(EISDIR) }
                if last.bytes.count > Self.nameMax { return .failure(ENAMETOOLONG) }
                name = last
            } else {
                if case .failure(let error) = lookupExisting(last, trailingSlash: trailingSlash) { return .failure(error.errno) }
                name = last
            }
        }
        if socketFiles.contains(name) {
            // A socket file: O_CREAT|O_EXCL finds it (EEXIST); otherwise its inode has no open (ENXIO).
            if flags.contains(.creat) && flags.contains(.excl) { return .failure(EEXIST) }
            return .failure(ENXIO)
        }
        let status = Set<StatusFlag>(openFlags: flags)
        if fifos[name] != nil {
            if flags.contains(.creat) && flags.contains(.excl) { return .failure(EEXIST) }
            return openFifo(process, name, flags: flags)
        }
        if files[name] != nil {
            if flags.contains(.creat) && flags.contains(.excl) { return .failure(EEXIST) }
            // may_open, before any truncation: the owner's permission bits.
            if accessDenied(process, file: name, access: access, truncate: flags.contains(.trunc)) { return .failure(EACCES) }
            // Linux truncates on O_TRUNC whatever the access mode (O_RDONLY|O_TRUNC included).
            if flags.contains(.trunc) { setContents(.file(path: name), []) }
        } else {
            guard flags.contains(.creat) else { return .failure(ENOENT) }
            // A file this open created is not permission-checked (FMODE_CREATED): 0400 opened O_RDWR works.
            files[name] = []
            fileModes[name] = mode & ~umask & 0o7777
        }
        return install(process, target: .file(path: name), access: access, flags: status,
                       closeOnExec: flags.contains(.cloexec), offset: 0)
    }

    /// open(O_PATH): every flag but O_CLOEXEC (and O_DIRECTORY/O_NOFOLLOW) is ignored, nothing is created,
    /// and the file need not be openable for I/O - a socket file included.
    mutating func openPath(_ process: String, path: String, closeOnExec: Bool) -> Outcome {
        if let error = Self.getnameError(path) { return .failure(error) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        // do_o_path -> path_lookupat: the walk and the last name's lookup (ENAMETOOLONG, ENOENT, and ENOTDIR
        // for a trailing '/').
        let name: FileName
        switch existing(path) {
        case .failure(let error): return .failure(error.errno)
        case .success(.directory): return Self.directoryBeyondModel
        case .success(.name(let found, _)): name = found
        }
        let outcome = install(process, target: .file(path: name), access: .readOnly, flags: [], closeOnExec: closeOnExec,
                              offset: 0)
        if let number = outcome.fds.first, let id = self[tableOf: process][number]?.description {
            descriptions[id]?.pathOnly = true
        }
        return outcome
    }

    /// fs/namei.c: may_open -> inode_permission -> generic_permission: the agents own the scenario's files, so
    /// the owner's bits decide, unless CAP_DAC_OVERRIDE (read and write) or CAP_DAC_READ_SEARCH (read)
    /// overrides them. O_TRUNC asks for write permission too (found by `handoff fuzz`).
    func accessDenied(_ process: String, file name: FileName, access: AccessMode, truncate: Bool) -> Bool {
        let owner = (fileModes[name] ?? 0o644) >> 6
        let read = access != .writeOnly
        let write = access != .readOnly || truncate
        let override = !lacks(process, "CAP_DAC_OVERRIDE")
        if read && owner & 4 == 0 && !override && lacks(process, "CAP_DAC_READ_SEARCH") { return true }
        if write && owner & 2 == 0 && !override { return true }
        return false
    }

    /// generic_permission on the anonymous inode (root's, mode 0600): the owner's bits let root in; anyone else
    /// needs the capabilities, which count only when root is mapped into the agents' user namespace
    /// (capable_wrt_inode_uidgid).
    func anonymousInodeDenied(_ process: String, access: AccessMode, truncate: Bool) -> Bool {
        if socketIDs.uid == socketIDs.rootUID { return false }
        if socketIDs.rootUID == socketIDs.overflowUID { return true }
        let write = access != .readOnly || truncate
        if !lacks(process, "CAP_DAC_OVERRIDE") { return false }
        return write || lacks(process, "CAP_DAC_READ_SEARCH")
    }


    // MARK: - memfd

    /// mm/memfd.c: memfd_create - the name length first, then the number, then the shmem file.
    /// Without MFD_ALLOW_SEALING the inode starts with F_SEAL_SEAL: no seal can ever be added.
    mutating func memfd(_ process: String, name: String, closeOnExec: Bool, allowSealing: Bool = false) -> Outcome {
        // MFD_NAME_MAX_LEN = NAME_MAX - strlen("memfd:") = 249, checked before the number is reserved.
        if name.utf8.count > 249 { return .failure(EINVAL) }
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let object = nextMemfd.take()
        memfds[object] = []
        memfdSeals[object] = allowSealing ? [] : [.seal]
        return install(process, target: .memfd(object: object, name: name), access: .readWrite, flags: [],
                       closeOnExec: closeOnExec, offset: 0)
    }

    // MARK: - Contents of files and memfds

    /// i_size of a file or memfd (SEEK_END's base); nil for objects without contents.
    func contentsSize(_ target: DescriptionTarget) -> Int64? {
        switch target {
        case .file(let path): return Int64(files[path]?.count ?? 0)
        case .memfd(let object, _): return Int64(memfds[object]?.count ?? 0)
        default: return nil
        }
    }

    /// The bytes of a file or memfd (its page cache, stored densely); empty for any other object.
    func contents(of target: DescriptionTarget) -> [UInt8] {
        switch target {
        case .file(let path): return files[path] ?? []
        case .memfd(let object, _): return memfds[object] ?? []
        default: return []
        }
    }

    /// The bytes of a file or memfd, removed from the model until `setContents` puts them back (so that they
    /// are changed in place, not copied); empty for any other object.
    mutating func takeContents(of target: DescriptionTarget) -> [UInt8] {
        switch target {
        case .file(let path): return files.updateValue([], forKey: path) ?? []
        case .memfd(let object, _): return memfds.updateValue([], forKey: object) ?? []
        default: return []
        }
    }

    /// Replaces the bytes of a file or memfd (writes, O_TRUNC); ignored for any other object.
    mutating func setContents(_ target: DescriptionTarget, _ bytes: [UInt8]) {
        switch target {
        case .file(let path): files[path] = bytes
        case .memfd(let object, _): memfds[object] = bytes
        default: break
        }
        // Cut at or below where a hole could start: no hole is left.
        if let id = target.contents, let start = holesFrom[id], Int64(bytes.count) <= start { holesFrom[id] = nil }
    }

    /// A gap from `start` (the old end) was left by a write past the end or a growing ftruncate.
    mutating func noteGap(_ target: DescriptionTarget, from start: Int) {
        guard let id = target.contents else { return }
        holesFrom[id] = min(holesFrom[id] ?? Int64(start), Int64(start))
    }

    /// fs/read_write.c: rw_verify_area - a position plus a count past the last loff_t (2^63 - 1) is EINVAL on
    /// every file but the few with unsigned offsets (/dev/mem and the like, none here), before any reading or
    /// writing (a memfd's position can be anywhere up to it).
    static func passesTheLastPosition(_ position: Int64, _ count: Int) -> Bool {
        position.addingReportingOverflow(Int64(count)).overflow
    }

    /// read on a file or memfd (generic_file_read_iter / shmem_file_read_iter): from the shared offset, up to
    /// the end of the contents; the offset advances by what was read.
    mutating func readContents(_ id: DescriptionID, _ desc: OpenDescription, count: Int) -> Outcome {
        let offset = desc.offset ?? 0
        if Self.passesTheLastPosition(offset, count) { return .failure(EINVAL) }
        let bytes = Self.bytes(of: contents(of: desc.target), at: offset, count: count)
        descriptions[id]?.offset = offset + Int64(bytes.count)
        return Outcome(result: Int64(bytes.count), data: bytes)
    }

    /// What a read of `count` bytes at `position` gets from `contents`: nothing past their end.
    static func bytes(of contents: [UInt8], at position: Int64, count: Int) -> [UInt8] {
        let start = Int(min(position, Int64(contents.count)))
        return Array(contents[start..<min(contents.count, start + count)])
    }

    /// A read of the agents' inherited stdio at `position` (read moves its own position after): /dev/null is
    /// end of file (read_null); the log gives back what was written to it, while its contents are kept (past
    /// the first MiB the runner punches holes in it: not predictable).
    func readInherited(_ what: String, at position: Int64, count: Int) -> Outcome {
        if what.contains("/dev/null") { return Outcome(result: 0, data: []) }
        guard logSize <= ReferenceModel.logKept else { return Outcome(result: nil) }
        let bytes = Self.bytes(of: logContents, at: position, count: count)
        return Outcome(result: Int64(bytes.count), data: bytes)
    }

    /// write (or pwrite at `position`) on the descriptors the runner gives `main`: /dev/null takes everything;
    /// the log grows by what the scenario writes to it (nothing else writes there but an agent dying), at its
    /// end when the description is O_APPEND (as the runner opens it), else at the position, which a write
    /// (not a pwrite) moves.
    mutating func writeInherited(_ what: String, _ id: DescriptionID, _ desc: OpenDescription, data: [UInt8],
                                 at position: Int64? = nil) -> Outcome {
        if what.contains("/dev/null") { return Outcome(result: Int64(data.count)) }
        let requested = position ?? logPositions[id] ?? 0
        if Self.passesTheLastPosition(requested, data.count) { return .failure(EINVAL) }
        if !desc.append && requested > Int64(ReferenceModel.maximumModelledFileSize) {
            // The log is on the work directory's file system, whose largest file size (s_maxbytes: EFBIG past
            // it) the model does not know.
            return .beyondModel("a write to the log at offset \(requested): the model follows the log up to "
                + "\(ReferenceModel.maximumModelledFileSize) bytes")
        }
        if data.isEmpty { return Outcome(result: 0) }
        let start = desc.append ? logSize : requested
        let end = start + Int64(data.count)
        if position == nil { logPositions[id] = end }
        logSize = max(logSize, end)
        // Its contents only while they are small (a scenario may write gigabytes there); the size always.
        if logSize <= ReferenceModel.logKept {
            let offset = Int(start)
            if logContents.count < offset { logContents += [UInt8](repeating: 0, count: offset - logContents.count) }
            logContents.replaceSubrange(offset..<min(logContents.count, offset + data.count), with: data)
        } else {
            logContents = []
        }
        return Outcome(result: Int64(data.count))
    }

    /// write on a file or memfd (generic_perform_write): at the offset, or at the end with O_APPEND
    /// (generic_write_checks), filling a hole with zeros; the offset ends after the data.
    ///
    /// `position` is pwrite's: the write goes there, and the description's offset does not move. O_APPEND
    /// still appends (generic_write_checks sets ki_pos to the size for IOCB_APPEND, which iocb_flags takes
    /// from the file: the Linux behaviour pwrite(2) lists under BUGS).
    mutating func writeContents(_ id: DescriptionID, _ desc: OpenDescription, data: [UInt8], at position: Int64? = nil)
        -> Outcome
    {
        let requested = position ?? desc.offset ?? 0
        // rw_verify_area: a position and count past the largest loff_t is EINVAL before anything is written -
        // with O_APPEND too, where ksys_write hands it the description's offset although the data goes to the end.
        if Self.passesTheLastPosition(requested, data.count) { return .failure(EINVAL) }
        // A zero-length write changes nothing (not even an O_APPEND offset: generic_write_checks returns first).
        if data.isEmpty { return Outcome(result: 0) }
        let start = desc.append ? Int(contentsSize(desc.target) ?? 0) : Int(requested)
        // A sealed memfd refuses the write, or a part of it (Model+Seals).
        var data = data
        if let sealed = sealedWriteLength(desc.target, at: start, count: data.count) {
            guard let written = sealed.result, sealed.errno == 0 else { return sealed }
            data = Array(data[0..<Int(written)])
        }
        // A limit of the model, not the kernel's: contents are stored densely, so a file past 256 MiB (the
        // kernel makes it sparse) is not materialised; the step is the harness's ERROR, never a finding.
        if start + data.count > ReferenceModel.maximumModelledFileSize {
            return .beyondModel("a write that would make a file \(start + data.count) bytes long: the model keeps "
                + "file contents whole, up to \(ReferenceModel.maximumModelledFileSize) bytes")
        }
        // Taken out of the model while it changes, so that the change is made in place: a copy left in the
        // dictionary made every write copy the whole file (a loop writing a 256 MiB memfd took minutes).
        var contents = takeContents(of: desc.target)
        let gapFrom = contents.count < start ? contents.count : nil
        if contents.count < start { contents += [UInt8](repeating: 0, count: start - contents.count) }
        let overlap = min(data.count, contents.count - start)
        if overlap > 0 { contents.replaceSubrange(start..<(start + overlap), with: data[0..<overlap]) }
        if overlap < data.count { contents += data[overlap...] }
        setContents(desc.target, contents)
        if let gapFrom { noteGap(desc.target, from: gapFrom) }
        if position == nil { descriptions[id]?.offset = Int64(start + data.count) }
        return Outcome(result: Int64(data.count))
    }

    // MARK: - /proc/PID/fd/N

    /// open("/proc/PID/fd/N", flags): a new open file description of what the target's descriptor refers to
    /// (fs/proc/base.c: proc_pid_get_link -> fs/proc/fd.c: proc_fd_link, then do_dentry_open on its inode).
    mutating func reopen(_ process: String, target: String, fd: Int32, flags: Set<OpenFlag>) -> Outcome {
        // The same reopen asked again while its process sleeps in fifo_open (a background call).
        if let resumed = resumeFifoOpen(process) { return resumed }
        // do_sys_openat2 reserves the number before the path walk: EMFILE first.
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        // /proc/PID of a reaped (or unknown) process does not exist; a zombie's fd directory is empty.
        guard processes[target]?.state == .running, case let (_, desc)? = fdget(target, fd) else {
            return .failure(ENOENT)
        }
        // build_open_flags: O_PATH keeps only O_CLOEXEC (and O_DIRECTORY, O_NOFOLLOW): no O_CREAT|O_EXCL below.
        let pathOnly = flags.contains(.path)
        // O_CREAT|O_EXCL implies O_NOFOLLOW: the existing /proc entry itself is found (EEXIST) before the
        // magic link (and its permission check) is followed. O_CREAT alone follows it and is ignored.
        if !pathOnly && flags.contains(.creat) && flags.contains(.excl) { return .failure(EEXIST) }
        // proc_pid_get_link: ptrace_may_access(PTRACE_MODE_READ_FSCREDS), else EACCES.
        if ptraceDenied(caller: process, target: target, attach: false) { return .failure(EACCES) }
        if pathOnly {
            // do_o_path: the link's target is only referenced, never opened, whatever it is (a socket, an
            // anonymous inode and a pipe included); the new description is O_PATH and counts as no reader,
            // writer or socket user (found by `handoff fuzz`: scenarios/fuzz/reopen-o-path-*.yaml).
            var offset: Int64?
            if case .file = desc.target { offset = 0 } else if case .memfd = desc.target { offset = 0 }
            let outcome = install(process, target: desc.target, access: .readOnly, flags: [], closeOnExec: flags.contains(.cloexec),
                                  offset: offset)
            if let number = outcome.fds.first, let id = self[tableOf: process][number]?.description {
                descriptions[id]?.pathOnly = true
            }
            return outcome
        }
        let access = AccessMode(openFlags: flags)
        let status = Set<StatusFlag>(openFlags: flags)
        let cloexec = flags.contains(.cloexec)
        switch desc.target {
        case .pidfd where pidfdsReopen && flags.contains(.trunc) && pidfdReopenTruncErrno != 0:
            // pidfs inodes cannot be truncated: EOPNOTSUPP since pidfs_setattr (6.18), EPERM on 6.12 - probed,
            // SystemProbe.pidfdReopenTruncErrno (found by `handoff fuzz`; 6.12 by `run --kernel`).
            return .failure(pidfdReopenTruncErrno)
        case .pidfd(let owner) where pidfdsReopen:
            // A pidfd on pidfs (where the runner's probe found it reopens): a new description of the same
            // process, with the access mode asked for.
            let outcome = install(process, target: .pidfd(process: owner), access: access, flags: status, closeOnExec: cloexec)
            if let number = outcome.fds.first, let id = self[tableOf: process][number]?.description {
                descriptions[id]?.reopenedPidfd = true
            }
            return outcome
        case .socket:
            // A socket inode (S_IFSOCK, mode 0777: anyone passes may_open) has no open: no_open, ENXIO.
            return .failure(ENXIO)
        case .pidfd, .eventfd, .epoll, .anonymous:
            // The shared anonymous inode (eventfd, epoll, signalfd, timerfd, inotify, a pidfd where the probe
            // says pidfs is missing) has no open either (ENXIO) - but may_open checks its permission first, and
            // anon_inode_mkinode made it mode 0600, owned by root at boot: an agent that is not root needs
            // CAP_DAC_OVERRIDE (CAP_DAC_READ_SEARCH to read), else EACCES (seen running as nobody).
            if anonymousInodeDenied(process, access: access, truncate: flags.contains(.trunc)) { return .failure(EACCES) }
            return .failure(ENXIO)
        case .file(let name) where socketFiles.contains(name):
            // An O_PATH descriptor of a socket file: the inode has no open (ENXIO), after may_open.
            return .failure(ENXIO)
        case .file(let name) where fifos[name] != nil:
            // An O_PATH descriptor of a FIFO: fifo_open on its inode, as an open of its name, after may_open.
            return openFifo(process, name, flags: flags)
        case .file, .memfd:
            // The magic link is followed, then may_open checks the file's permission bits.
            if case .file(let name) = desc.target,
                accessDenied(process, file: name, access: access, truncate: flags.contains(.trunc))
            {
                return .failure(EACCES)
            }
            // O_TRUNC empties a regular file or memfd whatever the access mode - unless F_SEAL_SHRINK forbids it
            // (handle_truncate -> do_truncate -> shmem_setattr: EPERM, after the number was reserved).
            if flags.contains(.trunc) && sealForbidsResize(desc.target, to: 0) { return .failure(EPERM) }
            if flags.contains(.trunc) { setContents(desc.target, []) }
            return install(process, target: desc.target, access: access, flags: status, closeOnExec: cloexec,
                           offset: 0)
        case .pipeRead(let p), .pipeWrite(let p), .pipeReadWrite(let p):
            // fifo_open on the pipe's inode: a FIFO's (its name's pipe now, which may be another than this
            // descriptor's if that one's openers are all gone) after may_open; an anonymous pipe's, which never
            // waits for a partner (is_pipe).
            if let name = pipes[p]?.fifo { return openFifo(process, name, flags: flags) }
            return fifoOpen(process, .anonymous(p), access: access, status: status, closeOnExec: cloexec)
        case .inherited(let what):
            // O_TRUNC empties the log too (found by `handoff fuzz` through the Python agent); /dev/null has
            // nothing to lose.
            if flags.contains(.trunc) && !what.contains("/dev/null") {
                logContents = []
                logSize = 0
            }
            return install(process, target: .inherited(what), access: access, flags: status, closeOnExec: cloexec)
        }
    }
}
