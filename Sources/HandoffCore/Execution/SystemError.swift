import Glibc

/// A failure of the harness itself (not of the system under test): a system call the runner needed failed,
/// an agent died or stopped answering, a deadline passed. Scenario outcomes are never thrown; these are.
public enum HarnessError: Error, CustomStringConvertible, Sendable {
    case system(call: String, errno: Int32)
    case agentGone(process: String, reason: String)
    case protocolViolation(process: String, detail: String)
    case timedOut(process: String, seconds: Double)
    /// What the scenario needs cannot be decided on this system (the scenario is skipped with this reason).
    case undecidable(String)
    case interrupted

    public var description: String {
        switch self {
        case .system(let call, let errno): return "\(call) failed: \(Errno.name(of: errno)) (\(String(cString: strerror(errno))))"
        case .agentGone(let process, let reason): return "process '\(process)' is gone: \(reason)"
        case .protocolViolation(let process, let detail): return "agent of '\(process)' broke the protocol: \(detail)"
        case .timedOut(let process, let seconds): return "timed out after \(formatSeconds(seconds)) waiting for '\(process)'"
        case .undecidable(let reason): return reason
        case .interrupted: return "interrupted"
        }
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}

/// CLOCK_MONOTONIC in nanoseconds.
func monotonicNow() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// A point in monotonic time after which waiting stops.
struct Deadline {
    var nanoseconds: UInt64

    init(secondsFromNow seconds: Double) {
        nanoseconds = monotonicNow() + UInt64(max(0, seconds) * 1e9)
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

/// The whole file (up to `limit` bytes), or nil when it cannot be opened.
func readFile(_ path: String, limit: Int) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    if descriptor < 0 { return nil }
    defer { close(descriptor) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    while result.count < limit {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, min($0.count, limit - result.count)) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        result += chunk[0..<count]
    }
    return result
}

/// Writes `text` in one write(2) (cgroup files take one value per write); false on failure.
@discardableResult
func writeFile(_ path: String, _ text: String) -> Bool {
    let descriptor = open(path, O_WRONLY | O_CLOEXEC)
    if descriptor < 0 { return false }
    defer { close(descriptor) }
    let bytes = Array(text.utf8)
    var written: Int
    repeat {
        written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    } while written < 0 && errno == EINTR
    return written == bytes.count
}
