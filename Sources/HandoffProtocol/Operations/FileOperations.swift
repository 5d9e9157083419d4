// File operations, declared once: the cases, their keywords and declarations, their wire fields and
// how their names map (Operation.swift and OperationDeclarations.swift dispatch here by family;
// docs/adding-an-operation.md is the recipe).

public enum FileOperation<Naming: OperationNaming>: Hashable, Sendable {
    public typealias FD = Naming.Descriptor
    public typealias Process = Naming.Process
    public typealias Text = Naming.Text

    case open(path: String, flags: Set<OpenFlag>, mode: UInt32)
    /// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING).
    case memfd(name: String, closeOnExec: Bool, allowSealing: Bool = false)
    /// lseek(2); `whence` as the kernel takes it (Whence names SEEK_SET ... SEEK_HOLE; any other value is
    /// handed over as it is, for the EINVAL it gets).
    case lseek(fd: FD, offset: Int64, whence: Int32)
    case read(fd: FD, count: Int)
    case write(fd: FD, data: [UInt8])
    /// pread64(2): `count` bytes at `offset`; the description's own offset does not move.
    case pread(fd: FD, count: Int, offset: Int64)
    /// pwrite64(2): `data` at `offset`; the description's own offset does not move (and O_APPEND still appends).
    case pwrite(fd: FD, data: [UInt8], offset: Int64)
    /// ftruncate(2): the file's size becomes `length`.
    case ftruncate(fd: FD, length: Int64)
    /// open("/proc/PID/fd/N") of `target`'s descriptor `fd`: a NEW open file description.
    case reopen(target: Process, fd: FD, flags: Set<OpenFlag>)
    /// mkfifo(3), that is mknodat(AT_FDCWD, path, S_IFIFO | mode, 0): a FIFO in the scenario's directory.
    case mkfifo(path: String, mode: UInt32)

    @inlinable public var kind: FileOperationKind {
        switch self {
        case .open: return .open
        case .memfd: return .memfd
        case .lseek: return .lseek
        case .read: return .read
        case .write: return .write
        case .pread: return .pread
        case .pwrite: return .pwrite
        case .ftruncate: return .ftruncate
        case .reopen: return .reopen
        case .mkfifo: return .mkfifo
        }
    }
}

public enum FileOperationKind: String, CaseIterable, Sendable, Hashable {
    case open
    case memfd
    case lseek
    case read
    case write
    case pread
    case pwrite
    case ftruncate
    case reopen
    case mkfifo
}

extension OperationKind {
    public static let open = OperationKind.files(.open)
    public static let memfd = OperationKind.files(.memfd)
    public static let lseek = OperationKind.files(.lseek)
    public static let read = OperationKind.files(.read)
    public static let write = OperationKind.files(.write)
    public static let pread = OperationKind.files(.pread)
    public static let pwrite = OperationKind.files(.pwrite)
    public static let ftruncate = OperationKind.files(.ftruncate)
    public static let reopen = OperationKind.files(.reopen)
    public static let mkfifo = OperationKind.files(.mkfifo)
}

extension Operation {
    @inlinable public static func open(path: String, flags: Set<OpenFlag>, mode: UInt32) -> Operation {
        .files(.open(path: path, flags: flags, mode: mode))
    }
    @inlinable public static func memfd(name: String, closeOnExec: Bool, allowSealing: Bool = false) -> Operation {
        .files(.memfd(name: name, closeOnExec: closeOnExec, allowSealing: allowSealing))
    }
    @inlinable public static func lseek(fd: FD, offset: Int64, whence: Whence) -> Operation {
        .files(.lseek(fd: fd, offset: offset, whence: whence.linux))
    }
    @inlinable public static func read(fd: FD, count: Int) -> Operation {
        .files(.read(fd: fd, count: count))
    }
    @inlinable public static func write(fd: FD, data: [UInt8]) -> Operation {
        .files(.write(fd: fd, data: data))
    }
    @inlinable public static func pread(fd: FD, count: Int, offset: Int64) -> Operation {
        .files(.pread(fd: fd, count: count, offset: offset))
    }
    @inlinable public static func pwrite(fd: FD, data: [UInt8], offset: Int64) -> Operation {
        .files(.pwrite(fd: fd, data: data, offset: offset))
    }
    @inlinable public static func ftruncate(fd: FD, length: Int64) -> Operation {
        .files(.ftruncate(fd: fd, length: length))
    }
    @inlinable public static func reopen(target: Process, fd: FD, flags: Set<OpenFlag>) -> Operation {
        .files(.reopen(target: target, fd: fd, flags: flags))
    }
    @inlinable public static func mkfifo(path: String, mode: UInt32) -> Operation {
        .files(.mkfifo(path: path, mode: mode))
    }
}

extension FileOperation {
    /// The same operation under another naming (Operation.map).
    @_specialize(exported: true, where Naming == LoopNaming, Other == WireNaming, Failure == Never)
    @_specialize(exported: true, where Naming == WireNaming, Other == WireNaming, Failure == Never)
    @inlinable public func map<Other: OperationNaming, Failure: Error>(_ renaming: Renaming<Naming, Other, Failure>)
        throws(Failure) -> FileOperation<Other>
    {
        switch self {
        case .open(let path, let flags, let mode): return .open(path: path, flags: flags, mode: mode)
        case .memfd(let name, let closeOnExec, let allowSealing):
            return .memfd(name: name, closeOnExec: closeOnExec, allowSealing: allowSealing)
        case .lseek(let value, let offset, let whence): return .lseek(fd: try renaming.fd(value, "fd"), offset: offset, whence: whence)
        case .read(let value, let count): return .read(fd: try renaming.fd(value, "fd"), count: count)
        case .write(let value, let data): return .write(fd: try renaming.fd(value, "fd"), data: data)
        case .pread(let value, let count, let offset): return .pread(fd: try renaming.fd(value, "fd"), count: count, offset: offset)
        case .pwrite(let value, let data, let offset): return .pwrite(fd: try renaming.fd(value, "fd"), data: data, offset: offset)
        case .reopen(let target, let value, let flags):
            let mappedTarget = try renaming.process(target)
            return .reopen(target: mappedTarget, fd: try renaming.fd(value, "fd", of: target), flags: flags)
        case .ftruncate(let value, let length): return .ftruncate(fd: try renaming.fd(value, "fd"), length: length)
        case .mkfifo(let path, let mode): return .mkfifo(path: path, mode: mode)
        }
    }
}

extension FileOperationKind {
    /// This operation's declaration (built once per process: OperationKind.declaration).
    var declared: OperationDeclaration {
        let fd = DeclarationParts.fd
        let openFlags = DeclarationParts.openFlags
        switch self {
        case .open:
            return OperationDeclaration(.files(self), "open(2) of a path in the scenario's directory", [
                ArgumentDeclaration("path", .string, required: true), openFlags,
                ArgumentDeclaration("mode", .mode, default: "0644"),
            ], binds: .descriptor)
        case .memfd:
            return OperationDeclaration(.files(self), "memfd_create(2); `allow_sealing` is MFD_ALLOW_SEALING", [
                ArgumentDeclaration("name", .string, default: "handoff"),
                ArgumentDeclaration("flags", .flags(["cloexec", "allow_sealing"])),
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["memfd_create"]))
        case .lseek:
            return OperationDeclaration(.files(self), "lseek(2)", [
                fd, ArgumentDeclaration("offset", .integer(Int64.min...Int64.max), default: "0"),
                ArgumentDeclaration("whence", .keywordOrRaw(Whence.allCases.map(\.rawValue)), default: "set"),
            ])
        case .read:
            return OperationDeclaration(.files(self), "read(2)", [fd, ArgumentDeclaration("count", .integer(0...Int64(maximumTransfer)), default: "256")],
                           expectations: [.error, .result, .expect])
        case .write:
            return OperationDeclaration(.files(self), "write(2)", [fd, ArgumentDeclaration("data", .bytes, required: true)])
        case .pread:
            return OperationDeclaration(.files(self), "pread64(2): at `offset`, without moving the description's offset", [
                fd, ArgumentDeclaration("count", .integer(0...Int64(maximumTransfer)), default: "256"),
                ArgumentDeclaration("offset", .integer(Int64.min...Int64.max), required: true),
            ], expectations: [.error, .result, .expect])
        case .pwrite:
            return OperationDeclaration(.files(self), "pwrite64(2): at `offset`, without moving the description's offset (O_APPEND appends)", [
                fd, ArgumentDeclaration("data", .bytes, required: true),
                ArgumentDeclaration("offset", .integer(Int64.min...Int64.max), required: true),
            ])
        case .reopen:
            return OperationDeclaration(.files(self), "open(2) of /proc/PID/fd/N of a process's descriptor: a new open file description", [
                ArgumentDeclaration("process", .process, required: true), fd, openFlags,
            ], binds: .descriptor, repeatable: false)
        case .ftruncate:
            // Lengths stay small: the model keeps contents densely.
            return OperationDeclaration(.files(self), "ftruncate(2) of a file or memfd", [
                fd, ArgumentDeclaration("length", .integer(-1...Int64(maximumTransfer)), required: true),
            ])
        case .mkfifo:
            return OperationDeclaration(.files(self), "mkfifo(3) (mknod(2) with S_IFIFO) of a path in the scenario's directory", [
                ArgumentDeclaration("path", .string, required: true),
                ArgumentDeclaration("mode", .mode, default: "0644"),
            ])
        }
    }
}

extension FileOperation where Naming.Descriptor: WireDescriptor, Naming.Process == ProcessHandle,
    Naming.Address == SocketAddress, Naming.Text == String
{
    /// This operation's fields in its request (Operation.encoded).
    func encode(into message: inout WireMessage) {
        switch self {
        case .open(let path, let flags, let mode):
            message.setText("path", path)
            message.set("flags", OpenFlag.linux(flags))
            message.set("mode", Int(mode))
        case .memfd(let name, let closeOnExec, let allowSealing):
            message.setText("name", name)
            message.set("flags", Int64((closeOnExec ? Linux.MFD_CLOEXEC : 0) | (allowSealing ? Linux.MFD_ALLOW_SEALING : 0)))
        case .lseek(let value, let offset, let whence):
            message.setDescriptor("fd", value)
            message.set("offset", offset)
            message.set("whence", whence)
        case .read(let value, let count):
            message.setDescriptor("fd", value)
            message.set("count", count)
        case .write(let value, let data):
            message.setDescriptor("fd", value)
            message.set("data", bytes: data)
        case .pread(let value, let count, let offset):
            message.setDescriptor("fd", value)
            message.set("count", count)
            message.set("offset", offset)
        case .pwrite(let value, let data, let offset):
            message.setDescriptor("fd", value)
            message.set("data", bytes: data)
            message.set("offset", offset)
        case .reopen(let target, let value, let flags):
            message.set("pid", target.pid)
            message.setDescriptor("fd", value)
            message.set("flags", OpenFlag.linux(flags))
            message.set("tctl", target.channel)
        case .ftruncate(let value, let length):
            message.setDescriptor("fd", value)
            message.set("length", length)
        case .mkfifo(let path, let mode):
            message.setText("path", path)
            message.set("mode", Int(mode))
        }
    }

    /// The operation a request of this family asks for (Operation.decode); what is malformed is in
    /// `request.fields.problem`.
    static func decode(_ kind: FileOperationKind, _ request: inout RequestReader<FD>) -> FileOperation {
        let operation: FileOperation
        switch kind {
        case .open:
            let path = request.fields.text("path")
            let flags = request.fields.int32("flags")
            operation = .open(path: path, flags: request.fields.openFlags(flags, "flags"), mode: UInt32(truncatingIfNeeded: request.fields.int64("mode")))
        case .memfd:
            let name = request.fields.text("name")
            let flags = UInt32(truncatingIfNeeded: request.fields.int64("flags"))
            operation = .memfd(name: name, closeOnExec: flags & Linux.MFD_CLOEXEC != 0,
                               allowSealing: flags & Linux.MFD_ALLOW_SEALING != 0)
        case .lseek:
            let value = request.fd("fd")
            let offset = request.fields.int64("offset")
            operation = .lseek(fd: value, offset: offset, whence: request.fields.int32("whence"))
        case .read:
            operation = .read(fd: request.fd("fd"), count: request.fields.count("count"))
        case .write:
            operation = .write(fd: request.fd("fd"), data: request.fields.bytes("data"))
        case .pread:
            operation = .pread(fd: request.fd("fd"), count: request.fields.count("count"), offset: request.fields.int64("offset"))
        case .pwrite:
            operation = .pwrite(fd: request.fd("fd"), data: request.fields.bytes("data"), offset: request.fields.int64("offset"))
        case .reopen:
            let target = request.process()
            let value = request.fd("fd")
            operation = .reopen(target: target, fd: value, flags: request.fields.openFlags(request.fields.int32("flags"), "flags"))
        case .ftruncate:
            operation = .ftruncate(fd: request.fd("fd"), length: request.fields.int64("length"))
        case .mkfifo:
            operation = .mkfifo(path: request.fields.text("path"), mode: UInt32(truncatingIfNeeded: request.fields.int64("mode")))
        }
        return operation
    }
}
