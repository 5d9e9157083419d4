// Decoding of one operation's arguments into a typed ScenarioOperation and the names its `as:` binds. Which
// keys an operation accepts, which are required, and what `as:` binds come from its declaration
// (HandoffProtocol/OperationDeclarations.swift); this file turns the values into the typed operation.

import Yams

extension ScenarioDecoder {
    func operation(_ kind: OperationKind, _ a: StepArguments, sites: inout StepSites) throws(ScenarioError)
        -> (ScenarioOperation, [String?])
    {
        func ref(_ key: String, allowArgument: Bool = true) throws(ScenarioError) -> DescriptorRef {
            let node = try a.required(key)
            sites.fields[key] = context.location(node)
            return try context.descriptor(node, a.what(key), allowArgument: allowArgument)
        }
        func name(_ key: String) throws(ScenarioError) -> String {
            let node = try a.required(key)
            sites.fields[key] = context.location(node)
            return try context.identifier(node, a.what(key))
        }
        func flags(_ allowed: [String]) throws(ScenarioError) -> Set<String> {
            guard let node = a["flags"] else { return [] }
            return Set(try context.keywords(node, a.what("flags"), allowed: allowed))
        }
        func integer(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(ScenarioError) -> Int {
            guard let node = a[key] else { return value }
            return try context.integer(node, a.what(key), in: range)
        }
        func string(_ key: String, default value: String?) throws(ScenarioError) -> String {
            guard let node = a[key] else {
                guard let value else { _ = try a.required(key); return "" }
                return value
            }
            return try context.string(node, a.what(key))
        }
        /// `string`, for the texts a system call takes as C strings (see YAMLContext.cString).
        func cString(_ key: String, default value: String?) throws(ScenarioError) -> String {
            let text = try string(key, default: value)
            if let node = a[key] { try context.rejectNUL(text, node, a.what(key)) }
            return text
        }
        /// `fds:` (each element's site kept for messages) and `data:` (at most one step's transfer) of the
        /// operations that send: send, send_headers, sendto.
        func payload(defaultData: String = "") throws(ScenarioError) -> ([DescriptorRef], [UInt8]) {
            var fds: [DescriptorRef] = []
            if let node = a["fds"] {
                let items = try context.sequence(node, a.what("fds"))
                guard items.count <= maximumSentDescriptors else {
                    throw context.error(node, "'fds' lists \(items.count) descriptors; at most \(maximumSentDescriptors) "
                        + "(SCM_MAX_FD is 253; far past it the kernel's net.core.optmem_max answers ENOBUFS before SCM_MAX_FD, "
                        + "which the model does not follow)")
                }
                for (index, item) in items.enumerated() {
                    sites.fields["fds[\(index)]"] = context.location(item)
                    fds.append(try context.descriptor(item, "an element of 'fds'"))
                }
            }
            let data = Array(try string("data", default: defaultData).utf8)
            guard data.count <= maximumTransfer else {
                throw context.error(a["data"] ?? a.keyNode, "'data' is \(data.count) bytes; at most \(maximumTransfer) fit one step")
            }
            return (fds, data)
        }
        func keyword(_ key: String, default value: String, _ allowed: [String]) throws(ScenarioError) -> String {
            guard let node = a[key] else { return value }
            return try context.keyword(node, a.what(key), allowed: allowed)
        }
        func socketFlags() throws(ScenarioError) -> (closeOnExec: Bool, nonBlocking: Bool) {
            let f = try flags(["cloexec", "nonblock"])
            return (f.contains("cloexec"), f.contains("nonblock"))
        }
        func socketType() throws(ScenarioError) -> SocketType {
            SocketType(rawValue: try keyword("type", default: "stream", SocketType.allCases.map(\.rawValue))) ?? .stream
        }
        /// What `as:` binds, by the operation's declaration.
        func binds() throws(ScenarioError) -> [String?] {
            switch kind.declaration.binds {
            case .none, .process: return []
            case .descriptor: return a["as"] == nil ? [] : [try name("as")]
            case .pair: return try names("as", exactly: 2)
            case .list: return try names("as")
            }
        }
        func names(_ key: String, exactly count: Int? = nil) throws(ScenarioError) -> [String?] {
            guard let node = a[key] else {
                if count != nil { _ = try a.required(key) }
                return []
            }
            sites.fields[key] = context.location(node)
            let items = try context.sequence(node, a.what(key))
            if let count, items.count != count {
                throw context.error(node, "expected a list of exactly \(count) names for \(a.what(key)), found \(items.count)")
            }
            var result: [String] = []
            for item in items {
                let name = try context.identifier(item, "an element of \(a.what(key))")
                if result.contains(name) {
                    throw context.error(item, "name '\(name)' appears twice in \(a.what(key))")
                }
                result.append(name)
            }
            return result
        }

        let operation: ScenarioOperation
        switch kind {
        case .open:
            let pathNode = try a.required("path")
            let path = try context.cString(pathNode, a.what("path"))
            let components = path.split(separator: "/", omittingEmptySubsequences: false)
            if path.isEmpty || path.hasPrefix("/") || components.contains("..") {
                throw context.error(pathNode, "path \"\(path)\" must be relative to the scenario's private directory "
                    + "(not empty, not starting with '/', no '..' component)")
            }
            let openFlags = try flags(OpenFlag.allCases.map(\.rawValue))
            let mode = try a["mode"].map { (node) throws(ScenarioError) in try self.mode(node) } ?? 0o644
            operation = .open(path: path, flags: Set(openFlags.compactMap(OpenFlag.init(rawValue:))), mode: mode)
        case .pipe:
            let (closeOnExec, nonBlocking) = try socketFlags()
            operation = .pipe(closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .socketpair:
            let type = try socketType()
            let (closeOnExec, nonBlocking) = try socketFlags()
            operation = .socketpair(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .memfd:
            let memfdName = try cString("name", default: "handoff")
            let memfdFlags = try flags(["cloexec", "allow_sealing"])
            operation = .memfd(name: memfdName, closeOnExec: memfdFlags.contains("cloexec"),
                               allowSealing: memfdFlags.contains("allow_sealing"))
        case .eventfd:
            let (closeOnExec, nonBlocking) = try socketFlags()
            let initial = try integer("initial", default: 0, in: 0...Int(UInt32.max))
            operation = .eventfd(initial: UInt32(initial), closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .epollCreate:
            operation = .epollCreate(closeOnExec: try flags(["cloexec"]).contains("cloexec"))
        case .epollCtl:
            let epoll = try ref("epoll")
            let op = EpollControl(rawValue: try keyword("op", default: "add", EpollControl.allCases.map(\.rawValue))) ?? .add
            let target = try ref("fd")
            var events: Set<EpollEvent> = [.in]
            if let node = a["events"] {
                events = Set(try context.keywords(node, a.what("events"), allowed: EpollEvent.allCases.map(\.rawValue))
                    .compactMap(EpollEvent.init(rawValue:)))
            }
            operation = .epollCtl(epoll: epoll, op: op, fd: target, events: events)
        case .dup:
            operation = .dup(fd: try ref("fd"))
        case .dup2:
            operation = .dup2(fd: try ref("fd"), target: try ref("target", allowArgument: false))
        case .dup3:
            let fd = try ref("fd")
            let target = try ref("target", allowArgument: false)
            var raw: Int32 = 0
            if let node = a["flags"] {
                if context.kind(node) == .int {
                    raw = Int32(truncatingIfNeeded: try context.integer(node, a.what("flags"), in: Int(Int32.min)...Int(UInt32.max)))
                } else if context.kind(node) == .sequence {
                    raw = try flags(["cloexec"]).contains("cloexec") ? Linux.O_CLOEXEC : 0
                } else {
                    throw context.error(node, "expected a list of flags ([cloexec]) or a raw integer for 'flags', "
                        + "found \(context.describe(node))")
                }
            }
            operation = .dup3(fd: fd, target: target, flags: raw)
        case .fcntl:
            operation = try fcntl(a, sites: &sites)
        case .close:
            operation = .close(fd: try ref("fd"))
        case .closeRange:
            let first = try context.integer(try a.required("first"), a.what("first"), in: 0...Int(UInt32.max))
            var last = UInt32.max
            if let node = a["last"] {
                if context.kind(node) == .string, node.scalar?.string == "max" {
                    last = UInt32.max
                } else if context.kind(node) == .int {
                    let value = try context.integer(node, a.what("last"))
                    // last < first is allowed: the kernel's EINVAL is worth a scenario.
                    guard value >= 0, value <= Int(UInt32.max) else {
                        throw context.error(node, "'last' must be between 0 and \(UInt32.max), found \(value)")
                    }
                    last = UInt32(value)
                } else {
                    throw context.error(node, "expected an integer or \"max\" for 'last', found \(context.describe(node))")
                }
            }
            let f = try flags(["cloexec", "unshare"])
            operation = .closeRange(first: UInt32(first), last: last, closeOnExec: f.contains("cloexec"),
                                    unshare: f.contains("unshare"))
        case .lseek:
            let fd = try ref("fd")
            let offset = try a["offset"].map { (node) throws(ScenarioError) in Int64(try context.integer(node, a.what("offset"))) } ?? 0
            let whence = Whence(rawValue: try keyword("whence", default: "set", Whence.allCases.map(\.rawValue))) ?? .set
            operation = .lseek(fd: fd, offset: offset, whence: whence)
        case .read:
            operation = .read(fd: try ref("fd"), count: try integer("count", default: 256, in: 0...maximumTransfer))
        case .write:
            let fd = try ref("fd")
            let dataNode = try a.required("data")
            let data = Array(try context.string(dataNode, a.what("data")).utf8)
            guard data.count <= maximumTransfer else {
                throw context.error(dataNode, "'data' is \(data.count) bytes; at most \(maximumTransfer) fit one step")
            }
            operation = .write(fd: fd, data: data)
        case .shutdown:
            let socket = try ref("socket")
            let how = ShutdownHow(rawValue: try keyword("how", default: "both", ShutdownHow.allCases.map(\.rawValue))) ?? .both
            operation = .shutdown(socket: socket, how: how)
        case .poll:
            let fd = try ref("fd")
            var events: Set<PollEvent> = [.in]
            if let node = a["events"] {
                events = Set(try context.keywords(node, a.what("events"), allowed: PollEvent.allCases.map(\.rawValue))
                    .compactMap(PollEvent.init(rawValue:)))
            }
            let timeout = Int32(try integer("timeout", default: 0, in: 0...Int(PollEvent.maximumTimeout)))
            operation = .poll(fd: fd, events: events, timeout: timeout)
        case .unixGC:
            operation = .unixGC
        case .pidfdSendSignal:
            let pidfd = try ref("pidfd")
            let signal = SentSignal(rawValue: try keyword("signal", default: "zero", SentSignal.allCases.map(\.rawValue))) ?? .zero
            operation = .pidfdSendSignal(pidfd: pidfd, signal: signal)
        case .waitid:
            let pidfd = try ref("pidfd")
            var noHang = false
            if let node = a["flags"] {
                noHang = try context.keywords(node, a.what("flags"), allowed: ["nohang"]).contains("nohang")
            }
            operation = .waitid(pidfd: pidfd, noHang: noHang)
        case .fork:
            operation = .fork(child: try name("as"))
        case .exec:
            let (arguments, environment) = try argumentsAndEnvironment(a, sites: &sites)
            operation = .exec(arguments: arguments, environment: environment)
        case .exit:
            operation = .exit(status: Int32(try integer("status", default: 0, in: 0...255)))
        case .wait:
            operation = .wait(child: try name("child"))
        case .send:
            let socket = try ref("socket")
            let (fds, data) = try payload()
            let words = try flags(SendFlag.allCases.map(\.rawValue))
            operation = .send(socket: socket, fds: fds, data: data,
                              flags: Set(SendFlag.allCases.filter { words.contains($0.rawValue) }))
        case .recv:
            let socket = try ref("socket")
            let count = try integer("count", default: 256, in: 0...maximumTransfer)
            let words = try flags(["cloexec", "nonblock"] + MessageFlag.allCases.map(\.rawValue))
            let named = try names("as")
            let room = try integer("room", default: named.count, in: 0...maximumRoom)
            var control: Int?
            if a["control"] != nil { control = try integer("control", default: 0, in: 0...maximumControl) }
            operation = .recv(socket: socket, count: count, room: room, closeOnExec: words.contains("cloexec"),
                              nonBlocking: words.contains("nonblock"),
                              flags: Set(MessageFlag.allCases.filter { words.contains($0.rawValue) }), control: control)
            return (operation, named)
        case .pidfdOpen:
            operation = .pidfdOpen(target: try name("process"))
        case .pidfdGetfd:
            let target = try name("process")
            let fd = try ref("fd")
            let raw = try integer("flags", default: 0, in: 0...Int(UInt32.max))
            if a["pidfd"] != nil {
                operation = .pidfdGetfdThrough(pidfd: try ref("pidfd"), target: target, fd: fd, flags: UInt32(raw))
            } else {
                operation = .pidfdGetfd(target: target, fd: fd, flags: UInt32(raw))
            }
        case .listen, .connect:
            let addressNode = try a.required("address")
            sites.fields["address"] = context.location(addressNode)
            let address = try self.address(addressNode, listening: kind == .listen)
            let type = try socketType()
            let (closeOnExec, nonBlocking) = try socketFlags()
            if kind == .listen {
                let backlog = try integer("backlog", default: 16, in: 0...65535)
                operation = .listen(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking,
                                    backlog: Int32(backlog))
            } else {
                operation = .connect(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
            }
        case .accept:
            let socket = try ref("socket")
            let (closeOnExec, nonBlocking) = try socketFlags()
            operation = .accept(socket: socket, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .setrlimit:
            operation = .setrlimit(nofile: UInt64(try integer("nofile", default: -1, in: 0...Int(Int32.max))))
        case .dropCapability:
            let node = try a.required("name")
            let capability = try context.string(node, a.what("name"))
            guard Self.knownCapabilities.contains(capability) else {
                throw context.error(node, "unknown capability \"\(capability)\" (expected a CAP_ name such as CAP_SYS_PTRACE)")
            }
            operation = .dropCapability(name: capability)
        case .setDumpable:
            operation = .setDumpable(try context.bool(try a.required("value"), a.what("value")))
        case .reopen:
            let target = try name("process")
            let fd = try ref("fd")
            let openFlags = try flags(OpenFlag.allCases.map(\.rawValue))
            operation = .reopen(target: target, fd: fd, flags: Set(openFlags.compactMap(OpenFlag.init(rawValue:))))
        case .cloneFiles:
            operation = .cloneFiles(child: try name("as"))
        case .unshareFiles:
            operation = .unshareFiles
        case .launch:
            let program = Template([.text(try cString("program", default: nil))])
            if let node = a["program"] { sites.fields["program"] = context.location(node) }
            let (arguments, environment) = try argumentsAndEnvironment(a, sites: &sites)
            let handover = try a["handover"].map { (node) throws(ScenarioError) -> LauncherHandover in
                LauncherHandover(rawValue: try context.keyword(node, a.what("handover"),
                                                               allowed: LauncherHandover.allCases.map(\.rawValue))) ?? .listenFDs
            } ?? .listenFDs
            var listen: [ListeningSocket<AddressSpec>] = []
            let listenNode = a["listen"]
            if handover.passesOnWhatItInherited, let listenNode {
                throw context.error(listenNode, "a launcher with 'handover: \(handover.rawValue)' passes on what it inherited: it has no 'listen' sockets of its own")
            }
            if !handover.passesOnWhatItInherited && listenNode == nil {
                _ = try a.required("listen")
            }
            for item in try listenNode.map({ (node) throws(ScenarioError) in try context.sequence(node, a.what("listen")) }) ?? [] {
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
            var acceptMode = try a["accept"].map { (node) throws(ScenarioError) in try context.bool(node, a.what("accept")) } ?? false
            if let node = a["accept"], handover != .listenFDs {
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
            if let node = a["preserve"] {
                if handover != .inherit {
                    throw context.error(node, "'preserve' is for 'handover: inherit' (a launcher that passes on what it inherited)")
                }
                preserve = Int32(try context.integer(node, a.what("preserve"), in: 0...Int(Int32.max)))
            }
            // s6-fdholder-retrieve: the descriptor the launcher stored (and closed) comes back at 0.
            var stored: DescriptorRef?
            if handover == .retrieve {
                _ = try a.required("stored")
                stored = try ref("stored")
            } else if let node = a["stored"] {
                throw context.error(node, "'stored' is for 'handover: retrieve' (s6-fdholder-retrieve)")
            }
            operation = .launch(program: program, arguments: arguments, environment: environment, listen: listen,
                                acceptMode: acceptMode, handover: handover, preserve: preserve, stored: stored)
        case .attach:
            operation = .attach(child: try name("as"))
        case .sendHeaders:
            let socket = try ref("socket")
            let (fds, data) = try payload(defaultData: "x")
            // Default: one header with every descriptor (none without descriptors), as `send` builds it.
            var headers: [Int] = fds.isEmpty ? [] : [fds.count]
            if let node = a["headers"] {
                headers = []
                for item in try context.sequence(node, a.what("headers")) {
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
            if let node = a["cmsg_len"] {
                guard headers.count == 1 else {
                    throw context.error(node, "'cmsg_len' needs exactly one header (it decides where a next one would start)")
                }
                // With 3 or more descriptors the buffer has room for a second header after a short cmsg_len, and
                // the kernel reads descriptor numbers as its cmsg_len, level and type (for_each_cmsghdr).
                guard fds.count <= maximumRawHeaderDescriptors else {
                    throw context.error(node, "'cmsg_len' takes at most \(maximumRawHeaderDescriptors) descriptors: past that, "
                        + "the numbers after a short cmsg_len would be read as a next header")
                }
                cmsgLength = try integer("cmsg_len", default: 0, in: 0...maximumControl)
            }
            operation = .sendHeaders(socket: socket, fds: fds, headers: headers, cmsgLength: cmsgLength, data: data)
        case .setsockopt, .getsockopt:
            operation = try socketOption(kind, a, sites: &sites)
        case .ftruncate:
            let fd = try ref("fd")
            operation = .ftruncate(fd: fd, length: Int64(try integer("length", default: 0, in: -1...maximumTransfer)))
        case .signalfd:
            var signals: [String] = []
            if let node = a["signals"] {
                signals = try context.keywords(node, a.what("signals"), allowed: SignalName.allCases.map(\.rawValue))
            }
            let (closeOnExec, nonBlocking) = try socketFlags()
            operation = .signalfd(mask: Set(signals.compactMap(SignalName.init(rawValue:))), closeOnExec: closeOnExec,
                                  nonBlocking: nonBlocking)
        case .timerfdCreate:
            let clock = TimerClock(rawValue: try keyword("clock", default: "monotonic", TimerClock.allCases.map(\.rawValue)))
            let (closeOnExec, nonBlocking) = try socketFlags()
            operation = .timerfdCreate(clock: clock ?? .monotonic, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .inotifyInit:
            let (closeOnExec, nonBlocking) = try socketFlags()
            operation = .inotifyInit(closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .dupfdQuery:
            let fd = try ref("fd")
            operation = .dupfdQuery(fd: fd, other: try ref("other"))
        case .unshareNet:
            operation = .unshareNet
        case .socket:
            let type = try socketType()
            let (closeOnExec, nonBlocking) = try socketFlags()
            operation = .socket(type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .bind, .sendto:
            let socket = try ref("socket")
            let addressNode = try a.required("address")
            sites.fields["address"] = context.location(addressNode)
            let address = try self.address(addressNode, listening: false)
            switch address {
            case .unix, .abstract: break
            case .tcpPort, .tcpListener, .tcpScenarioPort:
                throw context.error(addressNode, "\(kind.keyword) takes a unix address: {unix: path} or {abstract: name}")
            }
            if kind == .bind {
                operation = .bind(socket: socket, address: address)
            } else {
                let (fds, data) = try payload()
                operation = .sendto(socket: socket, address: address, fds: fds, data: data)
            }
        case .recvfrom:
            let socket = try ref("socket")
            let count = try integer("count", default: 256, in: 0...maximumTransfer)
            let (closeOnExec, nonBlocking) = try socketFlags()
            let named = try names("as")
            let room = try integer("room", default: named.count, in: 0...maximumRoom)
            operation = .recvfrom(socket: socket, count: count, room: room, closeOnExec: closeOnExec,
                                  nonBlocking: nonBlocking)
            return (operation, named)
        }
        if case .fcntl(_, let command) = operation, !command.duplicates { return (operation, []) }
        return (operation, try binds())
    }
}
