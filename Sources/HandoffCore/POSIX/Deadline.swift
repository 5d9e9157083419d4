// Monotonic time and deadlines: every wait of the runner is bounded by one.

import Glibc

/// CLOCK_MONOTONIC in nanoseconds.
func monotonicNow() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// A point in monotonic time after which waiting stops.
struct Deadline {
    var nanoseconds: UInt64

    /// Saturates instead of trapping: a NaN or negative span is already expired, a span beyond what the
    /// clock can count (1e308, infinity) is a deadline that never comes.
    init(secondsFromNow seconds: Double) {
        let now = monotonicNow()
        guard seconds > 0 else {  // false for NaN too
            nanoseconds = now
            return
        }
        let span = seconds * 1e9
        // Double(UInt64.max) rounds up to 2^64, which does not convert: compare with the largest exact value below.
        guard span < 18_446_744_073_709_549_568 else {
            nanoseconds = .max
            return
        }
        let (sum, overflow) = now.addingReportingOverflow(UInt64(span))
        nanoseconds = overflow ? .max : sum
    }

    /// Milliseconds left for poll(2), at least 0.
    var remainingMilliseconds: Int32 {
        let now = monotonicNow()
        if now >= nanoseconds { return 0 }
        return Int32(min(UInt64(Int32.max), (nanoseconds - now + 999_999) / 1_000_000))
    }

    var expired: Bool { monotonicNow() >= nanoseconds }
}

/// Waits until `descriptor` is readable (or hung up) or the deadline passes; retries on EINTR.
/// Returns false on timeout. `idle`, if given, is called every 100 ms of waiting.
func waitReadable(_ descriptor: Int32, until deadline: Deadline, idle: (() -> Void)? = nil) -> Bool {
    while true {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let remaining = deadline.remainingMilliseconds
        let slice = idle == nil ? remaining : min(remaining, 100)
        let ready = poll(&entry, 1, slice)
        if ready > 0 { return true }
        if ready == 0 {
            if slice == remaining { return false }
            idle?()
            continue
        }
        if errno != EINTR { return true }  // let the caller's read report the error
    }
}
