// Between the wire and the model: an agent's Answer as the model's Outcome, and how outcomes are shown.

import HandoffProtocol

extension Outcome {
    /// The msg_flags bits the model predicts.
    static let predictedMessageFlags = Linux.MSG_CTRUNC | Linux.MSG_TRUNC | Linux.MSG_OOB

    /// The outcome an agent reported.
    init(answer: Answer) {
        self.init(result: answer.errno == 0 ? answer.result : -1, errno: answer.errno, fds: answer.fds, data: answer.data,
                  messageFlags: answer.messageFlags.map { $0 & Outcome.predictedMessageFlags },
                  status: answer.waitStatus.map(Outcome.exitStatus))
        from = answer.from
        ready = answer.ready
    }

    /// A wait status as the model expresses it: the exit code, or `killed(by:)` the signal number.
    static func exitStatus(_ raw: Int32) -> Int32 {
        if raw & 0x7f == 0 { return (raw >> 8) & 0xff }
        return killed(by: raw & 0x7f)
    }

    /// `-1 EBADF`, or `3 fds [3] data "hi" MSG_CTRUNC status 0`.
    public var summary: String { summary(dataAround: nil) }

    /// The summary, with long data shown around byte `focus` (where it differs from what it is compared with).
    func summary(dataAround focus: Int?) -> String {
        if blocks { return "blocks forever" }
        if errno != 0 { return "-1 \(Errno.name(of: errno))" }
        var parts: [String] = [result.map { String($0) } ?? "ok"]
        if !fds.isEmpty { parts.append("fds [\(fds.map(String.init).joined(separator: ", "))]") }
        if let data { parts.append("data \(excerpt(data, around: focus))") }
        if let messageFlags, messageFlags != 0 {
            var names: [String] = []
            if messageFlags & Linux.MSG_CTRUNC != 0 { names.append("MSG_CTRUNC") }
            if messageFlags & Linux.MSG_TRUNC != 0 { names.append("MSG_TRUNC") }
            if messageFlags & Linux.MSG_OOB != 0 { names.append("MSG_OOB") }
            parts.append(names.joined(separator: "|"))
        }
        if let status { parts.append(Outcome.describeStatus(status)) }
        if let credentials { parts.append(credentials.description) }
        if let from { parts.append("from \(from)") }
        if let ready {
            let list = ReadyRegistration.listed(ready)
            parts.append(readyChosen ? "ready \(result ?? 0) of \(list)" : "ready \(list)")
        }
        return parts.joined(separator: " ")
    }
}

/// Bytes as a quoted string, escaping what is not printable ASCII.
func quoted(_ bytes: [UInt8]) -> String {
    var text = "\""
    for byte in bytes {
        switch byte {
        case 0x22: text += "\\\""
        case 0x5c: text += "\\\\"
        case 0x0a: text += "\\n"
        case 0x20...0x7e: text += String(UnicodeScalar(byte))
        // Always two digits: "\x1" then "b" read as "\x1b" (ESC), and a diff showed two identical texts.
        default: text += (byte < 0x10 ? "\\x0" : "\\x") + String(byte, radix: 16)
        }
    }
    return text + "\""
}

/// Two texts for a message that says they differ: as they are, unless they would print alike (bytes that
/// differ only in Unicode normalisation, "\u{E9}" and "e\u{301}"), then both `quoted` byte by byte.
func distinguishable(_ expected: String, _ observed: String) -> (String, String) {
    guard expected == observed else { return (expected, observed) }
    return (quoted(Array(expected.utf8)), quoted(Array(observed.utf8)))
}

/// `quoted`, of at most `limit` bytes: a longer text is shown as the window around byte `focus` (the first
/// that differs from what it is compared with; the start when nil), with its length. A 64 KiB receive
/// judged wrong printed both texts whole: 128 KiB on one line of the console and of every report.
func excerpt(_ bytes: [UInt8], around focus: Int?, limit: Int = 64) -> String {
    guard bytes.count > limit else { return quoted(bytes) }
    let start = max(0, min((focus ?? 0) - limit / 2, bytes.count - limit))
    let end = start + limit
    return (start > 0 ? "..." : "") + quoted(Array(bytes[start..<end])) + (end < bytes.count ? "..." : "")
        + " (\(bytes.count) bytes\(start > 0 ? ", shown from byte \(start)" : ""))"
}

/// The first index at which `a` and `b` differ (the shorter one's length when one begins the other); nil
/// when they are equal or either is missing.
func firstDifference(_ a: [UInt8]?, _ b: [UInt8]?) -> Int? {
    guard let a, let b, a != b else { return nil }
    return zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
}
