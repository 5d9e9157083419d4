// Message operations applied to the model: the dispatch by operation, and the rules that belong to no
// one kernel object's file (ReferenceModel.apply dispatches here by family).

import Glibc
import HandoffProtocol

extension ReferenceModel {
    mutating func apply(messages operation: MessageOperation<ResolvedNaming>, by process: String) -> Outcome {
        switch operation {
        case let .send(socket, fds, data, flags):
            return send(process, socket: socket, fds: fds, data: data, flags: flags)
        case let .recv(socket, count, room, closeOnExec, nonBlocking, flags, control):
            return recv(process, socket: socket, count: count, room: room, closeOnExec: closeOnExec,
                        nonBlocking: nonBlocking, viaRead: false, flags: flags, control: control)
        case let .sendHeaders(socket, fds, headers, cmsgLength, data):
            return sendHeaders(process, socket: socket, fds: fds, headers: headers, cmsgLength: cmsgLength, data: data)
        }
    }

    /// The descriptor it needs a full (non-O_PATH) file for, which ReferenceModel.apply checks first (EBADF);
    /// nil when it takes none or checks O_PATH in its own rule, in the kernel's order.
    func fullFile(_ operation: MessageOperation<ResolvedNaming>) -> Int32? {
        switch operation {
        case .send(let fd, _, _, _), .recv(let fd, _, _, _, _, _, _), .sendHeaders(let fd, _, _, _, _): return fd
        }
    }
}
