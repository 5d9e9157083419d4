// One operation type from the scenario file to the agent. What varies along the way is only how things are
// named: a scenario names descriptors (`file`, `3`, `{argv: 1}`), processes and addresses; the model sees
// numbers and process names; the wire carries numbers and pids; a loop carries numbers and loop slots.
// `Operation<Naming>` is generic over that, and `map` turns one naming into another.
//
// Operations come in families (files, the table, sockets, messages, events, processes), one file each under
// Operations/: a family's cases, kinds, declarations, wire fields and naming map sit together, and the
// parser, the model and the agent each have one file per family too, so that an operation is added in four
// files (docs/adding-an-operation.md). `Operation.dup2(fd:target:)` and the like build one without naming
// its family; a pattern names it (`case .table(.dup2(let fd, let target))`).

/// How an operation names descriptors, processes, socket addresses and texts (exec arguments).
public protocol OperationNaming {
    associatedtype Descriptor: Hashable & Sendable
    associatedtype Process: Hashable & Sendable
    associatedtype Address: Hashable & Sendable
    associatedtype Text: Hashable & Sendable
}

/// Numbers and process names: what the reference model applies.
public enum ResolvedNaming: OperationNaming {
    public typealias Descriptor = Int32
    public typealias Process = String
    public typealias Address = SocketAddress
    public typealias Text = String
}

/// Numbers and pids: what an agent performs.
public enum WireNaming: OperationNaming {
    public typealias Descriptor = Int32
    public typealias Process = ProcessHandle
    public typealias Address = SocketAddress
    public typealias Text = String
}

/// Numbers or loop slots: what an agent performs inside a loop.
public enum LoopNaming: OperationNaming {
    public typealias Descriptor = LoopOperand
    public typealias Process = ProcessHandle
    public typealias Address = SocketAddress
    public typealias Text = String
}

public enum Operation<Naming: OperationNaming>: Hashable, Sendable {
    public typealias FD = Naming.Descriptor
    public typealias Process = Naming.Process
    public typealias Text = Naming.Text

    /// Files and their descriptions: open, memfd_create, lseek, read, write, ftruncate, reopen (FileOperations.swift).
    case files(FileOperation<Naming>)
    /// The descriptor table: dup, dup2, dup3, fcntl, close, close_range, F_DUPFD_QUERY, unshare_files (TableOperations.swift).
    case table(TableOperation<Naming>)
    /// Sockets: socketpair, socket, bind, listen, connect, accept, shutdown, options, sendto, recvfrom, the GC (SocketOperations.swift).
    case sockets(SocketOperation<Naming>)
    /// Messages with descriptors: send, send_headers, recv (MessageOperations.swift).
    case messages(MessageOperation<Naming>)
    /// Pipes and event objects: pipe, eventfd, epoll, poll, signalfd, timerfd, inotify (EventOperations.swift).
    case events(EventOperation<Naming>)
    /// Processes: fork, exec, exit, wait, pidfds, credentials and limits, clone_files, launchers (ProcessOperations.swift).
    case processes(ProcessOperation<Naming>)

    /// Which operation this is, for its declaration.
    @inlinable public var kind: OperationKind {
        switch self {
        case .files(let operation): return .files(operation.kind)
        case .table(let operation): return .table(operation.kind)
        case .sockets(let operation): return .sockets(operation.kind)
        case .messages(let operation): return .messages(operation.kind)
        case .events(let operation): return .events(operation.kind)
        case .processes(let operation): return .processes(operation.kind)
        }
    }

    public var declaration: OperationDeclaration { kind.declaration }
}

/// The four renamings of `Operation.map` as one value, for the families' maps.
public struct Renaming<Naming: OperationNaming, Other: OperationNaming, Failure: Error> {
    public let descriptor: (Naming.Descriptor, DescriptorField<Naming.Process>) throws(Failure) -> Other.Descriptor
    public let process: (Naming.Process) throws(Failure) -> Other.Process
    public let address: (Naming.Address) throws(Failure) -> Other.Address
    public let text: (Naming.Text) throws(Failure) -> Other.Text

    @inlinable init(descriptor: @escaping (Naming.Descriptor, DescriptorField<Naming.Process>) throws(Failure) -> Other.Descriptor,
                    process: @escaping (Naming.Process) throws(Failure) -> Other.Process,
                    address: @escaping (Naming.Address) throws(Failure) -> Other.Address,
                    text: @escaping (Naming.Text) throws(Failure) -> Other.Text) {
        self.descriptor = descriptor
        self.process = process
        self.address = address
        self.text = text
    }

    /// A descriptor argument (`fd`, `fds[1]`), in the acting process's table or `owner`'s.
    @inlinable func fd(_ value: Naming.Descriptor, _ argument: String, of owner: Naming.Process? = nil) throws(Failure)
        -> Other.Descriptor
    {
        try descriptor(value, DescriptorField(argument: argument, owner: owner))
    }

    @inlinable func texts(_ values: [Naming.Text]) throws(Failure) -> [Other.Text] {
        var result: [Other.Text] = []
        for value in values { result.append(try text(value)) }
        return result
    }

    @inlinable func variables(_ values: [EnvironmentVariable<Naming.Text>]) throws(Failure)
        -> [EnvironmentVariable<Other.Text>]
    {
        var result: [EnvironmentVariable<Other.Text>] = []
        for value in values { result.append(EnvironmentVariable(name: value.name, value: try text(value.value))) }
        return result
    }
}

/// Where a descriptor sits in an operation: its argument (`fd`, `fds[1]`) and whose table it is in (nil:
/// the acting process's; a process for pidfd_getfd and reopen, which name a descriptor of their target).
public struct DescriptorField<Process: Hashable & Sendable>: Sendable {
    public var argument: String
    public var owner: Process?

    @inlinable public init(argument: String, owner: Process?) {
        self.argument = argument
        self.owner = owner
    }
}

extension Operation {
    /// The same operation under another naming. Closures are called in argument order. Inlinable: agents
    /// map loop operations on their hot path, which needs the specialised code.
    @_specialize(exported: true, where Naming == LoopNaming, Other == WireNaming, Failure == Never)
    @_specialize(exported: true, where Naming == WireNaming, Other == WireNaming, Failure == Never)
    @inlinable public func map<Other: OperationNaming, Failure: Error>(
        descriptor: (FD, DescriptorField<Process>) throws(Failure) -> Other.Descriptor,
        process: (Process) throws(Failure) -> Other.Process,
        address: (Naming.Address) throws(Failure) -> Other.Address,
        text: (Text) throws(Failure) -> Other.Text
    ) throws(Failure) -> Operation<Other> {
        // Non-escaping closures in one value for the families' maps (none of them escapes the call).
        try withoutActuallyEscaping(descriptor) { (descriptor) throws(Failure) -> Operation<Other> in
            try withoutActuallyEscaping(process) { (process) throws(Failure) -> Operation<Other> in
                try withoutActuallyEscaping(address) { (address) throws(Failure) -> Operation<Other> in
                    try withoutActuallyEscaping(text) { (text) throws(Failure) -> Operation<Other> in
                        try map(Renaming(descriptor: descriptor, process: process, address: address, text: text))
                    }
                }
            }
        }
    }

    @inlinable func map<Other: OperationNaming, Failure: Error>(_ renaming: Renaming<Naming, Other, Failure>)
        throws(Failure) -> Operation<Other>
    {
        switch self {
        case .files(let operation): return .files(try operation.map(renaming))
        case .table(let operation): return .table(try operation.map(renaming))
        case .sockets(let operation): return .sockets(try operation.map(renaming))
        case .messages(let operation): return .messages(try operation.map(renaming))
        case .events(let operation): return .events(try operation.map(renaming))
        case .processes(let operation): return .processes(try operation.map(renaming))
        }
    }

    /// Every descriptor the operation names, with where it sits.
    @inlinable public var descriptors: [(FD, DescriptorField<Process>)] {
        var found: [(FD, DescriptorField<Process>)] = []
        _ = map(descriptor: { (value: FD, field: DescriptorField<Process>) -> FD in found.append((value, field)); return value },
                process: { $0 }, address: { $0 }, text: { $0 }) as Operation<Naming>
        return found
    }
}
