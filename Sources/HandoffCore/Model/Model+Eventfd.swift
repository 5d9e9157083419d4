#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// eventfd (fs/eventfd.c): a 64-bit counter behind an anonymous inode.

extension ReferenceModel {
    /// fs/eventfd.c: do_eventfd - the number first (EMFILE), then the counter with its initial value.
    mutating func eventfd(_ process: String, initial: UInt32, closeOnExec: Bool, nonBlocking: Bool,
                          semaphore: Bool = false) -> Outcome {
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let object = nextEventfd.take()
        eventCounters[object] = UInt64(initial)
        if semaphore { eventSemaphores.insert(object) }
        return install(process, target: .eventfd(object: object), access: .readWrite,
                       flags: nonBlocking ? [.nonblock] : [], closeOnExec: closeOnExec)
    }

    /// fs/eventfd.c: eventfd_read.
    mutating func readEventfd(_ object: EventfdID, description desc: OpenDescription, count: Int) -> Outcome {
        // eventfd_read: fewer than 8 bytes is EINVAL; a zero counter waits (EAGAIN when non-blocking);
        // otherwise the counter, little-endian, and it is reset; with EFD_SEMAPHORE (eventfd_ctx_do_read) 1,
        // and the counter goes down by 1.
        if count < 8 { return .failure(EINVAL) }
        let counter = eventCounters[object] ?? 0
        if counter == 0 { return desc.nonBlocking ? .failure(EAGAIN) : Outcome(blocks: true) }
        let value: UInt64 = eventSemaphores.contains(object) ? 1 : counter
        eventCounters[object] = counter - value
        // `wake_up_locked_poll(&ctx->wqh, EPOLLOUT)`.
        wake(.eventfd(object), key: Linux.EPOLLOUT)
        return Outcome(result: 8, data: (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) })
    }

    /// fs/eventfd.c: eventfd_write.
    mutating func writeEventfd(_ object: EventfdID, description desc: OpenDescription, data: [UInt8]) -> Outcome {
        // eventfd_write: exactly 8 bytes (fewer: EINVAL), a value below 2^64-1 (else EINVAL) added to the
        // counter only while the sum stays below 2^64-1 (`ULLONG_MAX - ctx->count > ucnt`); otherwise EAGAIN
        // on an O_NONBLOCK eventfd, or a wait for a read (found porting LTP eventfd tests: the model wrapped).
        // Since the count check became strict (probed: SystemProbe.eventfdWriteExact) anything but 8 bytes
        // is EINVAL; before, more than 8 wrote the first 8.
        if data.count < 8 || (eventfdWriteExact && data.count != 8) { return .failure(EINVAL) }
        let value = (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[$1]) << ($1 * 8) }
        if value == UInt64.max { return .failure(EINVAL) }
        let count = eventCounters[object, default: 0]
        guard UInt64.max - count > value else { return desc.nonBlocking ? .failure(EAGAIN) : Outcome(blocks: true) }
        eventCounters[object] = count + value
        // `wake_up_locked_poll(&ctx->wqh, EPOLLIN)`, whatever was added (0 too).
        wake(.eventfd(object), key: Linux.EPOLLIN)
        return Outcome(result: 8)
    }
}
