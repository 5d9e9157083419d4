// Random valid scenarios, built from the operations' declarations: which operations exist, their arguments
// and types, what `as:` binds, and what they need from the system all come from OperationDeclarations.swift,
// so a newly declared operation is fuzzed without touching this file. What the declarations cannot say (that
// a `read` of an empty blocking pipe waits forever, that `wait` of a running child does) is kept here as a
// small picture of each process: its names and what kind of object each refers to.

/// What the generator may use, from `handoff fuzz`'s options.
public struct FuzzLimits: Sendable {
    /// The operations to draw from (nil: every operation that can run unattended here).
    public var operations: Set<OperationKind>?
    public var maxProcesses: Int
    public var maxSteps: Int

    public init(operations: Set<OperationKind>? = nil, maxProcesses: Int = 4, maxSteps: Int = 24) {
        self.operations = operations
        self.maxProcesses = maxProcesses
        self.maxSteps = maxSteps
    }

    /// Operations the fuzzer never draws: launch and attach start programs or adopt processes outside the
    /// agents; unix_gc's collection happens in a kernel workqueue after the step, so a generated step right
    /// after it (a non-blocking read, a poll without a timeout) could look before the worker ran - only a
    /// scenario that waits on purpose can observe it (scenarios/unix-gc).
    public static let excluded: Set<OperationKind> = [.launch, .attach, .unixGC]
}

public struct FuzzGenerator {
    /// What a name refers to, as far as the generator knows (a guess after dup2 onto it, exec, or a recv).
    enum Object: Equatable {
        case file, memfd, pipeRead, pipeWrite, eventfd, epoll, pidfd, unknown
        case socket(SocketType)
        case listener(SocketType)

        var isSocket: Bool {
            switch self {
            case .socket, .listener: return true
            default: return false
            }
        }
    }

    struct Name {
        var object: Object
        /// Created non-blocking: a read or accept on it cannot wait forever.
        var nonBlocking: Bool
        /// Made by a step that cannot fail (a pipe, an open with creat, a dup of such a name, ...): a later step
        /// may use it. A name whose step failed stops the scenario (the runner's rule), so such names are used
        /// rarely.
        var certain = false
        var closed = false
    }

    struct Process {
        var parent: String?
        var alive = true
        /// Ended but not reaped: its parent may `wait` for it without blocking.
        var exited = false
        var names: [String: Name] = [:]
        var children: [String] = []
    }

    var random: SeededGenerator
    let limits: FuzzLimits
    let operations: [OperationKind]
    var processes: [String: Process] = ["main": Process(parent: nil)]
    var processOrder = ["main"]
    var nextName = 1
    var nextProcess = 1
    var files: [String] = []
    /// FIFO names drawn for mkfifo (open draws them too).
    var fifos: [String] = []
    /// Processes inside a background step: they take no step until their await (the step's kind).
    var asleep: [String: OperationKind] = [:]
    /// A background step is being drawn: a step that may wait is allowed, since later steps of other processes
    /// can end the wait (an await the model says never finishes is a discard, as a foreground wait is).
    var drawingBackground = false
    /// The operations drawn in the background now and then: those that can wait for another process.
    /// (Not `wait`: the validator refuses a wait whose child may still run at its await.)
    static let mayWait: Set<OperationKind> = [.read, .recv, .recvfrom, .accept, .waitid, .open, .reopen, .write, .send,
                                              .connect, .poll, .epollWait]
    /// Addresses listened on: the YAML of the address and the socket type.
    var addresses: [(address: FuzzValue, type: SocketType)] = []
    var steps: [FuzzStep] = []

    /// `available`: the operations whose system needs are met here (the caller probes them).
    public init(seed: UInt64, limits: FuzzLimits, available: Set<OperationKind>) {
        random = SeededGenerator(seed: seed)
        self.limits = limits
        let chosen = limits.operations ?? Set(OperationKind.allCases)
        operations = OperationKind.allCases.filter {
            chosen.contains($0) && available.contains($0) && !FuzzLimits.excluded.contains($0)
        }
    }

    /// A whole program: between 3 and `maxSteps` steps.
    public static func program(seed: UInt64, limits: FuzzLimits, available: Set<OperationKind>) -> FuzzProgram {
        var generator = FuzzGenerator(seed: seed, limits: limits, available: available)
        let length = Int.random(in: min(3, limits.maxSteps)...max(3, limits.maxSteps), using: &generator.random)
        var attempts = 0
        // (Room is kept for the awaits of the background steps still asleep at the end.)
        while generator.steps.count + generator.asleep.count < length && attempts < length * 8 {
            attempts += 1
            generator.addStep()
        }
        for (process, kind) in generator.asleep.sorted(by: { $0.key < $1.key }) { generator.steps.append(.await(process, kind)) }
        return FuzzProgram(seed: seed, steps: generator.steps)
    }

    // MARK: - Choosing a step

    mutating func addStep() {
        // Now and then the await of a process inside a background step.
        if let process = asleep.keys.sorted().randomElement(using: &random), random.nextBool(probability: 0.3) {
            steps.append(.await(process, asleep.removeValue(forKey: process)!))
            return
        }
        // Nothing to draw, or no process left (every one exited: `--ops exit` alone).
        let living = processOrder.filter { processes[$0]?.alive == true && asleep[$0] == nil }
        guard !operations.isEmpty, !living.isEmpty else { return }
        // Mostly the newest processes: what was just forked is where sharing and passing get interesting.
        let actor = random.nextBool(probability: 0.6) ? living.last! : living.randomElement(using: &random)!
        let kind = weightedOperation(for: actor)
        drawingBackground = Self.mayWait.contains(kind) && kind.declaration.background
            && steps.count + asleep.count + 2 <= limits.maxSteps && random.nextBool(probability: 0.12)
        defer { drawingBackground = false }
        guard let arguments = self.arguments(for: kind, by: actor) else { return }
        var step = FuzzStep(actor, kind, arguments)
        step.background = drawingBackground
        bind(&step)
        steps.append(step)
        if step.background { asleep[actor] = kind }
    }

    /// Weighted toward what makes interleavings interesting: passing right after a fork, exec right after a
    /// dup2 (onto a close-on-exec number), sockets passed over themselves, limits.
    mutating func weightedOperation(for actor: String) -> OperationKind {
        let previous = steps.last?.kind
        let readyListener = !names(of: actor) { if case .listener = $0.object { return $0.nonBlocking } else { return false } }.isEmpty
        var weights: [(OperationKind, Int)] = operations.map { kind in
            var weight = 4
            switch kind {
            case .send, .recv: weight = previous == .fork || previous == .send ? 14 : 8
            case .exec: weight = previous == .dup2 || previous == .dup3 || previous == .fcntl ? 12 : 2
            case .dup2, .dup3, .close: weight = 6
            case .fork, .cloneFiles: weight = processOrder.count < limits.maxProcesses ? 5 : 0
            case .exit: weight = actor == "main" ? 0 : 2
            case .wait: weight = processes[actor]!.children.contains { processes[$0]!.exited } ? 8 : 1
            case .setrlimit, .dropCapability, .setDumpable: weight = 1
            case .accept: weight = readyListener ? 4 : 0
            default: break
            }
            return (kind, weight)
        }
        weights = weights.filter { $0.1 > 0 }
        let total = weights.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return operations.randomElement(using: &random)! }
        var pick = Int.random(in: 0..<total, using: &random)
        for (kind, weight) in weights {
            if pick < weight { return kind }
            pick -= weight
        }
        return weights.last!.0
    }

    /// Arguments from the declaration; nil when this step cannot be made safely now (it would block forever).
    mutating func arguments(for kind: OperationKind, by actor: String) -> [FuzzArgument]? {
        let declaration = kind.declaration
        var result: [FuzzArgument] = []
        // The process an operation reaches into (pidfd_getfd, reopen): its descriptors are named in its table.
        var owner = actor
        for argument in declaration.arguments {
            if let condition = argument.onlyWith {
                guard case .word(let value)? = result.first(where: { $0.key == condition.key })?.value,
                    condition.values.contains(value)
                else { continue }
            } else if !argument.required && !random.nextBool(probability: 0.45) && !mustWrite(kind, argument.key) {
                continue
            }
            if kind == .sendHeaders, argument.key == "cmsg_len", !oneHeader(result) {
                continue
            }
            // pidfd_getfd's `pidfd:` is not drawn: the generator cannot tell which process a pidfd refers to,
            // and the agents hide the control channels of the process `process:` names only, so a pidfd of
            // another process could reach a channel the model does not see (scenarios/pidfd/getfd-through-pidfd).
            if kind == .pidfdGetfd && argument.key == "pidfd" { continue }
            guard let value = self.value(for: argument, of: kind, by: actor, owner: &owner, so_far: result) else {
                return nil
            }
            result.append(FuzzArgument(argument.key, value))
        }
        return result
    }

    /// Arguments the generator always writes, so that a step cannot wait forever.
    func mustWrite(_ kind: OperationKind, _ key: String) -> Bool {
        ((kind == .recv || kind == .recvfrom) && key == "flags") || (kind == .open && key == "flags") || (kind == .waitid && key == "flags")
    }

    mutating func value(for argument: ArgumentDeclaration, of kind: OperationKind, by actor: String,
                        owner: inout String, so_far: [FuzzArgument]) -> FuzzValue? {
        switch argument.type {
        case .descriptor:
            return descriptor(for: kind, key: argument.key, in: owner, actor: actor)
        case .descriptors:
            let count = Int.random(in: 0...3, using: &random)
            return .list((0..<count).compactMap { _ in anyName(in: actor).map(FuzzValue.word) })
        case .process:
            return process(for: kind, by: actor, owner: &owner)
        case .integer(let range):
            return .integer(integer(kind, argument.key, range))
        case .flags(let words):
            return .list(flags(kind, argument.key, words).map(FuzzValue.word))
        case .flagsOrRaw(let words):
            // Now and then raw bits, a known one among unknown ones: the kernel refuses them before anything.
            if random.nextBool(probability: 0.1) { return .integer([1, 3, 8, 0x7fff_ffff].randomElement(using: &random)!) }
            return .list(flags(kind, argument.key, words).map(FuzzValue.word))
        case .keywordOrRaw(let words):
            // Now and then a raw value: one the kernel knows by number, or one it refuses (EINVAL).
            if random.nextBool(probability: 0.1) { return .integer([1, 4, 5, -1, 0x7fff_ffff].randomElement(using: &random)!) }
            return .word(words.randomElement(using: &random)!)
        case .keyword(let words), .command(let words):
            if kind == .connect || kind == .listen, argument.key == "type",
                let address = so_far.first(where: { $0.key == "address" })?.value,
                let known = addresses.first(where: { $0.address == address }), random.nextBool(probability: 0.8)
            {
                return .word(known.type.rawValue)
            }
            // pidfd_send_signal: only signal 0. A fatal signal would end a process the generator (which cannot
            // tell where a pidfd points once it travelled) goes on driving.
            if kind == .pidfdSendSignal, argument.key == "signal" { return .word(SentSignal.zero.rawValue) }
            return .word(words.randomElement(using: &random)!)
        case .string, .bytes:
            return text(kind, argument.key, so_far: so_far, actor: actor)
        case .bool:
            return .bool(random.nextBool(probability: 0.5))
        case .mode:
            return .word(["0o600", "0o644", "0o400"].randomElement(using: &random)!)
        case .address:
            return address(for: kind)
        case .texts:
            // An exec argument naming a descriptor: the new image reports it in argv.
            guard let name = anyName(in: actor), random.nextBool(probability: 0.5) else { return .list([]) }
            return .list([.text(Array("{\(name)}".utf8))])
        case .environment, .sockets:
            return nil
        case .integers:
            // send_headers' `headers`: the descriptors chosen so far, split at random (a 0 is an empty header).
            guard case .list(let fds)? = so_far.first(where: { $0.key == "fds" })?.value else { return .list([]) }
            var parts: [Int64] = []
            var left = fds.count
            while left > 0 || (parts.count < 2 && random.nextBool(probability: 0.3)) {
                let part = Int.random(in: 0...left, using: &random)
                parts.append(Int64(part))
                left -= part
            }
            return .list(parts.map(FuzzValue.integer))
        }
    }

    /// send_headers' `cmsg_len` applies to a message of exactly one header of at most
    /// maximumRawHeaderDescriptors descriptors (the parser refuses it otherwise).
    func oneHeader(_ so_far: [FuzzArgument]) -> Bool {
        guard case .list(let fds)? = so_far.first(where: { $0.key == "fds" })?.value,
              fds.count <= maximumRawHeaderDescriptors else { return false }
        if case .list(let parts)? = so_far.first(where: { $0.key == "headers" })?.value { return parts.count == 1 }
        return !fds.isEmpty
    }

    // MARK: - Values

    /// Names of `process` that satisfy `predicate`; only certain ones, except for a rare roll.
    mutating func names(of process: String, where predicate: (Name) -> Bool = { _ in true }) -> [String] {
        let all = (processes[process]?.names ?? [:]).filter { predicate($0.value) }
        let certain = all.filter { $0.value.certain && !$0.value.closed }
        let pool = random.nextBool(probability: 0.08) ? all : certain
        return pool.map(\.key).sorted()
    }

    mutating func anyName(in process: String) -> String? {
        names(of: process).randomElement(using: &random)
    }

    /// A name of the kind the argument wants (a socket for `socket`, an epoll for `epoll`), sometimes any name,
    /// sometimes a bare number (free, standard, or at the limit) for the error paths.
    mutating func descriptor(for kind: OperationKind, key: String, in owner: String, actor: String) -> FuzzValue? {
        let wanted: (Name) -> Bool
        switch (kind, key) {
        case (.read, _) where drawingBackground:
            // In the background a read may wait: for a writer, or for ever (a discard at its await).
            wanted = { $0.object != .pipeWrite }
        case (.accept, _) where drawingBackground:
            wanted = { if case .listener = $0.object { return true } else { return false } }
        case (.read, _):
            // Never a read that waits forever: files, memfds and what was made non-blocking.
            wanted = { [.file, .memfd].contains($0.object) || $0.nonBlocking }
            let safe = names(of: owner, where: wanted)
            return safe.randomElement(using: &random).map(FuzzValue.word)
        case (.accept, _):
            let ready = names(of: owner) { if case .listener = $0.object { return $0.nonBlocking } else { return false } }
            return ready.randomElement(using: &random).map(FuzzValue.word)
        case (_, "socket"): wanted = { $0.object.isSocket }
        case (_, "epoll"): wanted = { $0.object == .epoll }
        case (.write, _): wanted = { $0.object != .pipeRead && $0.object != .pidfd }
        default: wanted = { _ in true }
        }
        let roll = Int.random(in: 0..<100, using: &random)
        if key == "target" || roll < 8 {
            if key == "target", roll < 55, let name = names(of: owner).randomElement(using: &random) { return .word(name) }
            if roll < 3 { return .map([FuzzArgument("limit", .integer(Int64([-1, 0].randomElement(using: &random)!)))]) }
            return .integer(Int64([0, 1, 2, 3, 4, 5, 7, 10, 20, 64].randomElement(using: &random)!))
        }
        let matching = names(of: owner, where: wanted)
        if let name = (matching.isEmpty || roll < 15 ? names(of: owner) : matching).randomElement(using: &random) {
            return .word(name)
        }
        return .integer(Int64(Int.random(in: 0...6, using: &random)))
    }

    mutating func process(for kind: OperationKind, by actor: String, owner: inout String) -> FuzzValue? {
        switch kind {
        case .wait:
            // Only a child that has ended (a running one would wait forever), or one that is not ours (ECHILD).
            if let ended = processes[actor]!.children.filter({ processes[$0]!.exited }).randomElement(using: &random) {
                processes[ended]!.exited = false
                return .word(ended)
            }
            // (A process that is not ours is refused by the validator.)
            return nil
        default:
            let target = processOrder.randomElement(using: &random)!
            // The descriptor argument that follows names the target's descriptors (the validator reads it in
            // the target's table, alive or not).
            owner = target
            return .word(target)
        }
    }

    mutating func integer(_ kind: OperationKind, _ key: String, _ range: ClosedRange<Int64>) -> Int64 {
        let candidates: [Int64]
        switch key {
        case "count": candidates = [0, 1, 5, 8, 16, 256]
        // 8 and 10: room for SCM_CREDENTIALS (32 bytes) alone and with a descriptor or an SCM_PIDFD.
        case "room": candidates = [0, 1, 1, 2, 4, 8, 10]
        // recv's exact control buffer: around sizeof(struct cmsghdr) (16) and whole descriptors, and around
        // SCM_CREDENTIALS (CMSG_SPACE 32) alone and followed by a header.
        case "control": candidates = [0, 16, 17, 20, 23, 24, 28, 32, 40, 48, 52]
        // send_headers' raw cmsg_len: short (EINVAL), no descriptor, one, two, past the buffer (EINVAL).
        case "cmsg_len": candidates = [0, 15, 16, 18, 20, 24, 25, 28]
        case "first": candidates = [0, 3, 3, 4, 5, 6, 8]
        case "last": candidates = [3, 4, 5, 6, 8, 10, 20, 4_294_967_295]
        case "nofile": candidates = [16, 32, 64, 128, 1024]
        case "status": candidates = [0, 1, 3]
        case "initial": candidates = [0, 1, 7]
        case "min": candidates = [0, 3, 5, 10, 100]
        case "offset": candidates = [-1, 0, 1, 2, 5]
        case "backlog": candidates = [0, 1, 16]
        case "flags": candidates = [0, 0, 0, 1]
        case "timeout": candidates = [0, 0, 0, 5]  // poll: a step that sees nothing takes the whole timeout
        case "length": candidates = [-1, 0, 1, 3, 5, 4096, 8192]
        default: candidates = [range.lowerBound, range.lowerBound + 1, range.upperBound]
        }
        return candidates.filter { range.contains($0) }.randomElement(using: &random) ?? range.lowerBound
    }

    mutating func flags(_ kind: OperationKind, _ key: String, _ words: [String]) -> [String] {
        var chosen = words.filter { _ in random.nextBool(probability: 0.3) }
        switch kind {
        case .open:
            // Mostly a file that exists after the step, in one access mode.
            let modes = ["rdonly", "wronly", "rdwr"]
            chosen.removeAll { modes.contains($0) && random.nextBool(probability: 0.8) }
            if !chosen.contains(where: modes.contains) { chosen.append(modes.randomElement(using: &random)!) }
            if !chosen.contains("creat") && random.nextBool(probability: 0.8) { chosen.append("creat") }
            if chosen.contains("path") && random.nextBool(probability: 0.7) { chosen.removeAll { $0 == "path" } }
        case .recv, .recvfrom:
            // MSG_DONTWAIT: an empty socket answers EAGAIN instead of waiting forever (in the background, half the
            // time it may wait).
            if !chosen.contains("nonblock") && !(drawingBackground && random.nextBool(probability: 0.5)) { chosen.append("nonblock") }
            // MSG_OOB takes one byte and no descriptors (EINVAL or EOPNOTSUPP without an out-of-band byte):
            // keep it rarer, so that most receives still move descriptors.
            if chosen.contains("oob") && random.nextBool(probability: 0.5) { chosen.removeAll { $0 == "oob" } }
        case .pipe, .socketpair, .eventfd, .listen, .socket:
            if !chosen.contains("nonblock") && random.nextBool(probability: 0.5) { chosen.append("nonblock") }
        case .waitid:
            // WNOHANG: a running child answers 0 instead of waiting forever (in the background it may wait).
            if !chosen.contains("nohang") && !(drawingBackground && random.nextBool(probability: 0.5)) { chosen.append("nohang") }
        case .signalfd, .timerfdCreate, .inotifyInit:
            // Non-blocking more often than not, so that their reads can be drawn (EAGAIN, not a wait).
            if key == "flags" && !chosen.contains("nonblock") && random.nextBool(probability: 0.5) { chosen.append("nonblock") }
        default:
            break
        }
        return chosen
    }

    mutating func text(_ kind: OperationKind, _ key: String, so_far: [FuzzArgument], actor: String) -> FuzzValue {
        switch (kind, key) {
        case (.open, "path"):
            // Now and then a FIFO made earlier (its opens follow fifo_open's rules).
            if !fifos.isEmpty && random.nextBool(probability: 0.3) { return .word(fifos.randomElement(using: &random)!) }
            if files.isEmpty || (files.count < 3 && random.nextBool(probability: 0.4)) { files.append("f\(files.count + 1)") }
            return .word(files.randomElement(using: &random)!)
        case (.mkfifo, "path"):
            // Mostly a new name; sometimes an existing file or FIFO (EEXIST).
            if random.nextBool(probability: 0.2), let taken = (files + fifos).randomElement(using: &random) { return .word(taken) }
            if fifos.count < 2 { fifos.append("q\(fifos.count + 1)") }
            return .word(fifos.randomElement(using: &random)!)
        case (.write, _), (.send, _), (.sendto, _):
            // An eventfd takes an 8-byte counter; everything else a few bytes.
            if case .word(let name)? = so_far.first?.value, processes[actor]?.names[name]?.object == .eventfd {
                return .text([UInt8(Int.random(in: 1...3, using: &random)), 0, 0, 0, 0, 0, 0, 0])
            }
            return .text(Array(["x", "hello", "", "0123456789"].randomElement(using: &random)!.utf8))
        case (.dropCapability, _):
            return .word(["CAP_SYS_PTRACE", "CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_SYS_RESOURCE"].randomElement(using: &random)!)
        default:
            return .word("fz")
        }
    }

    mutating func address(for kind: OperationKind) -> FuzzValue {
        if kind != .listen, let known = addresses.randomElement(using: &random),
           random.nextBool(probability: kind == .bind ? 0.4 : 0.85) {
            return known.address
        }
        let index = addresses.count + 1
        let address: FuzzValue = random.nextBool(probability: 0.5)
            ? .map([FuzzArgument("abstract", .text(Array("fz\(index)-{@unique}".utf8)))])
            : .map([FuzzArgument("unix", .word("sock\(index)"))])
        return address
    }

    // MARK: - What a step binds

    mutating func bind(_ step: inout FuzzStep) {
        let actor = step.process
        func argument(_ key: String) -> FuzzValue? { step.arguments.first { $0.key == key }?.value }
        func flag(_ word: String) -> Bool {
            if case .list(let items)? = argument("flags") { return items.contains(.word(word)) }
            return false
        }
        func source() -> Object {
            if case .word(let name)? = argument("fd") { return processes[actor]?.names[name]?.object ?? .unknown }
            return .unknown
        }
        func sourceName() -> Name? {
            if case .word(let name)? = argument("fd") { return processes[actor]?.names[name] }
            return nil
        }
        /// Whether the step cannot fail, as far as the generator can tell.
        func certain() -> Bool {
            switch step.kind {
            case .pipe, .socketpair, .eventfd, .memfd, .epollCreate, .signalfd, .timerfdCreate, .inotifyInit: return true
            case .open: return flag("creat") && !flag("excl") && !flag("path")
            case .dup, .dup2, .fcntl:
                guard let source = sourceName(), source.certain, !source.closed else { return false }
                if case .integer(let target)? = argument("target"), target > 64 { return false }
                return true
            default: return false
            }
        }
        let sure = certain()
        func newName(_ object: Object, nonBlocking: Bool = false) -> FuzzValue {
            let name = "d\(nextName)"
            nextName += 1
            processes[actor]!.names[name] = Name(object: object, nonBlocking: nonBlocking, certain: sure)
            return .word(name)
        }
        if step.kind == .close, case .word(let name)? = argument("fd") { processes[actor]!.names[name]?.closed = true }
        // A bound name is an address later steps (sendto, connect) may use, with its socket's type.
        if step.kind == .bind, case .word(let name)? = argument("socket"), let address = argument("address"),
           case .socket(let type)? = processes[actor]?.names[name]?.object {
            addresses.append((address, type))
        }
        let nonBlocking = flag("nonblock")
        var binding: FuzzValue?
        switch step.kind.declaration.binds {
        case .none:
            break
        case .descriptor:
            let object: Object
            switch step.kind {
            case .open: object = .file
            case .memfd: object = .memfd
            case .eventfd: object = .eventfd
            case .epollCreate: object = .epoll
            case .pidfdOpen, .getsockopt: object = .pidfd
            case .socket:
                var type = SocketType.stream
                if case .word(let word)? = argument("type"), let parsed = SocketType(rawValue: word) { type = parsed }
                object = .socket(type)
            case .listen, .connect, .accept:
                var type = SocketType.stream
                if case .word(let word)? = argument("type"), let parsed = SocketType(rawValue: word) { type = parsed }
                object = step.kind == .listen ? .listener(type) : .socket(type)
                if step.kind == .listen, let address = argument("address") { addresses.append((address, type)) }
            default: object = source()
            }
            if step.kind == .fcntl, case .word(let command)? = argument("cmd"), !command.hasPrefix("dupfd") { break }
            // Only getsockopt(peerpidfd) makes a descriptor.
            if step.kind == .getsockopt, argument("option") != .word(SocketOption.peerpidfd.rawValue) { break }
            binding = newName(object, nonBlocking: nonBlocking)
        case .pair:
            if step.kind == .pipe {
                binding = .list([newName(.pipeRead, nonBlocking: nonBlocking), newName(.pipeWrite, nonBlocking: nonBlocking)])
            } else {
                var type = SocketType.stream
                if case .word(let word)? = argument("type"), let parsed = SocketType(rawValue: word) { type = parsed }
                binding = .list([newName(.socket(type), nonBlocking: nonBlocking), newName(.socket(type), nonBlocking: nonBlocking)])
            }
        case .list:
            var room = 1
            if case .integer(let value)? = argument("room") { room = Int(value) }
            let count = max(0, min(room, Int.random(in: 0...2, using: &random)))
            binding = .list((0..<count).map { _ in newName(.unknown) })
        case .process:
            let child = "p\(nextProcess)"
            nextProcess += 1
            var copy = processes[actor]!
            copy.parent = actor
            copy.children = []
            copy.exited = false
            processes[child] = copy
            processes[actor]!.children.append(child)
            processOrder.append(child)
            binding = .word(child)
        }
        if let binding { step.arguments.append(FuzzArgument("as", binding)) }
        if step.kind == .exit { end(actor) }
    }

    /// `exit`: the process ends (its parent may wait for it) and its running descendants are killed.
    mutating func end(_ process: String) {
        processes[process]!.alive = false
        processes[process]!.exited = true
        // A call asleep goes with its process: there is nothing to await.
        asleep[process] = nil
        for child in processes[process]!.children where processes[child]!.alive {
            end(child)
            processes[child]!.exited = false
        }
    }
}

extension SeededGenerator {
    mutating func nextBool(probability: Double) -> Bool {
        Double(next() >> 11) / Double(1 << 53) < probability
    }
}
