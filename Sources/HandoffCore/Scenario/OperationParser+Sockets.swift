// Socket operations read from a step's arguments into the typed operation (OperationParser.swift
// dispatches here; the keys each accepts come from its declaration).

import Yams

extension ScenarioDecoder {
    func socketsOperation(_ familyKind: SocketOperationKind, _ reader: inout OperationArguments) throws(ScenarioError)
        -> (ScenarioOperation, [String?])
    {
        let kind = OperationKind.sockets(familyKind)
        let operation: SocketOperation<ScenarioNaming>
        switch familyKind {
        case .socketpair:
            let type = try reader.socketType()
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            operation = .socketpair(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .shutdown:
            let socket = try reader.ref("socket")
            operation = .shutdown(socket: socket, how: try reader.keywordOrRaw("how", default: ShutdownHow.both))
        case .unixGC:
            operation = .unixGC
        case .listen, .connect:
            let addressNode = try reader.a.required("address")
            reader.sites.fields["address"] = context.location(addressNode)
            let address = try self.address(addressNode, listening: kind == .listen)
            let type = try reader.socketType()
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            if kind == .listen {
                let backlog = try reader.integer("backlog", default: 16, in: 0...65535)
                operation = .listen(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking,
                                    backlog: Int32(backlog))
            } else {
                operation = .connect(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
            }
        case .accept:
            let socket = try reader.ref("socket")
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            operation = .accept(socket: socket, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .setsockopt, .getsockopt:
            operation = try socketOption(kind, reader.a, sites: &reader.sites)
        case .unshareNet:
            operation = .unshareNet
        case .socket:
            let type = try reader.socketType()
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            operation = .socket(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .bind, .sendto:
            let socket = try reader.ref("socket")
            let addressNode = try reader.a.required("address")
            reader.sites.fields["address"] = context.location(addressNode)
            let address = try self.address(addressNode, listening: false)
            switch address {
            case .unix, .abstract: break
            case .tcpPort, .tcpListener, .tcpScenarioPort:
                throw context.error(addressNode, "\(kind.keyword) takes a unix address: {unix: path} or {abstract: name}")
            }
            if kind == .bind {
                operation = .bind(socket: socket, address: address)
            } else {
                let (fds, data) = try reader.payload()
                operation = .sendto(socket: socket, address: address, fds: fds, data: data)
            }
        case .recvfrom:
            let socket = try reader.ref("socket")
            let count = try reader.integer("count", default: 256, in: 0...maximumTransfer)
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            let named = try reader.names("as")
            let room = try reader.integer("room", default: named.count, in: 0...maximumRoom)
            operation = .recvfrom(socket: socket, count: count, room: room, closeOnExec: closeOnExec,
                                  nonBlocking: nonBlocking)
            return (.sockets(operation), named)
        }
        return (.sockets(operation), try reader.binds())
    }
}
