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
    }

    /// A wait status as the model expresses it: the exit code, or 128 + the signal number.
    static func exitStatus(_ raw: Int32) -> Int32 {
        if raw & 0x7f == 0 { return (raw >> 8) & 0xff }
        return 128 + (raw & 0x7f)
    }

    /// `-1 EBADF`, or `3 fds [3] data "hi" MSG_CTRUNC status 0`.
    public var summary: String {
        if blocks { return "blocks forever" }
        if errno != 0 { return "-1 \(Errno.name(of: errno))" }
        var parts: [String] = [result.map { String($0) } ?? "ok"]
        if !fds.isEmpty { parts.append("fds [\(fds.map(String.init).joined(separator: ", "))]") }
        if let data { parts.append("data \(quoted(data))") }
        if let messageFlags, messageFlags != 0 {
            var names: [String] = []
            if messageFlags & Linux.MSG_CTRUNC != 0 { names.append("MSG_CTRUNC") }
            if messageFlags & Linux.MSG_TRUNC != 0 { names.append("MSG_TRUNC") }
            if messageFlags & Linux.MSG_OOB != 0 { names.append("MSG_OOB") }
            parts.append(names.joined(separator: "|"))
        }
        if let status { parts.append("status \(status)") }
        if let credentials { parts.append(credentials.description) }
        if let from { parts.append("from \(from)") }
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
        default: text += "\\x" + String(byte, radix: 16)
        }
    }
    return text + "\""
}
