// Message operations, declared once: the cases, their keywords and declarations, their wire fields and
// how their names map (Operation.swift and OperationDeclarations.swift dispatch here by family;
// docs/adding-an-operation.md is the recipe).

public enum MessageOperation<Naming: OperationNaming>: Hashable, Sendable {
    public typealias FD = Naming.Descriptor
    public typealias Process = Naming.Process
    public typealias Text = Naming.Text

    case send(socket: FD, fds: [FD], data: [UInt8], flags: Set<SendFlag> = [])
    /// sendmsg(2) with `fds` split over SCM_RIGHTS headers of `headers` descriptors each (in order; a 0 is a
    /// header with no descriptor); `cmsgLength`, when set, is the single header's cmsg_len as written instead
    /// of CMSG_LEN (the control buffer stays CMSG_SPACE of its descriptors).
    case sendHeaders(socket: FD, fds: [FD], headers: [Int], cmsgLength: Int?, data: [UInt8])
    /// `room`: the control buffer is CMSG_SPACE(room * sizeof(int)) bytes; 0 means no control buffer.
    /// `control`, when set, is the control buffer's exact size in bytes instead (room is then ignored).
    case recv(socket: FD, count: Int, room: Int, closeOnExec: Bool, nonBlocking: Bool, flags: Set<MessageFlag> = [],
              control: Int? = nil)

    @inlinable public var kind: MessageOperationKind {
        switch self {
        case .send: return .send
        case .sendHeaders: return .sendHeaders
        case .recv: return .recv
        }
    }
}

public enum MessageOperationKind: String, CaseIterable, Sendable, Hashable {
    case send
    case sendHeaders = "send_headers"
    case recv
}

extension OperationKind {
    public static let send = OperationKind.messages(.send)
    public static let sendHeaders = OperationKind.messages(.sendHeaders)
    public static let recv = OperationKind.messages(.recv)
}

extension Operation {
    @inlinable public static func send(socket: FD, fds: [FD], data: [UInt8], flags: Set<SendFlag> = []) -> Operation {
        .messages(.send(socket: socket, fds: fds, data: data, flags: flags))
    }
    @inlinable public static func sendHeaders(socket: FD, fds: [FD], headers: [Int], cmsgLength: Int?, data: [UInt8]) -> Operation {
        .messages(.sendHeaders(socket: socket, fds: fds, headers: headers, cmsgLength: cmsgLength, data: data))
    }
    @inlinable public static func recv(socket: FD, count: Int, room: Int, closeOnExec: Bool, nonBlocking: Bool, flags: Set<MessageFlag> = [], control: Int? = nil) -> Operation {
        .messages(.recv(socket: socket, count: count, room: room, closeOnExec: closeOnExec, nonBlocking: nonBlocking, flags: flags, control: control))
    }
}

extension MessageOperation {
    /// The same operation under another naming (Operation.map).
    @_specialize(exported: true, where Naming == LoopNaming, Other == WireNaming, Failure == Never)
    @_specialize(exported: true, where Naming == WireNaming, Other == WireNaming, Failure == Never)
    @inlinable public func map<Other: OperationNaming, Failure: Error>(_ renaming: Renaming<Naming, Other, Failure>)
        throws(Failure) -> MessageOperation<Other>
    {
        switch self {
        case .send(let socket, let fds, let data, let flags):
            let mappedSocket = try renaming.fd(socket, "socket")
            var mapped: [Other.Descriptor] = []
            for (index, value) in fds.enumerated() { mapped.append(try renaming.fd(value, "fds[\(index)]")) }
            return .send(socket: mappedSocket, fds: mapped, data: data, flags: flags)
        case .recv(let socket, let count, let room, let closeOnExec, let nonBlocking, let flags, let control):
            return .recv(socket: try renaming.fd(socket, "socket"), count: count, room: room, closeOnExec: closeOnExec,
                         nonBlocking: nonBlocking, flags: flags, control: control)
        case .sendHeaders(let socket, let fds, let headers, let cmsgLength, let data):
            let mappedSocket = try renaming.fd(socket, "socket")
            var mapped: [Other.Descriptor] = []
            for (index, value) in fds.enumerated() { mapped.append(try renaming.fd(value, "fds[\(index)]")) }
            return .sendHeaders(socket: mappedSocket, fds: mapped, headers: headers, cmsgLength: cmsgLength, data: data)
        }
    }
}

extension MessageOperationKind {
    /// This operation's declaration (built once per process: OperationKind.declaration).
    var declared: OperationDeclaration {
        switch self {
        case .send:
            return OperationDeclaration(.messages(self), "sendmsg(2) with the descriptors as one SCM_RIGHTS message", [
                ArgumentDeclaration("socket", .descriptor, required: true), ArgumentDeclaration("fds", .descriptors),
                ArgumentDeclaration("data", .bytes, default: "\"\""),
                ArgumentDeclaration("flags", .flags(SendFlag.allCases.map(\.rawValue))),
            ])
        case .sendHeaders:
            return OperationDeclaration(.messages(self), "sendmsg(2) with the descriptors split over several SCM_RIGHTS headers, optionally a raw cmsg_len", [
                ArgumentDeclaration("socket", .descriptor, required: true), ArgumentDeclaration("fds", .descriptors),
                ArgumentDeclaration("headers", .integers(0...Int64(maximumHeaderDescriptors))),
                ArgumentDeclaration("cmsg_len", .integer(0...Int64(maximumControl))),
                ArgumentDeclaration("data", .bytes, default: "\"x\""),
            ])
        case .recv:
            return OperationDeclaration(.messages(self), "recvmsg(2); `room` descriptors of control buffer (default: as many as `as` names)", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("count", .integer(0...Int64(maximumTransfer)), default: "256"),
                ArgumentDeclaration("room", .integer(0...Int64(maximumRoom))),
                ArgumentDeclaration("flags", .flags(["cloexec", "nonblock"] + MessageFlag.allCases.map(\.rawValue))),
                ArgumentDeclaration("control", .integer(0...Int64(maximumControl))),
            ], binds: .list, expectations: [.error, .result, .expect, .received, .truncated, .credentials])
        }
    }
}

extension MessageOperation where Naming.Descriptor: WireDescriptor, Naming.Process == ProcessHandle,
    Naming.Address == SocketAddress, Naming.Text == String
{
    /// This operation's fields in its request (Operation.encoded).
    func encode(into message: inout WireMessage) {
        switch self {
        case .send(let socket, let fds, let data, let flags):
            message.setDescriptor("fd", socket)
            message.set("fds", list: fds.map(\.wire))
            message.set("data", bytes: data)
            // Only when set: an agent without `flags` on send sends as before.
            if !flags.isEmpty { message.set("flags", SendFlag.linux(flags)) }
        case .sendHeaders(let socket, let fds, let headers, let cmsgLength, let data):
            message.setDescriptor("fd", socket)
            message.set("fds", list: fds.map(\.wire))
            message.set("headers", list: headers.map(String.init))
            message.set("cmsglen", cmsgLength ?? -1)
            message.set("data", bytes: data)
        case .recv(let socket, let count, let room, let closeOnExec, let nonBlocking, let flags, let control):
            message.setDescriptor("fd", socket)
            message.set("count", count)
            message.set("room", room)
            message.set("flags", (closeOnExec ? Linux.MSG_CMSG_CLOEXEC : 0) | (nonBlocking ? Linux.MSG_DONTWAIT : 0)
                | MessageFlag.linux(flags))
            // Only when set: an agent without `control` sizes the buffer from `room` as before.
            if let control { message.set("control", control) }
        }
    }

    /// The operation a request of this family asks for (Operation.decode); what is malformed is in
    /// `request.fields.problem`.
    static func decode(_ kind: MessageOperationKind, _ request: inout RequestReader<FD>) -> MessageOperation {
        let operation: MessageOperation
        switch kind {
        case .send:
            let socket = request.fd("fd")
            let descriptors = request.descriptorList("fds")
            let flags = request.fields.int32("flags", default: 0)
            if flags & ~SendFlag.linux(Set(SendFlag.allCases)) != 0 { request.fields.malformed("flags") }
            operation = .send(socket: socket, fds: descriptors, data: request.fields.bytes("data"), flags: SendFlag.set(fromLinux: flags))
        case .recv:
            let (socket, count, room, flags) = request.receiving()
            let control = request.fields.int32("control", default: -1)
            if control < -1 || control > maximumControl { request.fields.malformed("control") }
            operation = .recv(socket: socket, count: count, room: room, closeOnExec: flags & Linux.MSG_CMSG_CLOEXEC != 0,
                              nonBlocking: flags & Linux.MSG_DONTWAIT != 0, flags: MessageFlag.set(fromLinux: flags),
                              control: control < 0 ? nil : Int(control))
        case .sendHeaders:
            let socket = request.fd("fd")
            let descriptors = request.descriptorList("fds")
            var headers: [Int] = []
            if let list = request.fields.require("headers"), !list.isEmpty {
                for part in list.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let value = Int(part), value >= 0, value <= maximumHeaderDescriptors else {
                        request.fields.malformed("headers"); break
                    }
                    headers.append(value)
                }
            }
            if headers.count > maximumHeaders || headers.reduce(0, +) != descriptors.count { request.fields.malformed("headers") }
            let cmsgLength = request.fields.int32("cmsglen")
            if cmsgLength < -1 || cmsgLength > maximumControl || (cmsgLength >= 0 && headers.count != 1) {
                request.fields.malformed("cmsglen")
            }
            operation = .sendHeaders(socket: socket, fds: descriptors, headers: headers,
                                     cmsgLength: cmsgLength < 0 ? nil : Int(cmsgLength), data: request.fields.bytes("data"))
        }
        return operation
    }
}
