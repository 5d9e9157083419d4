// epoll and shutdown: the model of issue 8's two new operations (written below after the split).
import HandoffProtocol
#if canImport(Glibc)
import Glibc
#endif

extension ReferenceModel {
    mutating func shutdown(_ process: String, socket: Int32, how: ShutdownHow) -> Outcome { .failure(ENOSYS) }
    mutating func epollCreate(_ process: String, closeOnExec: Bool) -> Outcome { .failure(ENOSYS) }
    mutating func epollCtl(_ process: String, epoll: Int32, op: EpollControl, fd: Int32, events: Set<EpollEvent>) -> Outcome {
        .failure(ENOSYS)
    }
}
