// Message operations read from a step's arguments into the typed operation (OperationParser.swift
// dispatches here; the keys each accepts come from its declaration).

import Yams

extension ScenarioDecoder {
    func messagesOperation(_ familyKind: MessageOperationKind, _ reader: inout OperationArguments) throws(ScenarioError)
        -> (ScenarioOperation, [String?])
    {
        let operation: MessageOperation<ScenarioNaming>
        switch familyKind {
        case .send:
            let socket = try reader.ref("socket")
            let (fds, data) = try reader.payload()
            let words = try reader.flags(SendFlag.allCases.map(\.rawValue))
            operation = .send(socket: socket, fds: fds, data: data,
                              flags: Set(SendFlag.allCases.filter { words.contains($0.rawValue) }))
        case .recv:
            let socket = try reader.ref("socket")
            let count = try reader.integer("count", default: 256, in: 0...maximumTransfer)
            let words = try reader.flags(["cloexec", "nonblock"] + MessageFlag.allCases.map(\.rawValue))
            let named = try reader.names("as")
            let room = try reader.integer("room", default: named.count, in: 0...maximumRoom)
            var control: Int?
            if reader.a["control"] != nil { control = try reader.integer("control", default: 0, in: 0...maximumControl) }
            operation = .recv(socket: socket, count: count, room: room, closeOnExec: words.contains("cloexec"),
                              nonBlocking: words.contains("nonblock"),
                              flags: Set(MessageFlag.allCases.filter { words.contains($0.rawValue) }), control: control)
            return (.messages(operation), named)
        case .sendHeaders:
            let socket = try reader.ref("socket")
            let (fds, data) = try reader.payload(defaultData: "x")
            // Default: one header with every descriptor (none without descriptors), as `send` builds it.
            var headers: [Int] = fds.isEmpty ? [] : [fds.count]
            if let node = reader.a["headers"] {
                headers = []
                for item in try context.sequence(node, reader.a.what("headers")) {
                    headers.append(try context.integer(item, "an element of 'headers'", in: 0...maximumHeaderDescriptors))
                }
                guard headers.count <= maximumHeaders else {
                    throw context.error(node, "'headers' lists \(headers.count) headers; at most \(maximumHeaders) fit one message")
                }
                guard headers.reduce(0, +) == fds.count else {
                    throw context.error(node, "'headers' splits \(headers.reduce(0, +)) descriptors, but 'fds' lists \(fds.count)")
                }
            }
            var cmsgLength: Int?
            if let node = reader.a["cmsg_len"] {
                guard headers.count == 1 else {
                    throw context.error(node, "'cmsg_len' needs exactly one header (it decides where a next one would start)")
                }
                // With 3 or more descriptors the buffer has room for a second header after a short cmsg_len, and
                // the kernel reads descriptor numbers as its cmsg_len, level and type (for_each_cmsghdr).
                guard fds.count <= maximumRawHeaderDescriptors else {
                    throw context.error(node, "'cmsg_len' takes at most \(maximumRawHeaderDescriptors) descriptors: past that, "
                        + "the numbers after a short cmsg_len would be read as a next header")
                }
                cmsgLength = try reader.integer("cmsg_len", default: 0, in: 0...maximumControl)
            }
            operation = .sendHeaders(socket: socket, fds: fds, headers: headers, cmsgLength: cmsgLength, data: data)
        }
        return (.messages(operation), try reader.binds())
    }
}
