// Process operations read from a step's arguments into the typed operation (OperationParser.swift
// dispatches here; the keys each accepts come from its declaration).

import Yams

extension ScenarioDecoder {
    func processesOperation(_ familyKind: ProcessOperationKind, _ reader: inout OperationArguments) throws(ScenarioError)
        -> (ScenarioOperation, [String?])
    {
        let operation: ProcessOperation<ScenarioNaming>
        switch familyKind {
        case .pidfdSendSignal:
            let pidfd = try reader.ref("pidfd")
            let signal = SentSignal(rawValue: try reader.keyword("signal", default: "zero", SentSignal.allCases.map(\.rawValue))) ?? .zero
            operation = .pidfdSendSignal(pidfd: pidfd, signal: signal)
        case .waitid:
            let pidfd = try reader.ref("pidfd")
            var noHang = false
            if let node = reader.a["flags"] {
                noHang = try context.keywords(node, reader.a.what("flags"), allowed: ["nohang"]).contains("nohang")
            }
            operation = .waitid(pidfd: pidfd, noHang: noHang)
        case .fork:
            operation = .fork(child: try reader.name("as"))
        case .exec:
            let (arguments, environment) = try argumentsAndEnvironment(reader.a, sites: &reader.sites)
            operation = .exec(arguments: arguments, environment: environment)
        case .exit:
            operation = .exit(status: Int32(try reader.integer("status", default: 0, in: 0...255)))
        case .wait:
            operation = .wait(child: try reader.name("child"))
        case .pidfdOpen:
            let target = try reader.name("process")
            let flags = try reader.rawOrNamedFlags(["nonblock": Int64(Linux.PIDFD_NONBLOCK)], in: 0...Int(UInt32.max))
            operation = .pidfdOpen(target: target, flags: UInt32(flags))
        case .pidfdGetfd:
            let target = try reader.name("process")
            let fd = try reader.ref("fd")
            let raw = try reader.integer("flags", default: 0, in: 0...Int(UInt32.max))
            if reader.a["pidfd"] != nil {
                operation = .pidfdGetfdThrough(pidfd: try reader.ref("pidfd"), target: target, fd: fd, flags: UInt32(raw))
            } else {
                operation = .pidfdGetfd(target: target, fd: fd, flags: UInt32(raw))
            }
        case .setrlimit:
            operation = .setrlimit(nofile: UInt64(try reader.integer("nofile", default: -1, in: 0...Int(Int32.max))))
        case .dropCapability:
            let node = try reader.a.required("name")
            let capability = try context.string(node, reader.a.what("name"))
            guard Self.knownCapabilities.contains(capability) else {
                throw context.error(node, "unknown capability \"\(capability)\" (expected a CAP_ name such as CAP_SYS_PTRACE)")
            }
            operation = .dropCapability(name: capability)
        case .setDumpable:
            operation = .setDumpable(try context.bool(try reader.a.required("value"), reader.a.what("value")))
        case .cloneFiles:
            operation = .cloneFiles(child: try reader.name("as"))
        case .launch:
            let program = Template([.text(try reader.cString("program", default: nil))])
            if let node = reader.a["program"] { reader.sites.fields["program"] = context.location(node) }
            let (arguments, environment) = try argumentsAndEnvironment(reader.a, sites: &reader.sites)
            let handover = try reader.a["handover"].map { (node) throws(ScenarioError) -> LauncherHandover in
                LauncherHandover(rawValue: try context.keyword(node, reader.a.what("handover"),
                                                               allowed: LauncherHandover.allCases.map(\.rawValue))) ?? .listenFDs
            } ?? .listenFDs
            var listen: [ListeningSocket<AddressSpec>] = []
            let listenNode = reader.a["listen"]
            if handover.passesOnWhatItInherited, let listenNode {
                throw context.error(listenNode, "a launcher with 'handover: \(handover.rawValue)' passes on what it inherited: it has no 'listen' sockets of its own")
            }
            if !handover.passesOnWhatItInherited && listenNode == nil {
                _ = try reader.a.required("listen")
            }
            for item in try listenNode.map({ (node) throws(ScenarioError) in try context.sequence(node, reader.a.what("listen")) }) ?? [] {
                // {unix: path} or {unix: path, type: seqpacket}
                guard case .mapping(let mapping) = item else {
                    throw context.error(item, "expected an address such as {unix: svc.sock} in 'listen'")
                }
                var type = SocketType.stream
                var addressPairs: [(Node, Node)] = []
                for (key, value) in mapping {
                    if key.string == "type" {
                        type = SocketType(rawValue: try context.keyword(value, "the socket type",
                                                                        allowed: SocketType.allCases.map(\.rawValue))) ?? .stream
                    } else {
                        addressPairs.append((key, value))
                    }
                }
                let address = try self.address(Node.mapping(Node.Mapping(addressPairs, mapping.tag, mapping.style, mapping.mark)),
                                               listening: true)
                listen.append(ListeningSocket(address: address, type: type))
            }
            var acceptMode = try reader.a["accept"].map { (node) throws(ScenarioError) in try context.bool(node, reader.a.what("accept")) } ?? false
            if let node = reader.a["accept"], handover != .listenFDs {
                throw context.error(node, "'accept' is for 'handover: listen-fds'; \(handover.rawValue) launchers "
                    + (handover.passesOnWhatItInherited ? "accept nothing" : "always accept, one service per connection"))
            }
            if handover == .ucspi || handover == .inetd {
                if listen.count != 1, let listenNode {
                    throw context.error(listenNode, "a \(handover.rawValue) launcher listens on exactly one socket")
                }
                acceptMode = true
            }
            // `runc run --preserve-fds N`: the launcher passes 3..3+N-1 and closes the rest; only an inherit
            // launcher passes what it inherited at all.
            var preserve: Int32?
            if let node = reader.a["preserve"] {
                if handover != .inherit {
                    throw context.error(node, "'preserve' is for 'handover: inherit' (a launcher that passes on what it inherited)")
                }
                preserve = Int32(try context.integer(node, reader.a.what("preserve"), in: 0...Int(Int32.max)))
            }
            // s6-fdholder-retrieve: the descriptor the launcher stored (and closed) comes back at 0.
            var stored: DescriptorRef?
            if handover == .retrieve {
                _ = try reader.a.required("stored")
                stored = try reader.ref("stored")
            } else if let node = reader.a["stored"] {
                throw context.error(node, "'stored' is for 'handover: retrieve' (s6-fdholder-retrieve)")
            }
            operation = .launch(program: program, arguments: arguments, environment: environment, listen: listen,
                                acceptMode: acceptMode, handover: handover, preserve: preserve, stored: stored)
        case .attach:
            operation = .attach(child: try reader.name("as"))
        }
        return (.processes(operation), try reader.binds())
    }
}
