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
        case let .reopen(target, fd, flags):
            return reopen(process, target: target, fd: fd, flags: flags)
        case let .ftruncate(fd, length):
            return ftruncate(process, fd: fd, length: length)
        }
    }
}
