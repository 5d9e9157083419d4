// File operations applied to the model: the dispatch by operation, and the rules that belong to no
// one kernel object's file (ReferenceModel.apply dispatches here by family).

import Glibc
import HandoffProtocol

extension ReferenceModel {
    mutating func apply(files operation: FileOperation<ResolvedNaming>, by process: String) -> Outcome {
        switch operation {
        case let .open(path, flags, mode):
            return open(process, path: path, flags: flags, mode: mode)
        case let .memfd(name, closeOnExec, allowSealing):
            return memfd(process, name: name, closeOnExec: closeOnExec, allowSealing: allowSealing)
        case let .lseek(fd, offset, whence):
            return lseek(process, fd: fd, offset: offset, whence: whence)
        case let .read(fd, count):
            return read(process, fd: fd, count: count)
        case let .write(fd, data):
            return write(process, fd: fd, data: data)
        case let .pread(fd, count, offset):
            return pread(process, fd: fd, count: count, offset: offset)
        case let .pwrite(fd, data, offset):
            return pwrite(process, fd: fd, data: data, offset: offset)
        case let .reopen(target, fd, flags):
            return reopen(process, target: target, fd: fd, flags: flags)
        case let .ftruncate(fd, length):
            return ftruncate(process, fd: fd, length: length)
        case let .mkfifo(path, mode):
            return mkfifo(process, path: path, mode: mode)
        }
    }

    /// fs/read_write.c: ksys_pread64 - a negative position is EINVAL before the descriptor is looked at; then
    /// fdget (EBADF, O_PATH included), FMODE_PREAD (ESPIPE: do_dentry_open sets it for files opened by path,
    /// memfd_create for its files; pipes, sockets and anonymous inodes have none), then vfs_read: FMODE_READ
    /// (EBADF) and the file's read_iter at `offset` (generic_file_read_iter, shmem_file_read_iter: up to the
    /// end of the contents). The description's offset stays where it was: a descriptor passed to another process
    /// and read there with pread does not move the position its sharers see.
    mutating func pread(_ process: String, fd: Int32, count: Int, offset: Int64) -> Outcome {
        guard offset >= 0 else { return .failure(EINVAL) }
        guard case let (_, desc)? = fdget(process, fd), !desc.pathOnly else { return .failure(EBADF) }
        switch desc.target {
        case .file, .memfd:
            guard desc.readable else { return .failure(EBADF) }
            if Self.passesTheLastPosition(offset, count) { return .failure(EINVAL) }
            let bytes = Self.bytes(of: contents(of: desc.target), at: offset, count: count)
            return Outcome(result: Int64(bytes.count), data: bytes)
        case .inherited(let what):
            // /dev/null and the log, both opened by path (FMODE_PREAD).
            guard desc.readable else { return .failure(EBADF) }
            return readInherited(what, at: offset, count: count)
        case .pidfd where pidfdPreadErrno != ESPIPE:
            // On pidfs (6.9+) a pidfd is a file opened by path, with FMODE_PREAD: vfs_read then checks FMODE_READ
            // and finds no read_iter (EINVAL, probed: SystemProbe.pidfdPreadErrno; found by `handoff fuzz`:
            // scenarios/fuzz/pread-pidfd.yaml).
            return .failure(desc.readable ? pidfdPreadErrno : EBADF)
        case .pipeRead, .pipeWrite, .pipeReadWrite, .socket, .pidfd, .epoll, .eventfd, .anonymous:
            return .failure(ESPIPE)
        }
    }

    /// fs/read_write.c: ksys_pwrite64 - as ksys_pread64 (EINVAL for a negative position, fdget, FMODE_PWRITE or
    /// ESPIPE), then vfs_write: FMODE_WRITE (EBADF), FMODE_CAN_WRITE (EINVAL), rw_verify_area, the write_iter at
    /// `offset`. The description's offset stays where it was, and O_APPEND still appends (generic_write_checks):
    /// a sharer of the description sees neither move.
    mutating func pwrite(_ process: String, fd: Int32, data: [UInt8], offset: Int64) -> Outcome {
        guard offset >= 0 else { return .failure(EINVAL) }
        guard case let (entry, desc)? = fdget(process, fd), !desc.pathOnly else { return .failure(EBADF) }
        switch desc.target {
        case .file, .memfd:
            guard desc.writable else { return .failure(EBADF) }
            return writeContents(entry.description, desc, data: data, at: offset)
        case .inherited(let what):
            guard desc.writable else { return .failure(EBADF) }
            return writeInherited(what, entry.description, desc, data: data, at: offset)
        case .pidfd where pidfdPreadErrno != ESPIPE:
            // pidfs (6.9+): opened by path, so FMODE_PWRITE; no write_iter (EINVAL), as pread finds (probed).
            return .failure(desc.writable ? EINVAL : EBADF)
        case .pipeRead, .pipeWrite, .pipeReadWrite, .socket, .pidfd, .epoll, .eventfd, .anonymous:
            return .failure(ESPIPE)
        }
    }

    /// The descriptor it needs a full (non-O_PATH) file for, which ReferenceModel.apply checks first (EBADF);
    /// nil when it takes none or checks O_PATH in its own rule, in the kernel's order.
    func fullFile(_ operation: FileOperation<ResolvedNaming>) -> Int32? {
        switch operation {
        case .read(let fd, _), .write(let fd, _), .lseek(let fd, _, _): return fd
        // pread, pwrite: EINVAL for a negative position comes before fdget's EBADF (their rules check O_PATH).
        case .open, .memfd, .pread, .pwrite, .ftruncate, .reopen, .mkfifo: return nil
        }
    }
}
