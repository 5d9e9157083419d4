// Socket operations, declared once: the cases, their keywords and declarations, their wire fields and
// how their names map (Operation.swift and OperationDeclarations.swift dispatch here by family;
// docs/adding-an-operation.md is the recipe).

public enum SocketOperation<Naming: OperationNaming>: Hashable, Sendable {
    public typealias FD = Naming.Descriptor
    public typealias Process = Naming.Process
    public typealias Text = Naming.Text

    case socketpair(type: SocketType, closeOnExec: Bool, nonBlocking: Bool)
    /// socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0): one unbound, unconnected socket.
    case socket(type: SocketType, closeOnExec: Bool, nonBlocking: Bool)
    /// bind(2) of an existing socket to a unix path or an abstract name.
    case bind(socket: FD, address: Naming.Address)
    /// socket(2) + bind(2) + listen(2): one listening socket. TCP port 0 binds an ephemeral port of 127.0.0.1.
    case listen(address: Naming.Address, type: SocketType, closeOnExec: Bool, nonBlocking: Bool, backlog: Int32)
    /// socket(2) + connect(2): one connected socket.
    case connect(address: Naming.Address, type: SocketType, closeOnExec: Bool, nonBlocking: Bool)
    /// accept4(2).
    case accept(socket: FD, closeOnExec: Bool, nonBlocking: Bool)
    /// shutdown(2); `how` as the kernel takes it (ShutdownHow names SHUT_RD ... SHUT_RDWR; any other value is
    /// handed over as it is, for the EINVAL it gets).
    case shutdown(socket: FD, how: Int32)
    /// setsockopt(SOL_SOCKET, option, &value, sizeof(int)).
    case setsockopt(socket: FD, option: SocketOption, value: Int32)
    /// getsockopt(SOL_SOCKET, option): the result is the option's value (the new descriptor for
    /// SO_PEERPIDFD; 0 and the credentials for SO_PEERCRED).
    case getsockopt(socket: FD, option: SocketOption)
    /// Schedules the AF_UNIX garbage collector: a fresh socketpair(AF_UNIX) closed at once (its release,
    /// unix_release_sock, calls unix_gc while sockets are in flight). Returns at once; the collection runs in a
    /// workqueue, so a later step waits for what it frees (a poll with a timeout, or a blocking read).
    case unixGC
    /// unshare(CLONE_NEWNET): the caller moves to a new network namespace (its later sockets live there).
    case unshareNet
    /// sendmsg(2) with msg_name `address` and the descriptors as one SCM_RIGHTS message.
    case sendto(socket: FD, address: Naming.Address, fds: [FD], data: [UInt8])
    /// recvmsg(2) with room for the sender's address (msg_name); otherwise as `recv`.
    case recvfrom(socket: FD, count: Int, room: Int, closeOnExec: Bool, nonBlocking: Bool)

    @inlinable public var kind: SocketOperationKind {
        switch self {
        case .socketpair: return .socketpair
        case .socket: return .socket
        case .bind: return .bind
        case .listen: return .listen
        case .connect: return .connect
        case .accept: return .accept
        case .shutdown: return .shutdown
        case .setsockopt: return .setsockopt
        case .getsockopt: return .getsockopt
        case .unixGC: return .unixGC
        case .unshareNet: return .unshareNet
        case .sendto: return .sendto
        case .recvfrom: return .recvfrom
        }
    }
}

public enum SocketOperationKind: String, CaseIterable, Sendable, Hashable {
    case socketpair
    case socket
    case bind
    case listen
    case connect
    case accept
    case shutdown
    case setsockopt
    case getsockopt
    case unixGC = "unix_gc"
    case unshareNet = "unshare_net"
    case sendto
    case recvfrom
}

extension OperationKind {
    public static let socketpair = OperationKind.sockets(.socketpair)
    public static let socket = OperationKind.sockets(.socket)
    public static let bind = OperationKind.sockets(.bind)
    public static let listen = OperationKind.sockets(.listen)
    public static let connect = OperationKind.sockets(.connect)
    public static let accept = OperationKind.sockets(.accept)
    public static let shutdown = OperationKind.sockets(.shutdown)
    public static let setsockopt = OperationKind.sockets(.setsockopt)
    public static let getsockopt = OperationKind.sockets(.getsockopt)
    public static let unixGC = OperationKind.sockets(.unixGC)
    public static let unshareNet = OperationKind.sockets(.unshareNet)
    public static let sendto = OperationKind.sockets(.sendto)
    public static let recvfrom = OperationKind.sockets(.recvfrom)
}

extension Operation {
    @inlinable public static func socketpair(type: SocketType, closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .sockets(.socketpair(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
    @inlinable public static func socket(type: SocketType, closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .sockets(.socket(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
    @inlinable public static func bind(socket: FD, address: Naming.Address) -> Operation {
        .sockets(.bind(socket: socket, address: address))
    }
    @inlinable public static func listen(address: Naming.Address, type: SocketType, closeOnExec: Bool, nonBlocking: Bool, backlog: Int32) -> Operation {
        .sockets(.listen(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking, backlog: backlog))
    }
    @inlinable public static func connect(address: Naming.Address, type: SocketType, closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .sockets(.connect(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
    @inlinable public static func accept(socket: FD, closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .sockets(.accept(socket: socket, closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
    @inlinable public static func shutdown(socket: FD, how: ShutdownHow) -> Operation {
        .sockets(.shutdown(socket: socket, how: how.linux))
    }
    @inlinable public static func setsockopt(socket: FD, option: SocketOption, value: Int32) -> Operation {
        .sockets(.setsockopt(socket: socket, option: option, value: value))
    }
    @inlinable public static func getsockopt(socket: FD, option: SocketOption) -> Operation {
        .sockets(.getsockopt(socket: socket, option: option))
    }
    @inlinable public static var unixGC: Operation { .sockets(.unixGC) }
    @inlinable public static var unshareNet: Operation { .sockets(.unshareNet) }
    @inlinable public static func sendto(socket: FD, address: Naming.Address, fds: [FD], data: [UInt8]) -> Operation {
        .sockets(.sendto(socket: socket, address: address, fds: fds, data: data))
    }
    @inlinable public static func recvfrom(socket: FD, count: Int, room: Int, closeOnExec: Bool, nonBlocking: Bool) -> Operation {
        .sockets(.recvfrom(socket: socket, count: count, room: room, closeOnExec: closeOnExec, nonBlocking: nonBlocking))
    }
}

extension SocketOperation {
    /// The same operation under another naming (Operation.map).
    @_specialize(exported: true, where Naming == LoopNaming, Other == WireNaming, Failure == Never)
    @_specialize(exported: true, where Naming == WireNaming, Other == WireNaming, Failure == Never)
    @inlinable public func map<Other: OperationNaming, Failure: Error>(_ renaming: Renaming<Naming, Other, Failure>)
        throws(Failure) -> SocketOperation<Other>
    {
        switch self {
        case .socketpair(let type, let closeOnExec, let nonBlocking):
            return .socketpair(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .shutdown(let socket, let how): return .shutdown(socket: try renaming.fd(socket, "socket"), how: how)
        case .unixGC: return .unixGC
        case .listen(let where_, let type, let closeOnExec, let nonBlocking, let backlog):
            return .listen(address: try renaming.address(where_), type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking,
                           backlog: backlog)
        case .connect(let where_, let type, let closeOnExec, let nonBlocking):
            return .connect(address: try renaming.address(where_), type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .accept(let socket, let closeOnExec, let nonBlocking):
            return .accept(socket: try renaming.fd(socket, "socket"), closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .setsockopt(let socket, let option, let value):
            return .setsockopt(socket: try renaming.fd(socket, "socket"), option: option, value: value)
        case .getsockopt(let socket, let option): return .getsockopt(socket: try renaming.fd(socket, "socket"), option: option)
        case .unshareNet: return .unshareNet
        case .socket(let type, let closeOnExec, let nonBlocking):
            return .socket(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .bind(let socket, let where_):
            let mapped = try renaming.fd(socket, "socket")
            return .bind(socket: mapped, address: try renaming.address(where_))
        case .sendto(let socket, let where_, let fds, let data):
            let mapped = try renaming.fd(socket, "socket")
            let target = try renaming.address(where_)
            var passing: [Other.Descriptor] = []
            for (index, value) in fds.enumerated() { passing.append(try renaming.fd(value, "fds[\(index)]")) }
            return .sendto(socket: mapped, address: target, fds: passing, data: data)
        case .recvfrom(let socket, let count, let room, let closeOnExec, let nonBlocking):
            return .recvfrom(socket: try renaming.fd(socket, "socket"), count: count, room: room, closeOnExec: closeOnExec,
                             nonBlocking: nonBlocking)
        }
    }
}

extension SocketOperationKind {
    /// This operation's declaration (built once per process: OperationKind.declaration).
    var declared: OperationDeclaration {
        let socketFlags = DeclarationParts.socketFlags
        let socketType = DeclarationParts.socketType
        switch self {
        case .socketpair:
            return OperationDeclaration(.sockets(self), "socketpair(2) of AF_UNIX", [socketType, socketFlags], binds: .pair("left", "right"))
        case .shutdown:
            return OperationDeclaration(.sockets(self), "shutdown(2) of a socket", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("how", .keywordOrRaw(ShutdownHow.allCases.map(\.rawValue)), default: "both"),
            ])
        case .unixGC:
            return OperationDeclaration(.sockets(self), "schedule the AF_UNIX garbage collector (close a fresh unix socketpair)", [])
        case .listen:
            return OperationDeclaration(.sockets(self), "socket(2) + bind(2) + listen(2)", [
                ArgumentDeclaration("address", .address, required: true), socketType, socketFlags,
                ArgumentDeclaration("backlog", .integer(0...65535), default: "16"),
            ], binds: .descriptor)
        case .connect:
            return OperationDeclaration(.sockets(self), "socket(2) + connect(2)", [
                ArgumentDeclaration("address", .address, required: true), socketType, socketFlags,
            ], binds: .descriptor)
        case .accept:
            return OperationDeclaration(.sockets(self), "accept4(2)", [ArgumentDeclaration("socket", .descriptor, required: true), socketFlags],
                           binds: .descriptor)
        case .setsockopt:
            return OperationDeclaration(.sockets(self), "setsockopt(2) of a SOL_SOCKET option; `enable` for switches, `value` for peek_off", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("option", .command(SocketOption.allCases.map(\.rawValue)), required: true),
                ArgumentDeclaration("enable", .bool, default: "true", onlyWith: ("option", SocketOption.switches.map(\.rawValue))),
                ArgumentDeclaration("value", .integer(-1...Int64(Int32.max)), default: "0",
                                    onlyWith: ("option", SocketOption.integers.map(\.rawValue))),
            ])
        case .getsockopt:
            return OperationDeclaration(.sockets(self), "getsockopt(2) of a SOL_SOCKET option: `result` is its value; peerpidfd binds a pidfd", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("option", .command(SocketOption.allCases.map(\.rawValue)), required: true),
            ], binds: .descriptor, expectations: [.error, .result, .credentials])
        case .unshareNet:
            return OperationDeclaration(.sockets(self), "unshare(CLONE_NEWNET): a new network namespace for the caller's later sockets", [],
                           repeatable: false, needs: SystemNeeds(capabilities: ["CAP_SYS_ADMIN"]))
        case .socket:
            return OperationDeclaration(.sockets(self), "socket(2) of AF_UNIX: unbound and unconnected", [socketType, socketFlags], binds: .descriptor)
        case .bind:
            return OperationDeclaration(.sockets(self), "bind(2) of an existing socket to a unix path or an abstract name", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("address", .address, required: true),
            ])
        case .sendto:
            return OperationDeclaration(.sockets(self), "sendmsg(2) to an address (msg_name) with the descriptors as one SCM_RIGHTS message", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("address", .address, required: true), ArgumentDeclaration("fds", .descriptors),
                ArgumentDeclaration("data", .bytes, default: "\"\""),
            ])
        case .recvfrom:
            return OperationDeclaration(.sockets(self), "recvmsg(2) with the sender's address; `room` as in recv", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("count", .integer(0...Int64(maximumTransfer)), default: "256"),
                ArgumentDeclaration("room", .integer(0...Int64(maximumRoom))),
                ArgumentDeclaration("flags", .flags(["cloexec", "nonblock"])),
            ], binds: .list, expectations: [.error, .result, .expect, .received, .truncated, .credentials, .from])
        }
    }
}

extension SocketOperation where Naming.Descriptor: WireDescriptor, Naming.Process == ProcessHandle,
    Naming.Address == SocketAddress, Naming.Text == String
{
    /// This operation's fields in its request (Operation.encoded).
    func encode(into message: inout WireMessage) {
        switch self {
        case .socketpair(let type, let closeOnExec, let nonBlocking):
            message.set("type", type.linux | socketFlags(closeOnExec, nonBlocking))
        case .shutdown(let socket, let how):
            message.setDescriptor("fd", socket)
            message.set("how", how)
        case .unixGC, .unshareNet:
            break
        case .listen(let address, let type, let closeOnExec, let nonBlocking, let backlog):
            message.set("addr", address.wire)
            message.set("type", type.linux | socketFlags(closeOnExec, nonBlocking))
            message.set("backlog", backlog)
        case .connect(let address, let type, let closeOnExec, let nonBlocking):
            message.set("addr", address.wire)
            message.set("type", type.linux | socketFlags(closeOnExec, nonBlocking))
        case .accept(let socket, let closeOnExec, let nonBlocking):
            message.setDescriptor("fd", socket)
            message.set("flags", socketFlags(closeOnExec, nonBlocking))
        case .setsockopt(let socket, let option, let value):
            message.setDescriptor("fd", socket)
            message.set("opt", option.linux)
            message.set("value", value)
        case .getsockopt(let socket, let option):
            message.setDescriptor("fd", socket)
            message.set("opt", option.linux)
        case .socket(let type, let closeOnExec, let nonBlocking):
            message.set("type", type.linux | socketFlags(closeOnExec, nonBlocking))
        case .bind(let socket, let address):
            message.setDescriptor("fd", socket)
            message.set("addr", address.wire)
        case .sendto(let socket, let address, let fds, let data):
            message.setDescriptor("fd", socket)
            message.set("addr", address.wire)
            message.set("fds", list: fds.map(\.wire))
            message.set("data", bytes: data)
        case .recvfrom(let socket, let count, let room, let closeOnExec, let nonBlocking):
            message.setDescriptor("fd", socket)
            message.set("count", count)
            message.set("room", room)
            message.set("flags", (closeOnExec ? Linux.MSG_CMSG_CLOEXEC : 0) | (nonBlocking ? Linux.MSG_DONTWAIT : 0))
        }
    }

    /// The operation a request of this family asks for (Operation.decode); what is malformed is in
    /// `request.fields.problem`.
    static func decode(_ kind: SocketOperationKind, _ request: inout RequestReader<FD>) -> SocketOperation {
        let operation: SocketOperation
        switch kind {
        case .socketpair:
            let (type, closeOnExec, nonBlocking) = request.fields.socketType("type")
            operation = .socketpair(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .shutdown:
            let socket = request.fd("fd")
            operation = .shutdown(socket: socket, how: request.fields.int32("how"))
        case .unixGC:
            operation = .unixGC
        case .listen, .connect:
            let address = request.fields.require("addr").flatMap { SocketAddress(wire: $0) }
            if address == nil { request.fields.malformed("addr") }
            let (type, closeOnExec, nonBlocking) = request.fields.socketType("type")
            if kind == .listen {
                operation = .listen(address: address ?? .tcp(port: 0), type: type, closeOnExec: closeOnExec,
                                    nonBlocking: nonBlocking, backlog: request.fields.int32("backlog", default: 16))
            } else {
                operation = .connect(address: address ?? .tcp(port: 0), type: type, closeOnExec: closeOnExec,
                                     nonBlocking: nonBlocking)
            }
        case .accept:
            let socket = request.fd("fd")
            let flags = request.fields.int32("flags")
            operation = .accept(socket: socket, closeOnExec: flags & Linux.SOCK_CLOEXEC != 0,
                                nonBlocking: flags & Linux.SOCK_NONBLOCK != 0)
        case .setsockopt, .getsockopt:
            let socket = request.fd("fd")
            let option = request.word("opt", SocketOption.init(linux:), or: .passcred)
            if kind == .setsockopt {
                operation = .setsockopt(socket: socket, option: option, value: request.fields.int32("value"))
            } else {
                operation = .getsockopt(socket: socket, option: option)
            }
        case .unshareNet:
            operation = .unshareNet
        case .socket:
            let (type, closeOnExec, nonBlocking) = request.fields.socketType("type")
            operation = .socket(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .bind, .sendto:
            let socket = request.fd("fd")
            let address = request.fields.require("addr").flatMap { SocketAddress(wire: $0) }
            if address == nil { request.fields.malformed("addr") }
            if kind == .bind {
                operation = .bind(socket: socket, address: address ?? .abstract(name: ""))
            } else {
                operation = .sendto(socket: socket, address: address ?? .abstract(name: ""), fds: request.descriptorList("fds"),
                                    data: request.fields.bytes("data"))
            }
        case .recvfrom:
            let (socket, count, room, flags) = request.receiving()
            operation = .recvfrom(socket: socket, count: count, room: room,
                                  closeOnExec: flags & Linux.MSG_CMSG_CLOEXEC != 0,
                                  nonBlocking: flags & Linux.MSG_DONTWAIT != 0)
        }
        return operation
    }
}
