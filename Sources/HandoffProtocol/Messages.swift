// Every message besides the operations themselves, each with its encoder and decoder: the agent's hello,
// the answer to an operation, loops and their answer, and the runner's housekeeping requests.

/// The first message on a fresh control channel.
public struct Hello: Equatable, Sendable {
    public var version: Int
    public var pid: Int32
    public var parent: Int32
    /// The control channel's number in the agent's table.
    public var control: Int32
    /// RLIMIT_NOFILE's soft limit.
    public var nofile: Int64
    /// argv[1...] of the agent's current image.
    public var arguments: [String]
    /// The environment of the agent's current image, `NAME=value`.
    public var environment: [String]
    /// Which implementation this agent is (`swift`, `c`, `python`, ...), for reports and skip reasons.
    public var implementation: String
    /// Operations this agent cannot perform; scenarios using them are skipped with the reason.
    public var unsupported: [OperationKind]

    public init(version: Int = protocolVersion, pid: Int32, parent: Int32, control: Int32, nofile: Int64,
                arguments: [String], environment: [String], implementation: String, unsupported: [OperationKind] = []) {
        self.version = version
        self.pid = pid
        self.parent = parent
        self.control = control
        self.nofile = nofile
        self.arguments = arguments
        self.environment = environment
        self.implementation = implementation
        self.unsupported = unsupported
    }

    public func encoded() -> WireMessage {
        var message = WireMessage(ControlVerb.hello.rawValue)
        message.set("version", version)
        message.set("pid", pid)
        message.set("ppid", parent)
        message.set("ctl", control)
        message.set("nofile", nofile)
        message.set("argv", byteLists: arguments.map { Array($0.utf8) })
        message.set("env", byteLists: environment.map { Array($0.utf8) })
        message.set("impl", bytes: Array(implementation.utf8))
        message.set("unsupported", list: unsupported.map(\.keyword))
        return message
    }

    public static func decode(_ message: WireMessage) -> Result<Hello, ProtocolError> {
        guard message.verb == ControlVerb.hello.rawValue else { return .failure(ProtocolError("expected hello, got \(message.verb)")) }
        var fields = FieldReader(message)
        let version = Int(fields.int64("version", default: 1))
        guard version == protocolVersion else {
            return .failure(ProtocolError("agent speaks protocol version \(version), the runner \(protocolVersion)"))
        }
        var unsupported: [OperationKind] = []
        for word in (message["unsupported"] ?? "").split(separator: ",") {
            guard let kind = OperationKind(rawValue: String(word)) else { fields.malformed("unsupported"); break }
            unsupported.append(kind)
        }
        let hello = Hello(version: version, pid: fields.int32("pid"), parent: fields.int32("ppid"),
                          control: fields.int32("ctl"), nofile: fields.int64("nofile"), arguments: fields.texts("argv"),
                          environment: fields.texts("env", optional: true),
                          implementation: message["impl"] == nil ? "unknown" : fields.text("impl"), unsupported: unsupported)
        if let problem = fields.problem { return .failure(ProtocolError("hello: \(problem)")) }
        return .success(hello)
    }
}

/// The largest errno Linux returns (MAX_ERRNO in include/linux/err.h).
public let maximumErrno: Int32 = 4095

/// The outcome of one operation as the agent saw it.
public struct Answer: Equatable, Sendable {
    /// The return value (-1 on failure).
    public var result: Int64
    /// errno; 0 on success.
    public var errno: Int32
    /// Descriptors the call produced, in order.
    public var fds: [Int32]
    /// Bytes a read or recv returned.
    public var data: [UInt8]?
    /// recvmsg's msg_flags.
    public var messageFlags: Int32?
    /// wait: the raw wait status.
    public var waitStatus: Int32?
    /// Nanoseconds spent in the system call.
    public var nanoseconds: UInt64
    /// The control channel's new number, when the operation made the agent move it.
    public var movedControl: Int32?
    /// listen on TCP: the port bound.
    public var port: UInt16?
    /// getsockopt(SO_PEERCRED), or a recv's complete SCM_CREDENTIALS message: pid, uid, gid.
    public var credentials: UnixCredentials?
    /// recvfrom: the sender's address (msg_name).
    public var from: SenderAddress?
    /// epoll_wait: the registrations it reported, in its order.
    public var ready: [ReadyRegistration]?

    public init(result: Int64, errno: Int32 = 0, fds: [Int32] = [], data: [UInt8]? = nil, messageFlags: Int32? = nil,
                waitStatus: Int32? = nil, nanoseconds: UInt64 = 0, movedControl: Int32? = nil, port: UInt16? = nil) {
        self.result = result
        self.errno = errno
        self.fds = fds
        self.data = data
        self.messageFlags = messageFlags
        self.waitStatus = waitStatus
        self.nanoseconds = nanoseconds
        self.movedControl = movedControl
        self.port = port
    }

    public static func failure(_ errno: Int32, nanoseconds: UInt64 = 0) -> Answer {
        Answer(result: -1, errno: errno, nanoseconds: nanoseconds)
    }

    public func encoded() -> WireMessage {
        var message = WireMessage(ControlVerb.ok.rawValue)
        message.set("r", result)
        message.set("e", errno)
        message.set("fds", ints: fds)
        message.set("ns", nanoseconds)
        if let data { message.set("d", bytes: data) }
        if let messageFlags { message.set("mf", messageFlags) }
        if let waitStatus { message.set("st", waitStatus) }
        if let movedControl { message.set("ctl", movedControl) }
        if let port { message.set("port", Int(port)) }
        if let credentials {
            message.set("cred", ints: [credentials.pid, Int32(bitPattern: credentials.uid), Int32(bitPattern: credentials.gid)])
        }
        if let from { message.set("from", bytes: from.sunPath) }
        if let ready { message.set("ready", ints: ready.flatMap { [$0.fd, Int32(bitPattern: $0.events)] }) }
        return message
    }

    public static func decode(_ message: WireMessage) -> Result<Answer, ProtocolError> {
        if message.verb == ControlVerb.bad.rawValue {
            let reason = message.bytes("reason").map { String(decoding: $0, as: UTF8.self) } ?? "no reason"
            return .failure(ProtocolError("the agent refused the request: \(reason)"))
        }
        guard message.verb == ControlVerb.ok.rawValue else { return .failure(ProtocolError("expected ok, got \(message.verb)")) }
        var fields = FieldReader(message)
        var answer = Answer(result: fields.int64("r"), errno: fields.int32("e"), fds: fields.ints("fds", optional: true),
                            nanoseconds: UInt64(bitPattern: fields.int64("ns", default: 0)))
        if message["d"] != nil { answer.data = fields.bytes("d") }
        if message["mf"] != nil { answer.messageFlags = fields.int32("mf") }
        if message["st"] != nil { answer.waitStatus = fields.int32("st") }
        if message["ctl"] != nil { answer.movedControl = fields.int32("ctl") }
        if message["port"] != nil { answer.port = UInt16(truncatingIfNeeded: fields.int64("port")) }
        if message["cred"] != nil {
            let values = fields.ints("cred")
            if values.count == 3 {
                answer.credentials = UnixCredentials(pid: values[0], uid: UInt32(bitPattern: values[1]),
                                                     gid: UInt32(bitPattern: values[2]))
            } else {
                fields.malformed("cred")
            }
        }
        if message["from"] != nil { answer.from = SenderAddress(sunPath: fields.bytes("from")) }
        if message["ready"] != nil {
            // fd, events for each: an even count, at most the largest `max`.
            let values = fields.ints("ready")
            if values.count % 2 == 0, values.count / 2 <= Int(ReadyRegistration.maximumReported) {
                answer.ready = stride(from: 0, to: values.count, by: 2).map {
                    ReadyRegistration(fd: values[$0], events: UInt32(bitPattern: values[$0 + 1]))
                }
            } else {
                fields.malformed("ready")
            }
        }
        // Values no system call gives, which the runner would otherwise judge as the kernel's outcome (found
        // with a hostile agent answering e=-5 and fds=-5,-1): an errno is 0...4095 (MAX_ERRNO), a descriptor
        // is never negative.
        if !(0...maximumErrno).contains(answer.errno) { fields.malformed("e") }
        if answer.fds.contains(where: { $0 < 0 }) { fields.malformed("fds") }
        // epoll_wait's count is its list's length.
        if let ready = answer.ready, answer.errno == 0, Int64(ready.count) != answer.result { fields.malformed("ready") }
        if let problem = fields.problem { return .failure(ProtocolError("ok: \(problem)")) }
        return .success(answer)
    }
}

/// A `bad` answer: the request was not understood.
public func badAnswer(_ reason: String) -> WireMessage {
    WireMessage(ControlVerb.bad.rawValue, [("reason", Hex.encode(Array(reason.utf8)))])
}

/// One operation of a loop: what it does, where its descriptors go, and the errno every iteration expects.
public struct LoopStep: Equatable, Sendable {
    public var operation: Operation<LoopNaming>
    /// The slot each produced descriptor is stored in, in order; -1 keeps it unnamed.
    public var outputs: [Int]
    public var expectedErrno: Int32

    public init(operation: Operation<LoopNaming>, outputs: [Int] = [], expectedErrno: Int32 = 0) {
        self.operation = operation
        self.outputs = outputs
        self.expectedErrno = expectedErrno
    }
}

/// The number of slots a loop has (loop-local names).
public let loopSlotCount = 64

/// What the runner asks of an agent.
public enum AgentRequest: Equatable, Sendable {
    /// Perform one operation. `hidden`: other agents' control channels in a table shared with this agent,
    /// which must behave as free numbers.
    case perform(Operation<WireNaming>, hidden: [Int32])
    /// Run `steps` `count` times without answering each.
    case loop(count: Int, steps: [LoopStep], hidden: [Int32])
    /// Close these descriptors (harness housekeeping: channels left behind in a once-shared table).
    case release(fds: [Int32])
    /// argv[index] of the agent's current image, as a descriptor number.
    case argument(index: Int)

    public func encoded() -> WireMessage {
        switch self {
        case .perform(let operation, let hidden):
            var message = operation.encoded()
            if !hidden.isEmpty { message.set("hidden", ints: hidden) }
            return message
        case .loop(let count, let steps, let hidden):
            var message = WireMessage(ControlVerb.loop.rawValue)
            message.set("count", count)
            message.set("ops", byteLists: steps.map { step in
                var encoded = step.operation.encoded()
                encoded.set("as", list: step.outputs.map(String.init))
                encoded.set("xe", step.expectedErrno)
                return encoded.encoded()
            })
            if !hidden.isEmpty { message.set("hidden", ints: hidden) }
            return message
        case .release(let fds):
            var message = WireMessage(ControlVerb.release.rawValue)
            message.set("fds", ints: fds)
            return message
        case .argument(let index):
            var message = WireMessage(ControlVerb.argument.rawValue)
            message.set("index", index)
            return message
        }
    }

    public static func decode(_ message: WireMessage) -> Result<AgentRequest, ProtocolError> {
        var fields = FieldReader(message)
        let request: AgentRequest
        switch ControlVerb(rawValue: message.verb) {
        case .loop:
            let count = Int(fields.int64("count"))
            if count < 1 { fields.malformed("count") }
            var steps: [LoopStep] = []
            guard let ops = message.byteLists("ops") else { return .failure(ProtocolError("loop: missing field 'ops'")) }
            for packet in ops {
                guard let encoded = WireMessage.decode(packet) else { return .failure(ProtocolError("loop: unparsable op")) }
                var stepFields = FieldReader(encoded)
                let outputs = (encoded["as"] ?? "").split(separator: ",").map { Int($0) ?? -1 }
                if outputs.contains(where: { $0 >= loopSlotCount }) { return .failure(ProtocolError("loop: slot out of range")) }
                let expected = stepFields.int32("xe", default: 0)
                switch Operation<LoopNaming>.decode(encoded) {
                case .success(let operation):
                    if case .slot(let slot)? = operation.descriptors.first(where: {
                        if case .slot(let s) = $0.0 { return s >= loopSlotCount } else { return false }
                    })?.0 {
                        return .failure(ProtocolError("loop: slot \(slot) out of range"))
                    }
                    steps.append(LoopStep(operation: operation, outputs: outputs, expectedErrno: expected))
                case .failure(let error): return .failure(ProtocolError("loop: \(error.reason)"))
                }
            }
            request = .loop(count: count, steps: steps, hidden: fields.ints("hidden", optional: true))
        case .release:
            request = .release(fds: fields.ints("fds"))
        case .argument:
            request = .argument(index: Int(fields.int64("index")))
        case .hello, .ok, .bad, .channel:
            return .failure(ProtocolError("\(message.verb) is sent by agents, not to them"))
        case nil:
            switch Operation<WireNaming>.decode(message) {
            case .success(let operation): request = .perform(operation, hidden: fields.ints("hidden", optional: true))
            case .failure(let error): return .failure(error)
            }
        }
        if let problem = fields.problem { return .failure(ProtocolError("\(message.verb): \(problem)")) }
        return .success(request)
    }
}

/// The one answer to a loop.
public struct LoopAnswer: Equatable, Sendable {
    public var iterations: Int
    /// Operations whose errno differed from the expected one.
    public var failures: Int
    /// `iteration 3, step 2: errno 9, expected 0`, empty when none failed.
    public var firstFailure: String
    public var wallNanoseconds: UInt64
    /// Per loop step: the non-empty latency buckets (LatencyBuckets) and their counts.
    public var histograms: [[(bucket: Int, count: UInt64)]]
    /// The slots' final values.
    public var slots: [Int32]

    public init(iterations: Int, failures: Int, firstFailure: String, wallNanoseconds: UInt64,
                histograms: [[(bucket: Int, count: UInt64)]], slots: [Int32]) {
        self.iterations = iterations
        self.failures = failures
        self.firstFailure = firstFailure
        self.wallNanoseconds = wallNanoseconds
        self.histograms = histograms
        self.slots = slots
    }

    public static func == (lhs: LoopAnswer, rhs: LoopAnswer) -> Bool {
        lhs.iterations == rhs.iterations && lhs.failures == rhs.failures && lhs.firstFailure == rhs.firstFailure
            && lhs.wallNanoseconds == rhs.wallNanoseconds && lhs.slots == rhs.slots
            && lhs.histograms.count == rhs.histograms.count
            && zip(lhs.histograms, rhs.histograms).allSatisfy { $0.elementsEqual($1, by: { $0 == $1 }) }
    }

    public func encoded() -> WireMessage {
        var message = WireMessage(ControlVerb.ok.rawValue)
        message.set("r", 0)
        message.set("e", 0)
        message.set("iterations", iterations)
        message.set("failures", failures)
        message.set("first", bytes: Array(firstFailure.utf8))
        message.set("wall", wallNanoseconds)
        message.set("hist", histograms.map { buckets in
            buckets.map { "\($0.bucket):\($0.count)" }.joined(separator: ",")
        }.joined(separator: ";"))
        message.set("locals", ints: slots)
        return message
    }

    public static func decode(_ message: WireMessage) -> Result<LoopAnswer, ProtocolError> {
        if case .failure(let error) = Answer.decode(message) { return .failure(error) }
        var fields = FieldReader(message)
        var histograms: [[(bucket: Int, count: UInt64)]] = []
        for part in (message["hist"] ?? "").split(separator: ";", omittingEmptySubsequences: false) {
            var buckets: [(bucket: Int, count: UInt64)] = []
            for pair in part.split(separator: ",") {
                let halves = pair.split(separator: ":")
                guard halves.count == 2, let bucket = Int(halves[0]), let count = UInt64(halves[1]),
                    bucket >= 0, bucket < LatencyBuckets.count
                else { return .failure(ProtocolError("loop answer: malformed field 'hist'")) }
                buckets.append((bucket, count))
            }
            histograms.append(buckets)
        }
        let answer = LoopAnswer(iterations: Int(fields.int64("iterations")), failures: Int(fields.int64("failures")),
                                firstFailure: fields.text("first"), wallNanoseconds: UInt64(bitPattern: fields.int64("wall")),
                                histograms: histograms, slots: fields.ints("locals", optional: true))
        if let problem = fields.problem { return .failure(ProtocolError("loop answer: \(problem)")) }
        return .success(answer)
    }
}
