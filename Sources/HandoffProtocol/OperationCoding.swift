// One encoder and one decoder of operations on the wire. An operation travels as a WireMessage whose verb is
// its keyword; every field is listed in docs/protocol.md. Descriptors are decimal numbers (or `@SLOT` inside
// a loop), flags are Linux's values, bytes are hex.

/// A descriptor as it travels.
public protocol WireDescriptor: Hashable, Sendable {
    var wire: String { get }
    init?(wire: Substring)
}

extension Int32: WireDescriptor {
    public var wire: String { String(self) }
    public init?(wire: Substring) { self.init(wire, radix: 10) }
}

extension LoopOperand: WireDescriptor {
    public var wire: String {
        switch self {
        case .number(let number): return String(number)
        case .slot(let slot): return "@\(slot)"
        }
    }

    public init?(wire: Substring) {
        if wire.hasPrefix("@") {
            guard let slot = Int(wire.dropFirst()), slot >= 0 else { return nil }
            self = .slot(slot)
        } else {
            guard let number = Int32(wire) else { return nil }
            self = .number(number)
        }
    }
}

extension SocketAddress {
    /// `unix:HEX`, `abstract:HEX` or `tcp:PORT`.
    public var wire: String {
        switch self {
        case .unix(let path): return "unix:" + Hex.encode(Array(path.utf8))
        case .abstract(let name): return "abstract:" + Hex.encode(Array(name.utf8))
        case .tcp(let port): return "tcp:\(port)"
        }
    }

    public init?(wire text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = text[..<colon]
        let value = text[text.index(after: colon)...]
        switch kind {
        case "unix", "abstract":
            guard let bytes = Hex.decode(value) else { return nil }
            let name = String(decoding: bytes, as: UTF8.self)
            self = kind == "unix" ? .unix(path: name) : .abstract(name: name)
        case "tcp":
            guard let port = UInt16(value) else { return nil }
            self = .tcp(port: port)
        default:
            return nil
        }
    }
}

extension Operation where Naming.Descriptor: WireDescriptor, Naming.Process == ProcessHandle,
    Naming.Address == SocketAddress, Naming.Text == String
{
    /// The request that asks an agent to perform this operation.
    public func encoded() -> WireMessage {
        var message = WireMessage(kind.keyword)
        func fd(_ key: String, _ value: FD) { message.set(key, value.wire) }
        func text(_ key: String, _ value: String) { message.set(key, bytes: Array(value.utf8)) }
        func environment(_ variables: [EnvironmentVariable<String>]) {
            message.set("env", byteLists: variables.map { Array(($0.name + "=" + $0.value).utf8) })
        }
        switch self {
        case .open(let path, let flags, let mode):
            text("path", path)
            message.set("flags", OpenFlag.linux(flags))
            message.set("mode", Int(mode))
        case .pipe(let closeOnExec, let nonBlocking):
            message.set("flags", (closeOnExec ? Linux.O_CLOEXEC : 0) | (nonBlocking ? Linux.O_NONBLOCK : 0))
        case .socketpair(let type, let closeOnExec, let nonBlocking):
            message.set("type", type.linux | socketFlags(closeOnExec, nonBlocking))
        case .memfd(let name, let closeOnExec, let allowSealing):
            text("name", name)
            message.set("flags", Int64((closeOnExec ? Linux.MFD_CLOEXEC : 0) | (allowSealing ? Linux.MFD_ALLOW_SEALING : 0)))
        case .eventfd(let initial, let closeOnExec, let nonBlocking):
            message.set("initial", Int64(initial))
            message.set("flags", (closeOnExec ? Linux.EFD_CLOEXEC : 0) | (nonBlocking ? Linux.EFD_NONBLOCK : 0))
        case .epollCreate(let closeOnExec):
            message.set("flags", closeOnExec ? Linux.EPOLL_CLOEXEC : 0)
        case .epollCtl(let epoll, let op, let target, let events):
            fd("epfd", epoll)
            message.set("op", op.linux)
            fd("fd", target)
            message.set("events", Int64(EpollEvent.linux(events)))
        case .dup(let value):
            fd("fd", value)
        case .dup2(let value, let target):
            fd("fd", value)
            fd("target", target)
        case .dup3(let value, let target, let flags):
            fd("fd", value)
            fd("target", target)
            message.set("flags", flags)
        case .fcntl(let value, let command):
            fd("fd", value)
            message.set("cmd", command.linux.command)
            message.set("arg", command.linux.argument)
        case .close(let value):
            fd("fd", value)
        case .closeRange(let first, let last, let closeOnExec, let unshare):
            message.set("first", Int64(first))
            message.set("last", Int64(last))
            let flags = (closeOnExec ? Linux.CLOSE_RANGE_CLOEXEC : 0) | (unshare ? Linux.CLOSE_RANGE_UNSHARE : 0)
            message.set("flags", Int64(flags))
        case .lseek(let value, let offset, let whence):
            fd("fd", value)
            message.set("offset", offset)
            message.set("whence", whence.linux)
        case .read(let value, let count):
            fd("fd", value)
            message.set("count", count)
        case .write(let value, let data):
            fd("fd", value)
            message.set("data", bytes: data)
        case .shutdown(let socket, let how):
            fd("fd", socket)
            message.set("how", how.linux)
        case .poll(let value, let events, let timeout):
            fd("fd", value)
            message.set("events", Int64(PollEvent.linux(events)))
            message.set("timeout", timeout)
        case .pidfdSendSignal(let pidfd, let signal):
            fd("fd", pidfd)
            message.set("sig", signal.linux)
        case .waitid(let pidfd, let noHang):
            fd("fd", pidfd)
            message.set("flags", noHang ? Linux.WNOHANG : 0)
        case .fork, .cloneFiles, .unshareFiles, .attach, .unixGC, .unshareNet:
            break
        case .exec(let arguments, let variables):
            message.set("args", byteLists: arguments.map { Array($0.utf8) })
            environment(variables)
        case .exit(let status):
            message.set("status", status)
        case .wait(let child):
            message.set("pid", child.pid)
        case .send(let socket, let fds, let data, let flags):
            fd("fd", socket)
            message.set("fds", fds.map(\.wire).joined(separator: ","))
            message.set("data", bytes: data)
            // Only when set: an agent without `flags` on send sends as before.
            if !flags.isEmpty { message.set("flags", SendFlag.linux(flags)) }
        case .sendHeaders(let socket, let fds, let headers, let cmsgLength, let data):
            fd("fd", socket)
            message.set("fds", fds.map(\.wire).joined(separator: ","))
            message.set("headers", headers.map(String.init).joined(separator: ","))
            message.set("cmsglen", cmsgLength ?? -1)
            message.set("data", bytes: data)
        case .recv(let socket, let count, let room, let closeOnExec, let nonBlocking, let flags, let control):
            fd("fd", socket)
            message.set("count", count)
            message.set("room", room)
            message.set("flags", (closeOnExec ? Linux.MSG_CMSG_CLOEXEC : 0) | (nonBlocking ? Linux.MSG_DONTWAIT : 0)
                | MessageFlag.linux(flags))
            // Only when set: an agent without `control` sizes the buffer from `room` as before.
            if let control { message.set("control", control) }
        case .pidfdOpen(let target):
            message.set("pid", target.pid)
        case .pidfdGetfd(let target, let value, let flags):
            message.set("pid", target.pid)
            fd("fd", value)
            message.set("flags", Int64(flags))
            message.set("tctl", target.channel)
        case .pidfdGetfdThrough(let pidfd, let target, let value, let flags):
            message.set("pid", target.pid)
            fd("fd", value)
            message.set("flags", Int64(flags))
            message.set("tctl", target.channel)
            fd("pidfd", pidfd)
        case .listen(let address, let type, let closeOnExec, let nonBlocking, let backlog):
            message.set("addr", address.wire)
            message.set("type", type.linux | socketFlags(closeOnExec, nonBlocking))
            message.set("backlog", backlog)
        case .connect(let address, let type, let closeOnExec, let nonBlocking):
            message.set("addr", address.wire)
            message.set("type", type.linux | socketFlags(closeOnExec, nonBlocking))
        case .accept(let socket, let closeOnExec, let nonBlocking):
            fd("fd", socket)
            message.set("flags", socketFlags(closeOnExec, nonBlocking))
        case .setrlimit(let nofile):
            message.set("nofile", nofile)
        case .dropCapability(let name):
            text("name", name)
        case .setDumpable(let dumpable):
            message.set("value", dumpable ? 1 : 0)
        case .reopen(let target, let value, let flags):
            message.set("pid", target.pid)
            fd("fd", value)
            message.set("flags", OpenFlag.linux(flags))
            message.set("tctl", target.channel)
        case .launch(let program, let arguments, let variables, _, _, _, _, _):
            // Only what the agent needs to execve; the sockets are the runner's and the model's business.
            text("path", program)
            message.set("args", byteLists: arguments.map { Array($0.utf8) })
            environment(variables)
        case .setsockopt(let socket, let option, let value):
            fd("fd", socket)
            message.set("opt", option.linux)
            message.set("value", value)
        case .getsockopt(let socket, let option):
            fd("fd", socket)
            message.set("opt", option.linux)
        case .ftruncate(let value, let length):
            fd("fd", value)
            message.set("length", length)
        case .signalfd(let mask, let closeOnExec, let nonBlocking):
            message.set("mask", Int64(bitPattern: SignalName.mask(mask)))
            message.set("flags", (closeOnExec ? Linux.SFD_CLOEXEC : 0) | (nonBlocking ? Linux.SFD_NONBLOCK : 0))
        case .timerfdCreate(let clock, let closeOnExec, let nonBlocking):
            message.set("clock", clock.linux)
            message.set("flags", (closeOnExec ? Linux.TFD_CLOEXEC : 0) | (nonBlocking ? Linux.TFD_NONBLOCK : 0))
        case .inotifyInit(let closeOnExec, let nonBlocking):
            message.set("flags", (closeOnExec ? Linux.IN_CLOEXEC : 0) | (nonBlocking ? Linux.IN_NONBLOCK : 0))
        case .dupfdQuery(let value, let other):
            fd("fd", value)
            fd("other", other)
        case .socket(let type, let closeOnExec, let nonBlocking):
            message.set("type", type.linux | socketFlags(closeOnExec, nonBlocking))
        case .bind(let socket, let address):
            fd("fd", socket)
            message.set("addr", address.wire)
        case .sendto(let socket, let address, let fds, let data):
            fd("fd", socket)
            message.set("addr", address.wire)
            message.set("fds", fds.map(\.wire).joined(separator: ","))
            message.set("data", bytes: data)
        case .recvfrom(let socket, let count, let room, let closeOnExec, let nonBlocking):
            fd("fd", socket)
            message.set("count", count)
            message.set("room", room)
            message.set("flags", (closeOnExec ? Linux.MSG_CMSG_CLOEXEC : 0) | (nonBlocking ? Linux.MSG_DONTWAIT : 0))
        }
        return message
    }

    /// The operation a request asks for, or why the request is malformed.
    public static func decode(_ message: WireMessage) -> Result<Operation, ProtocolError> {
        guard let kind = OperationKind(rawValue: message.verb) else {
            return .failure(ProtocolError("unknown verb \(message.verb)"))
        }
        var fields = FieldReader(message)
        func fd(_ key: String) -> FD {
            guard let text = fields.require(key), let value = FD(wire: text[...]) else {
                fields.malformed(key)
                return FD(wire: "-1")!
            }
            return value
        }
        func environment() -> [EnvironmentVariable<String>] {
            fields.texts("env", optional: true).compactMap { entry in
                guard let equals = entry.firstIndex(of: "=") else { return nil }
                return EnvironmentVariable(name: String(entry[..<equals]), value: String(entry[entry.index(after: equals)...]))
            }
        }
        func process() -> ProcessHandle { ProcessHandle(pid: fields.int32("pid"), channel: fields.int32("tctl", default: -1)) }
        /// A vocabulary word by its Linux value (`how`, `sig`, `opt`, ...): malformed, and `fallback`, when unknown.
        func word<Word>(_ key: String, _ word: (Int32) -> Word?, or fallback: Word) -> Word {
            guard let value = word(fields.int32(key)) else { fields.malformed(key); return fallback }
            return value
        }
        /// A list of descriptors (`fds`): required, possibly empty.
        func descriptorList(_ key: String) -> [FD] {
            var descriptors: [FD] = []
            if let list = fields.require(key), !list.isEmpty {
                for part in list.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let value = FD(wire: part) else { fields.malformed(key); break }
                    descriptors.append(value)
                }
            }
            return descriptors
        }
        /// What recv and recvfrom both read: the socket, the byte count, the room for descriptors and the flags.
        func receiving() -> (socket: FD, count: Int, room: Int, flags: Int32) {
            let socket = fd("fd")
            let count = fields.count("count")
            let room = Int(fields.int32("room"))
            if room < 0 || room > maximumRoom { fields.malformed("room") }
            return (socket, count, room, fields.int32("flags"))
        }
        let operation: Operation
        switch kind {
        case .open:
            let path = fields.text("path")
            let flags = fields.int32("flags")
            operation = .open(path: path, flags: fields.openFlags(flags, "flags"), mode: UInt32(truncatingIfNeeded: fields.int64("mode")))
        case .pipe:
            let flags = fields.int32("flags")
            operation = .pipe(closeOnExec: flags & Linux.O_CLOEXEC != 0, nonBlocking: flags & Linux.O_NONBLOCK != 0)
        case .socketpair:
            let (type, closeOnExec, nonBlocking) = fields.socketType("type")
            operation = .socketpair(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .memfd:
            let name = fields.text("name")
            let flags = UInt32(truncatingIfNeeded: fields.int64("flags"))
            operation = .memfd(name: name, closeOnExec: flags & Linux.MFD_CLOEXEC != 0,
                               allowSealing: flags & Linux.MFD_ALLOW_SEALING != 0)
        case .eventfd:
            let initial = UInt32(truncatingIfNeeded: fields.int64("initial"))
            let flags = fields.int32("flags")
            operation = .eventfd(initial: initial, closeOnExec: flags & Linux.EFD_CLOEXEC != 0,
                                 nonBlocking: flags & Linux.EFD_NONBLOCK != 0)
        case .epollCreate:
            operation = .epollCreate(closeOnExec: fields.int32("flags") & Linux.EPOLL_CLOEXEC != 0)
        case .epollCtl:
            let epoll = fd("epfd")
            let op = EpollControl(linux: fields.int32("op"))
            let target = fd("fd")
            let events = EpollEvent.set(fromLinux: UInt32(truncatingIfNeeded: fields.int64("events")))
            if op == nil { fields.malformed("op") }
            operation = .epollCtl(epoll: epoll, op: op ?? .add, fd: target, events: events)
        case .dup:
            operation = .dup(fd: fd("fd"))
        case .dup2:
            operation = .dup2(fd: fd("fd"), target: fd("target"))
        case .dup3:
            operation = .dup3(fd: fd("fd"), target: fd("target"), flags: fields.int32("flags"))
        case .fcntl:
            let value = fd("fd")
            let command = FcntlCommand(linux: fields.int32("cmd"), argument: fields.int32("arg", default: 0))
            if command == nil { fields.malformed("cmd") }
            operation = .fcntl(fd: value, command: command ?? .getfd)
        case .close:
            operation = .close(fd: fd("fd"))
        case .closeRange:
            let first = UInt32(truncatingIfNeeded: fields.int64("first"))
            let last = UInt32(truncatingIfNeeded: fields.int64("last"))
            let flags = UInt32(truncatingIfNeeded: fields.int64("flags"))
            operation = .closeRange(first: first, last: last, closeOnExec: flags & Linux.CLOSE_RANGE_CLOEXEC != 0,
                                    unshare: flags & Linux.CLOSE_RANGE_UNSHARE != 0)
        case .lseek:
            let value = fd("fd")
            let offset = fields.int64("offset")
            let whence = word("whence", { raw in Whence.allCases.first { $0.linux == raw } }, or: .set)
            operation = .lseek(fd: value, offset: offset, whence: whence)
        case .read:
            operation = .read(fd: fd("fd"), count: fields.count("count"))
        case .write:
            operation = .write(fd: fd("fd"), data: fields.bytes("data"))
        case .shutdown:
            let socket = fd("fd")
            operation = .shutdown(socket: socket, how: word("how", ShutdownHow.init(linux:), or: .both))
        case .poll:
            let value = fd("fd")
            let events = PollEvent.set(fromLinux: Int16(truncatingIfNeeded: fields.int64("events")))
            operation = .poll(fd: value, events: events, timeout: fields.int32("timeout"))
        case .unixGC:
            operation = .unixGC
        case .pidfdSendSignal:
            let pidfd = fd("fd")
            operation = .pidfdSendSignal(pidfd: pidfd, signal: word("sig", SentSignal.init(linux:), or: .zero))
        case .waitid:
            let pidfd = fd("fd")
            operation = .waitid(pidfd: pidfd, noHang: fields.int32("flags") & Linux.WNOHANG != 0)
        case .fork:
            operation = .fork(child: .new)
        case .exec:
            operation = .exec(arguments: fields.texts("args"), environment: environment())
        case .exit:
            operation = .exit(status: fields.int32("status"))
        case .wait:
            operation = .wait(child: process())
        case .send:
            let socket = fd("fd")
            let descriptors = descriptorList("fds")
            let flags = fields.int32("flags", default: 0)
            if flags & ~SendFlag.linux(Set(SendFlag.allCases)) != 0 { fields.malformed("flags") }
            operation = .send(socket: socket, fds: descriptors, data: fields.bytes("data"), flags: SendFlag.set(fromLinux: flags))
        case .recv:
            let (socket, count, room, flags) = receiving()
            let control = fields.int32("control", default: -1)
            if control < -1 || control > maximumControl { fields.malformed("control") }
            operation = .recv(socket: socket, count: count, room: room, closeOnExec: flags & Linux.MSG_CMSG_CLOEXEC != 0,
                              nonBlocking: flags & Linux.MSG_DONTWAIT != 0, flags: MessageFlag.set(fromLinux: flags),
                              control: control < 0 ? nil : Int(control))
        case .pidfdOpen:
            operation = .pidfdOpen(target: process())
        case .pidfdGetfd:
            let target = process()
            let flags = UInt32(truncatingIfNeeded: fields.int64("flags"))
            if message["pidfd"] != nil {
                operation = .pidfdGetfdThrough(pidfd: fd("pidfd"), target: target, fd: fd("fd"), flags: flags)
            } else {
                operation = .pidfdGetfd(target: target, fd: fd("fd"), flags: flags)
            }
        case .listen, .connect:
            let address = fields.require("addr").flatMap { SocketAddress(wire: $0) }
            if address == nil { fields.malformed("addr") }
            let (type, closeOnExec, nonBlocking) = fields.socketType("type")
            if kind == .listen {
                operation = .listen(address: address ?? .tcp(port: 0), type: type, closeOnExec: closeOnExec,
                                    nonBlocking: nonBlocking, backlog: fields.int32("backlog", default: 16))
            } else {
                operation = .connect(address: address ?? .tcp(port: 0), type: type, closeOnExec: closeOnExec,
                                     nonBlocking: nonBlocking)
            }
        case .accept:
            let socket = fd("fd")
            let flags = fields.int32("flags")
            operation = .accept(socket: socket, closeOnExec: flags & Linux.SOCK_CLOEXEC != 0,
                                nonBlocking: flags & Linux.SOCK_NONBLOCK != 0)
        case .setrlimit:
            operation = .setrlimit(nofile: UInt64(bitPattern: fields.int64("nofile")))
        case .dropCapability:
            operation = .dropCapability(name: fields.text("name"))
        case .setDumpable:
            operation = .setDumpable(fields.int32("value") != 0)
        case .reopen:
            let target = process()
            let value = fd("fd")
            operation = .reopen(target: target, fd: value, flags: fields.openFlags(fields.int32("flags"), "flags"))
        case .cloneFiles:
            operation = .cloneFiles(child: .new)
        case .unshareFiles:
            operation = .unshareFiles
        case .launch:
            operation = .launch(program: fields.text("path"), arguments: fields.texts("args"), environment: environment(),
                                listen: [], acceptMode: false, handover: .listenFDs)
        case .setsockopt, .getsockopt:
            let socket = fd("fd")
            let option = word("opt", SocketOption.init(linux:), or: .passcred)
            if kind == .setsockopt {
                operation = .setsockopt(socket: socket, option: option, value: fields.int32("value"))
            } else {
                operation = .getsockopt(socket: socket, option: option)
            }
        case .attach:
            return .failure(ProtocolError("attach is the runner's, never sent to an agent"))
        case .sendHeaders:
            let socket = fd("fd")
            let descriptors = descriptorList("fds")
            var headers: [Int] = []
            if let list = fields.require("headers"), !list.isEmpty {
                for part in list.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let value = Int(part), value >= 0, value <= maximumHeaderDescriptors else {
                        fields.malformed("headers"); break
                    }
                    headers.append(value)
                }
            }
            if headers.count > maximumHeaders || headers.reduce(0, +) != descriptors.count { fields.malformed("headers") }
            let cmsgLength = fields.int32("cmsglen")
            if cmsgLength < -1 || cmsgLength > maximumControl || (cmsgLength >= 0 && headers.count != 1) {
                fields.malformed("cmsglen")
            }
            operation = .sendHeaders(socket: socket, fds: descriptors, headers: headers,
                                     cmsgLength: cmsgLength < 0 ? nil : Int(cmsgLength), data: fields.bytes("data"))
        case .ftruncate:
            operation = .ftruncate(fd: fd("fd"), length: fields.int64("length"))
        case .signalfd:
            let mask = SignalName.set(fromMask: UInt64(bitPattern: fields.int64("mask")))
            if mask == nil { fields.malformed("mask") }
            let flags = fields.int32("flags")
            operation = .signalfd(mask: mask ?? [], closeOnExec: flags & Linux.SFD_CLOEXEC != 0,
                                  nonBlocking: flags & Linux.SFD_NONBLOCK != 0)
        case .timerfdCreate:
            let clock = word("clock", TimerClock.init(linux:), or: .monotonic)
            let flags = fields.int32("flags")
            operation = .timerfdCreate(clock: clock, closeOnExec: flags & Linux.TFD_CLOEXEC != 0,
                                       nonBlocking: flags & Linux.TFD_NONBLOCK != 0)
        case .inotifyInit:
            let flags = fields.int32("flags")
            operation = .inotifyInit(closeOnExec: flags & Linux.IN_CLOEXEC != 0, nonBlocking: flags & Linux.IN_NONBLOCK != 0)
        case .dupfdQuery:
            let value = fd("fd")
            operation = .dupfdQuery(fd: value, other: fd("other"))
        case .unshareNet:
            operation = .unshareNet
        case .socket:
            let (type, closeOnExec, nonBlocking) = fields.socketType("type")
            operation = .socket(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .bind, .sendto:
            let socket = fd("fd")
            let address = fields.require("addr").flatMap { SocketAddress(wire: $0) }
            if address == nil { fields.malformed("addr") }
            if kind == .bind {
                operation = .bind(socket: socket, address: address ?? .abstract(name: ""))
            } else {
                operation = .sendto(socket: socket, address: address ?? .abstract(name: ""), fds: descriptorList("fds"),
                                    data: fields.bytes("data"))
            }
        case .recvfrom:
            let (socket, count, room, flags) = receiving()
            operation = .recvfrom(socket: socket, count: count, room: room,
                                  closeOnExec: flags & Linux.MSG_CMSG_CLOEXEC != 0,
                                  nonBlocking: flags & Linux.MSG_DONTWAIT != 0)
        }
        if let problem = fields.problem { return .failure(ProtocolError("\(kind.keyword): \(problem)")) }
        return .success(operation)
    }

    private func socketFlags(_ closeOnExec: Bool, _ nonBlocking: Bool) -> Int32 {
        (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
    }
}

/// Why a message could not be understood; it travels back in a `bad` answer.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Reads typed fields of one message, remembering the first one that is missing or malformed: a decoder reads
/// every field it needs and asks once at the end.
public struct FieldReader {
    let message: WireMessage
    public private(set) var problem: String?

    public init(_ message: WireMessage) { self.message = message }

    public mutating func malformed(_ key: String) {
        if problem == nil { problem = message[key] == nil ? "missing field '\(key)'" : "malformed field '\(key)'" }
    }

    public mutating func require(_ key: String) -> String? {
        guard let value = message[key] else { malformed(key); return nil }
        return value
    }

    public mutating func int64(_ key: String, default fallback: Int64? = nil) -> Int64 {
        guard let text = message[key] else {
            if let fallback { return fallback }
            malformed(key)
            return 0
        }
        guard let value = Int64(text) else { malformed(key); return fallback ?? 0 }
        return value
    }

    public mutating func int32(_ key: String, default fallback: Int32? = nil) -> Int32 {
        let value = int64(key, default: fallback.map(Int64.init))
        guard let narrow = Int32(exactly: value) else { malformed(key); return fallback ?? 0 }
        return narrow
    }

    /// A byte count: 0 to maximumTransfer.
    public mutating func count(_ key: String) -> Int {
        let value = int64(key)
        guard value >= 0 && value <= Int64(maximumTransfer) else { malformed(key); return 0 }
        return Int(value)
    }

    public mutating func bytes(_ key: String) -> [UInt8] {
        guard let text = require(key) else { return [] }
        guard let bytes = Hex.decode(text) else { malformed(key); return [] }
        return bytes
    }

    public mutating func text(_ key: String) -> String { String(decoding: bytes(key), as: UTF8.self) }

    public mutating func texts(_ key: String, optional: Bool = false) -> [String] {
        if optional && message[key] == nil { return [] }
        guard let lists = message.byteLists(key) else { malformed(key); return [] }
        return lists.map { String(decoding: $0, as: UTF8.self) }
    }

    public mutating func ints(_ key: String, optional: Bool = false) -> [Int32] {
        if optional && message[key] == nil { return [] }
        guard let values = message.ints(key) else { malformed(key); return [] }
        return values
    }

    mutating func openFlags(_ raw: Int32, _ key: String) -> Set<OpenFlag> {
        guard let flags = OpenFlag.set(fromLinux: raw) else { malformed(key); return [] }
        return flags
    }

    mutating func socketType(_ key: String) -> (SocketType, Bool, Bool) {
        let raw = int32(key)
        let closeOnExec = raw & Linux.SOCK_CLOEXEC != 0
        let nonBlocking = raw & Linux.SOCK_NONBLOCK != 0
        guard let type = SocketType(linux: raw & ~(Linux.SOCK_CLOEXEC | Linux.SOCK_NONBLOCK)) else {
            malformed(key)
            return (.stream, closeOnExec, nonBlocking)
        }
        return (type, closeOnExec, nonBlocking)
    }
}
