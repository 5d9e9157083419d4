// Table operations applied to the model: the dispatch by operation, and the rules that belong to no
// one kernel object's file (ReferenceModel.apply dispatches here by family).

import Glibc
import HandoffProtocol

extension ReferenceModel {
    mutating func apply(table operation: TableOperation<ResolvedNaming>, by process: String) -> Outcome {
        switch operation {
        case let .dup(fd):
            return dup(process, fd: fd)
        case let .dup2(fd, target):
            return dup2(process, fd: fd, target: target)
        case let .dup3(fd, target, flags):
            return dup3(process, fd: fd, target: target, flags: flags)
        case let .fcntl(fd, command):
            return fcntl(process, fd: fd, command: command)
        case let .ioctl(fd, request):
            return ioctl(process, fd: fd, request: request)
        case let .close(fd):
            return close(process, fd: fd)
        case let .closeRange(first, last, flags):
            return closeRange(process, first: first, last: last, flags: flags)
        case .unshareFiles:
            return unshareFiles(process)
        case let .dupfdQuery(fd, other):
            return dupfdQuery(process, fd: fd, other: other)
        }
    }

    /// The descriptor it needs a full (non-O_PATH) file for, which ReferenceModel.apply checks first (EBADF);
    /// nil when it takes none or checks O_PATH in its own rule, in the kernel's order.
    func fullFile(_ operation: TableOperation<ResolvedNaming>) -> Int32? {
        switch operation {
        // fcntl on O_PATH: check_fcntl_cmd lets only the raw commands through. ioctl: fdget refuses O_PATH.
        case .fcntl(let fd, .setfl), .fcntl(let fd, .addSeals), .fcntl(let fd, .getSeals), .fcntl(let fd, .getPipeSize),
             .fcntl(let fd, .setPipeSize), .ioctl(let fd, _):
            return fd
        case .fcntl, .dup, .dup2, .dup3, .close, .closeRange, .dupfdQuery, .unshareFiles: return nil
        }
    }
}
