#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HandoffProtocol

// File seals (mm/memfd.c) and ftruncate (fs/open.c): the seals are the inode's, so every description of a
// memfd - dup'ed, passed with SCM_RIGHTS, reopened through /proc/PID/fd/N - sees the same set.

extension ReferenceModel {
    /// The seals F_GET_SEALS reports for an object: a memfd's set (F_SEAL_SEAL alone without
    /// MFD_ALLOW_SEALING, memfd_create), F_SEAL_SEAL for a regular file on tmpfs (a shmem file that never
    /// allowed sealing), nil for anything else (memfd_file_seals_ptr is NULL: EINVAL).
    func seals(of target: DescriptionTarget) -> Set<MemfdSeal>? {
        switch target {
        case .memfd(let object, _): return memfdSeals[object] ?? []
        case .file: return filesAreShmem ? [.seal] : nil
        case .pipeRead, .pipeWrite, .pipeReadWrite, .socket, .pidfd, .eventfd, .epoll, .anonymous, .inherited: return nil
        }
    }

    /// F_ALL_SEALS of this kernel: F_SEAL_EXEC only since 6.3 (SystemProbe.memfdSealExec).
    var knownSeals: Set<MemfdSeal> { sealExec ? Set(MemfdSeal.allCases) : Set(MemfdSeal.allCases).subtracting([.exec]) }

    /// mm/memfd.c: memfd_add_seals - FMODE_WRITE (EPERM), unknown bits (EINVAL), an object without seals
    /// (EINVAL), F_SEAL_SEAL already set (EPERM); F_SEAL_EXEC on an executable inode (a memfd without
    /// MFD_NOEXEC_SEAL is 0777) implies F_SEAL_SHRINK, GROW, WRITE and FUTURE_WRITE.
    mutating func addSeals(_ desc: OpenDescription, _ added: Set<MemfdSeal>) -> Outcome {
        guard desc.writable else { return .failure(EPERM) }
        guard added.isSubset(of: knownSeals) else { return .failure(EINVAL) }
        guard let current = seals(of: desc.target) else { return .failure(EINVAL) }
        if current.contains(.seal) { return .failure(EPERM) }
        guard case .memfd(let object, _) = desc.target else { return .failure(EINVAL) }
        var seals = added
        if seals.contains(.exec) { seals.formUnion([.shrink, .grow, .write, .futureWrite]) }
        memfdSeals[object, default: []].formUnion(seals)
        return Outcome(result: 0)
    }

    /// mm/memfd.c: memfd_get_seals - the inode's seals, or EINVAL for an object without any.
    func getSeals(_ desc: OpenDescription) -> Outcome {
        guard let seals = seals(of: desc.target) else { return .failure(EINVAL) }
        return Outcome(result: Int64(MemfdSeal.linux(seals)))
    }

    /// mm/shmem.c: shmem_write_begin, per chunk of generic_perform_write (a page): F_SEAL_WRITE or
    /// F_SEAL_FUTURE_WRITE refuse every write (EPERM); F_SEAL_GROW refuses the first chunk that would end past
    /// i_size - EPERM if nothing was written yet, else the bytes written so far. nil: no seal applies.
    func sealedWriteLength(_ target: DescriptionTarget, at start: Int, count: Int) -> Outcome? {
        guard case .memfd(let object, _) = target, let seals = memfdSeals[object], count > 0 else { return nil }
        if seals.contains(.write) || seals.contains(.futureWrite) { return .failure(EPERM) }
        guard seals.contains(.grow) else { return nil }
        let size = memfds[object]?.count ?? 0
        var position = start
        while position < start + count {
            let chunk = min(Linux.PAGE_SIZE - position % Linux.PAGE_SIZE, start + count - position)
            if position + chunk > size { break }
            position += chunk
        }
        if position == start + count { return nil }
        return position == start ? .failure(EPERM) : Outcome(result: Int64(position - start))
    }

    /// mm/shmem.c: shmem_setattr - a smaller size under F_SEAL_SHRINK or a larger one under F_SEAL_GROW is
    /// EPERM (an equal size passes).
    func sealForbidsResize(_ target: DescriptionTarget, to length: Int) -> Bool {
        guard case .memfd(let object, _) = target, let seals = memfdSeals[object] else { return false }
        let size = memfds[object]?.count ?? 0
        return (length < size && seals.contains(.shrink)) || (length > size && seals.contains(.grow))
    }

    /// fs/fcntl.c: do_fcntl F_DUPFD_QUERY -> f_dupfd_query: both numbers looked up raw (an O_PATH file
    /// included: check_fcntl_cmd allows the command), EBADF for either missing, then whether they are one
    /// struct file - one open file description.
    func dupfdQuery(_ process: String, fd: Int32, other: Int32) -> Outcome {
        guard let first = self[tableOf: process][fd], let second = self[tableOf: process][other] else {
            return .failure(EBADF)
        }
        return Outcome(result: first.description == second.description ? 1 : 0)
    }

    /// fs/open.c: do_sys_ftruncate - a negative length is EINVAL before the descriptor is looked up (EBADF,
    /// O_PATH included); do_ftruncate: not a regular file or not open for writing is EINVAL; then
    /// do_truncate -> notify_change (shmem_setattr's seals) cuts or zero-extends the contents. The offset stays.
    mutating func ftruncate(_ process: String, fd: Int32, length: Int64) -> Outcome {
        guard length >= 0 else { return .failure(EINVAL) }
        guard case let (_, desc)? = fdget(process, fd), !desc.pathOnly else { return .failure(EBADF) }
        switch desc.target {
        case .file, .memfd:
            guard desc.writable else { return .failure(EINVAL) }
            let size = Int(length)
            if sealForbidsResize(desc.target, to: size) { return .failure(EPERM) }
            var contents = self.contents(of: desc.target)
            let gapFrom = contents.count < size ? contents.count : nil
            if contents.count > size { contents.removeLast(contents.count - size) }
            if contents.count < size { contents += [UInt8](repeating: 0, count: size - contents.count) }
            setContents(desc.target, contents)
            if let gapFrom { noteGap(desc.target, from: gapFrom) }
            return Outcome(result: 0)
        case .inherited(let what):
            // /dev/null is a character device (EINVAL); the log is a regular file the scenario may cut or
            // extend like any other.
            guard !what.contains("/dev/null"), desc.writable else { return .failure(EINVAL) }
            logSize = length
            if logContents.count > Int(length) { logContents.removeLast(logContents.count - Int(length)) }
            if logContents.count < Int(length), logSize <= ReferenceModel.logKept {
                logContents += [UInt8](repeating: 0, count: Int(length) - logContents.count)
            }
            return Outcome(result: 0)
        case .pidfd where pidfdsReopen:
            // A pidfs inode is S_IFREG: open for writing, do_truncate reaches pidfs_setattr, which refuses:
            // EOPNOTSUPP on 6.18; on 6.12 pidfd_open's own file says EOPNOTSUPP while one reopened through /proc
            // says EPERM, as an O_TRUNC reopen does - so both are probed (SystemProbe.pidfdFtruncateErrno,
            // pidfdReopenTruncErrno; found by `handoff fuzz`: scenarios/fuzz/ftruncate-pidfd.yaml, the 6.12 split
            // by `run --kernel 6.12`).
            guard desc.writable else { return .failure(EINVAL) }
            let errno = desc.reopenedPidfd ? pidfdReopenTruncErrno : pidfdFtruncateErrno
            return errno != 0 ? .failure(errno) : Outcome(result: 0)
        case .pipeRead, .pipeWrite, .pipeReadWrite, .socket, .pidfd, .eventfd, .epoll, .anonymous:
            return .failure(EINVAL)
        }
    }
}
