import Glibc
import HandoffProtocol

// Raw values of the flags the scenario format names. Kept here, beside the wire requests that carry them.
enum RawFlags {
    static func open(_ flags: Set<OpenFlag>) -> Int32 {
        var raw: Int32 = 0
        for flag in flags {
            switch flag {
            case .rdonly: raw |= O_RDONLY
            case .wronly: raw |= O_WRONLY
            case .rdwr: raw |= O_RDWR
            case .creat: raw |= O_CREAT
            case .excl: raw |= O_EXCL
            case .trunc: raw |= O_TRUNC
            case .append: raw |= O_APPEND
            case .nonblock: raw |= O_NONBLOCK
            case .cloexec: raw |= O_CLOEXEC
            case .path: raw |= 0o10000000  // O_PATH (not exported by Swift's Glibc module)
            }
        }
        return raw
    }

    static func status(_ flags: Set<StatusFlag>) -> Int32 {
        (flags.contains(.append) ? O_APPEND : 0) | (flags.contains(.nonblock) ? O_NONBLOCK : 0)
    }

    static func socketType(_ type: SocketType) -> Int32 {
        switch type {
        case .stream: return Int32(SOCK_STREAM.rawValue)
        case .dgram: return Int32(SOCK_DGRAM.rawValue)
        case .seqpacket: return Int32(SOCK_SEQPACKET.rawValue)
        }
    }

    static func whence(_ whence: Whence) -> Int32 {
        switch whence {
        case .set: return SEEK_SET
        case .cur: return SEEK_CUR
        case .end: return SEEK_END
        }
    }

    static func socketFlags(_ closeOnExec: Bool, _ nonBlocking: Bool) -> Int32 {
        (closeOnExec ? Int32(SOCK_CLOEXEC.rawValue) : 0) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
    }

    static let closeRangeUnshare: Int32 = 2
    static let closeRangeCloexec: Int32 = 4
    static let memfdCloexec: Int32 = 1
    static let messageCloexec = Int32(bitPattern: 0x4000_0000)
    static let messageDontWait: Int32 = 0x40
    /// The msg_flags bits the model predicts: MSG_CTRUNC and MSG_TRUNC.
    static let predictedMessageFlags: Int32 = 0x08 | 0x20
}

extension Operation {
    /// The wire request for this operation. `pids` and `channels` resolve process names.
    func request(pid: (String) -> pid_t, channel: (String) -> Int32) -> WireMessage {
        var message: WireMessage
        switch self {
        case .open(let path, let flags, let mode):
            message = WireMessage(AgentVerb.open.rawValue)
            message.set("path", bytes: Array(path.utf8))
            message.set("flags", RawFlags.open(flags))
            message.set("mode", Int(mode))
        case .pipe(let closeOnExec, let nonBlocking):
            message = WireMessage(AgentVerb.pipe.rawValue)
            message.set("flags", (closeOnExec ? O_CLOEXEC : 0) | (nonBlocking ? O_NONBLOCK : 0))
        case .socketpair(let type, let closeOnExec, let nonBlocking):
            message = WireMessage(AgentVerb.socketpair.rawValue)
            message.set("type", RawFlags.socketType(type) | (closeOnExec ? Int32(SOCK_CLOEXEC.rawValue) : 0)
                            | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0))
        case .memfd(let name, let closeOnExec):
            message = WireMessage(AgentVerb.memfd.rawValue)
            message.set("name", bytes: Array(name.utf8))
            message.set("flags", closeOnExec ? RawFlags.memfdCloexec : 0)
        case .eventfd(let initial, let closeOnExec, let nonBlocking):
            message = WireMessage(AgentVerb.eventfd.rawValue)
            message.set("initial", Int(initial))
            // EFD_CLOEXEC and EFD_NONBLOCK are O_CLOEXEC and O_NONBLOCK.
            message.set("flags", (closeOnExec ? O_CLOEXEC : 0) | (nonBlocking ? O_NONBLOCK : 0))
        case .dup(let fd):
            message = WireMessage(AgentVerb.dup.rawValue)
            message.set("fd", fd)
        case .dup2(let fd, let target):
            message = WireMessage(AgentVerb.dup2.rawValue)
            message.set("fd", fd)
            message.set("target", target)
        case .dup3(let fd, let target, let flags):
            message = WireMessage(AgentVerb.dup3.rawValue)
            message.set("fd", fd)
            message.set("target", target)
            message.set("flags", flags)
        case .fcntl(let fd, let command):
            message = WireMessage(AgentVerb.fcntl.rawValue)
            message.set("fd", fd)
            switch command {
            case .dupfd(let minimum):
                message.set("cmd", F_DUPFD)
                message.set("arg", minimum)
            case .dupfdCloexec(let minimum):
                message.set("cmd", F_DUPFD_CLOEXEC)
                message.set("arg", minimum)
            case .getfd:
                message.set("cmd", F_GETFD)
            case .setfd(let closeOnExec):
                message.set("cmd", F_SETFD)
                message.set("arg", closeOnExec ? FD_CLOEXEC : 0)
            case .getfl:
                message.set("cmd", F_GETFL)
            case .setfl(let flags):
                message.set("cmd", F_SETFL)
                message.set("arg", RawFlags.status(flags))
            }
        case .close(let fd):
            message = WireMessage(AgentVerb.close.rawValue)
            message.set("fd", fd)
        case .closeRange(let first, let last, let closeOnExec, let unshare):
            message = WireMessage(AgentVerb.closeRange.rawValue)
            message.set("first", UInt64(first))
            message.set("last", UInt64(last))
            message.set("flags", (closeOnExec ? RawFlags.closeRangeCloexec : 0) | (unshare ? RawFlags.closeRangeUnshare : 0))
        case .lseek(let fd, let offset, let whence):
            message = WireMessage(AgentVerb.lseek.rawValue)
            message.set("fd", fd)
            message.set("offset", offset)
            message.set("whence", RawFlags.whence(whence))
        case .read(let fd, let count):
            message = WireMessage(AgentVerb.read.rawValue)
            message.set("fd", fd)
            message.set("count", count)
        case .write(let fd, let data):
            message = WireMessage(AgentVerb.write.rawValue)
            message.set("fd", fd)
            message.set("data", bytes: data)
        case .fork:
            message = WireMessage(AgentVerb.fork.rawValue)
        case .exec(let arguments):
            message = WireMessage(AgentVerb.exec.rawValue)
            message.set("args", byteLists: arguments.map { Array($0.utf8) })
        case .exit(let status):
            message = WireMessage(AgentVerb.exit.rawValue)
            message.set("status", status)
        case .wait(let child):
            message = WireMessage(AgentVerb.wait.rawValue)
            message.set("pid", Int32(pid(child)))
        case .send(let socket, let fds, let data):
            message = WireMessage(AgentVerb.send.rawValue)
            message.set("fd", socket)
            message.set("fds", ints: fds)
            message.set("data", bytes: data)
        case .recv(let socket, let count, let room, let closeOnExec, let nonBlocking):
            message = WireMessage(AgentVerb.recv.rawValue)
            message.set("fd", socket)
            message.set("count", count)
            message.set("room", room)
            message.set("flags", (closeOnExec ? RawFlags.messageCloexec : 0) | (nonBlocking ? RawFlags.messageDontWait : 0))
        case .pidfdOpen(let target):
            message = WireMessage(AgentVerb.pidfdOpen.rawValue)
            message.set("pid", Int32(pid(target)))
        case .pidfdGetfd(let target, let fd, let flags):
            message = WireMessage(AgentVerb.pidfdGetfd.rawValue)
            message.set("pid", Int32(pid(target)))
            message.set("fd", fd)
            message.set("flags", Int32(bitPattern: flags))
            message.set("tctl", channel(target))
        case .listen(let address, let type, let closeOnExec, let nonBlocking, let backlog):
            message = WireMessage(AgentVerb.listen.rawValue)
            message.set("addr", address.wire)
            message.set("type", RawFlags.socketType(type) | RawFlags.socketFlags(closeOnExec, nonBlocking))
            message.set("backlog", backlog)
        case .connect(let address, let type, let closeOnExec, let nonBlocking):
            message = WireMessage(AgentVerb.connect.rawValue)
            message.set("addr", address.wire)
            message.set("type", RawFlags.socketType(type) | RawFlags.socketFlags(closeOnExec, nonBlocking))
        case .accept(let socket, let closeOnExec, let nonBlocking):
            message = WireMessage(AgentVerb.accept.rawValue)
            message.set("fd", socket)
            message.set("flags", RawFlags.socketFlags(closeOnExec, nonBlocking))
        case .setrlimit(let nofile):
            message = WireMessage(AgentVerb.setrlimit.rawValue)
            message.set("nofile", nofile)
        case .dropCapability(let name):
            message = WireMessage(AgentVerb.dropCapability.rawValue)
            message.set("name", bytes: Array(name.utf8))
        case .setDumpable(let dumpable):
            message = WireMessage(AgentVerb.setDumpable.rawValue)
            message.set("value", dumpable ? 1 : 0)
        case .reopen(let target, let fd, let flags):
            message = WireMessage(AgentVerb.reopen.rawValue)
            message.set("pid", Int32(pid(target)))
            message.set("fd", fd)
            message.set("flags", RawFlags.open(flags))
            message.set("tctl", channel(target))
        case .cloneFiles:
            message = WireMessage(AgentVerb.cloneFiles.rawValue)
        case .unshareFiles:
            message = WireMessage(AgentVerb.unshareFiles.rawValue)
        case .launch:
            // The program, argv and environment come from the scenario step (ScenarioExecution).
            message = WireMessage(AgentVerb.launch.rawValue)
        case .attach:
            message = WireMessage("attach")  // never sent: the runner adopts the agent that calls back
        }
        return message
    }
}

extension SocketAddress {
    /// `unix:HEX`, `abstract:HEX` or `tcp:PORT` on the wire.
    var wire: String {
        switch self {
        case .unix(let path): return "unix:" + Hex.encode(Array(path.utf8))
        case .abstract(let name): return "abstract:" + Hex.encode(Array(name.utf8))
        case .tcp(let port): return "tcp:\(port)"
        }
    }
}

extension Outcome {
    /// The outcome an agent reported in an `ok` answer.
    init(answer: WireMessage) {
        let errno = answer.int32("e") ?? 0
        self.init(result: errno == 0 ? answer.int64("r") : -1, errno: errno, fds: answer.ints("fds") ?? [],
                  data: answer.bytes("d"),
                  messageFlags: answer.int32("mf").map { $0 & RawFlags.predictedMessageFlags },
                  status: answer.int32("st").map(Outcome.exitStatus))
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
            if messageFlags & 0x08 != 0 { names.append("MSG_CTRUNC") }
            if messageFlags & 0x20 != 0 { names.append("MSG_TRUNC") }
            parts.append(names.joined(separator: "|"))
        }
        if let status { parts.append("status \(status)") }
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
