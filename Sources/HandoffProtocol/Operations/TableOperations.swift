// Table operations, declared once: the cases, their keywords and declarations, their wire fields and
// how their names map (Operation.swift and OperationDeclarations.swift dispatch here by family;
// docs/adding-an-operation.md is the recipe).

public enum TableOperation<Naming: OperationNaming>: Hashable, Sendable {
    public typealias FD = Naming.Descriptor
    public typealias Process = Naming.Process
    public typealias Text = Naming.Text

    case dup(fd: FD)
    case dup2(fd: FD, target: FD)
    /// `flags` is raw so that invalid flags (EINVAL) can be exercised.
    case dup3(fd: FD, target: FD, flags: Int32)
    case fcntl(fd: FD, command: FcntlCommand)
    /// ioctl(2) with one of the requests every file answers (IoctlRequest).
    case ioctl(fd: FD, request: IoctlRequest)
    case close(fd: FD)
    /// `last` UInt32.max is ~0U (to the end of the table). `flags` is raw (CLOSE_RANGE_CLOEXEC,
    /// CLOSE_RANGE_UNSHARE) so that unknown bits (EINVAL) can be exercised.
    case closeRange(first: UInt32, last: UInt32, flags: UInt32)
    /// fcntl(fd, F_DUPFD_QUERY, other): 1 when both name one open file description, else 0 (Linux 6.10).
    case dupfdQuery(fd: FD, other: FD)
    /// unshare(CLONE_FILES): the caller gets a private copy of its table.
    case unshareFiles

    @inlinable public var kind: TableOperationKind {
        switch self {
        case .dup: return .dup
        case .dup2: return .dup2
        case .dup3: return .dup3
        case .fcntl: return .fcntl
        case .ioctl: return .ioctl
        case .close: return .close
        case .closeRange: return .closeRange
        case .dupfdQuery: return .dupfdQuery
        case .unshareFiles: return .unshareFiles
        }
    }
}

public enum TableOperationKind: String, CaseIterable, Sendable, Hashable {
    case dup
    case dup2
    case dup3
    case fcntl
    case ioctl
    case close
    case closeRange = "close_range"
    case dupfdQuery = "dupfd_query"
    case unshareFiles = "unshare_files"
}

extension OperationKind {
    public static let dup = OperationKind.table(.dup)
    public static let dup2 = OperationKind.table(.dup2)
    public static let dup3 = OperationKind.table(.dup3)
    public static let fcntl = OperationKind.table(.fcntl)
    public static let ioctl = OperationKind.table(.ioctl)
    public static let close = OperationKind.table(.close)
    public static let closeRange = OperationKind.table(.closeRange)
    public static let dupfdQuery = OperationKind.table(.dupfdQuery)
    public static let unshareFiles = OperationKind.table(.unshareFiles)
}

extension Operation {
    @inlinable public static func dup(fd: FD) -> Operation {
        .table(.dup(fd: fd))
    }
    @inlinable public static func dup2(fd: FD, target: FD) -> Operation {
        .table(.dup2(fd: fd, target: target))
    }
    @inlinable public static func dup3(fd: FD, target: FD, flags: Int32) -> Operation {
        .table(.dup3(fd: fd, target: target, flags: flags))
    }
    @inlinable public static func fcntl(fd: FD, command: FcntlCommand) -> Operation {
        .table(.fcntl(fd: fd, command: command))
    }
    @inlinable public static func ioctl(fd: FD, request: IoctlRequest) -> Operation {
        .table(.ioctl(fd: fd, request: request))
    }
    @inlinable public static func close(fd: FD) -> Operation {
        .table(.close(fd: fd))
    }
    @inlinable public static func closeRange(first: UInt32, last: UInt32, flags: UInt32) -> Operation {
        .table(.closeRange(first: first, last: last, flags: flags))
    }
    @inlinable public static func dupfdQuery(fd: FD, other: FD) -> Operation {
        .table(.dupfdQuery(fd: fd, other: other))
    }
    @inlinable public static var unshareFiles: Operation { .table(.unshareFiles) }
}

extension TableOperation {
    /// The same operation under another naming (Operation.map).
    @_specialize(exported: true, where Naming == LoopNaming, Other == WireNaming, Failure == Never)
    @_specialize(exported: true, where Naming == WireNaming, Other == WireNaming, Failure == Never)
    @inlinable public func map<Other: OperationNaming, Failure: Error>(_ renaming: Renaming<Naming, Other, Failure>)
        throws(Failure) -> TableOperation<Other>
    {
        switch self {
        case .dup(let value): return .dup(fd: try renaming.fd(value, "fd"))
        case .dup2(let value, let target): return .dup2(fd: try renaming.fd(value, "fd"), target: try renaming.fd(target, "target"))
        case .dup3(let value, let target, let flags):
            return .dup3(fd: try renaming.fd(value, "fd"), target: try renaming.fd(target, "target"), flags: flags)
        case .fcntl(let value, let command): return .fcntl(fd: try renaming.fd(value, "fd"), command: command)
        case .ioctl(let value, let request): return .ioctl(fd: try renaming.fd(value, "fd"), request: request)
        case .close(let value): return .close(fd: try renaming.fd(value, "fd"))
        case .closeRange(let first, let last, let flags):
            return .closeRange(first: first, last: last, flags: flags)
        case .unshareFiles: return .unshareFiles
        case .dupfdQuery(let value, let other):
            let mapped = try renaming.fd(value, "fd")
            return .dupfdQuery(fd: mapped, other: try renaming.fd(other, "other"))
        }
    }
}

/// close_range(2)'s flags, as the kernel reads them (fs/file.c: SYSCALL_DEFINE3(close_range) refuses any other
/// bit with EINVAL before it looks at the range or the table).
public enum CloseRangeFlags {
    public static let known = Linux.CLOSE_RANGE_CLOEXEC | Linux.CLOSE_RANGE_UNSHARE

    /// Whether a call with these flags is refused for them alone (EINVAL), doing nothing.
    public static func areInvalid(_ flags: UInt32) -> Bool { flags & ~known != 0 }

    /// CLOSE_RANGE_UNSHARE in a call the kernel accepts: the caller's table becomes private.
    public static func unshares(_ flags: UInt32) -> Bool { !areInvalid(flags) && flags & Linux.CLOSE_RANGE_UNSHARE != 0 }

    /// CLOSE_RANGE_CLOEXEC: descriptors are marked close-on-exec instead of closed.
    public static func marksCloseOnExec(_ flags: UInt32) -> Bool { flags & Linux.CLOSE_RANGE_CLOEXEC != 0 }
}

extension TableOperationKind {
    /// This operation's declaration (built once per process: OperationKind.declaration).
    var declared: OperationDeclaration {
        let fd = DeclarationParts.fd
        switch self {
        case .dup:
            return OperationDeclaration(.table(self), "dup(2)", [fd], binds: .descriptor)
        case .dup2:
            return OperationDeclaration(.table(self), "dup2(2)", [fd, ArgumentDeclaration("target", .descriptor, required: true)], binds: .descriptor)
        case .dup3:
            return OperationDeclaration(.table(self), "dup3(2)", [
                fd, ArgumentDeclaration("target", .descriptor, required: true),
                ArgumentDeclaration("flags", .flagsOrRaw(["cloexec"])),
            ], binds: .descriptor)
        case .fcntl:
            return OperationDeclaration(.table(self), "fcntl(2); `min` with dupfd and dupfd_cloexec, `cloexec` with setfd, `flags` with setfl, "
                           + "`seals` with add_seals, `size` with setpipe_sz", [
                fd, ArgumentDeclaration("cmd", .command(FcntlCommand.names), required: true),
                ArgumentDeclaration("min", .integer(0...Int64(Int32.max)), default: "0",
                                    onlyWith: ("cmd", ["dupfd", "dupfd_cloexec"])),
                ArgumentDeclaration("cloexec", .bool, onlyWith: ("cmd", ["setfd"])),
                ArgumentDeclaration("flags", .flags(StatusFlag.allCases.map(\.rawValue)), onlyWith: ("cmd", ["setfl"])),
                ArgumentDeclaration("seals", .flags(MemfdSeal.allCases.map(\.rawValue)), onlyWith: ("cmd", ["add_seals"])),
                ArgumentDeclaration("size", .integer(0...Int64(UInt32.max)), onlyWith: ("cmd", ["setpipe_sz"])),
            ], binds: .descriptor)
        case .ioctl:
            return OperationDeclaration(.table(self), "ioctl(2) FIOCLEX, FIONCLEX, FIONBIO (`enable` with fionbio), FIONREAD (its int is the result)", [
                fd, ArgumentDeclaration("request", .command(IoctlRequest.names), required: true),
                ArgumentDeclaration("enable", .bool, default: "true", onlyWith: ("request", ["fionbio"])),
            ])
        case .close:
            return OperationDeclaration(.table(self), "close(2)", [fd])
        case .closeRange:
            return OperationDeclaration(.table(self), "close_range(2)", [
                ArgumentDeclaration("first", .integer(0...Int64(UInt32.max)), required: true),
                ArgumentDeclaration("last", .integer(0...Int64(UInt32.max)), default: "max"),
                ArgumentDeclaration("flags", .flagsOrRaw(["cloexec", "unshare"])),
            ], needs: SystemNeeds(syscalls: ["close_range"]), effect: .privatizesTable)
        case .unshareFiles:
            return OperationDeclaration(.table(self), "unshare(CLONE_FILES)", [], repeatable: false, effect: .privatizesTable)
        case .dupfdQuery:
            return OperationDeclaration(.table(self), "fcntl(2) F_DUPFD_QUERY: 1 when `other` is the same open file description as `fd`, else 0", [
                fd, ArgumentDeclaration("other", .descriptor, required: true),
            ], needs: SystemNeeds(syscalls: ["dupfd_query"]))
        }
    }
}

extension TableOperation where Naming.Descriptor: WireDescriptor, Naming.Process == ProcessHandle,
    Naming.Address == SocketAddress, Naming.Text == String
{
    /// This operation's fields in its request (Operation.encoded).
    func encode(into message: inout WireMessage) {
        switch self {
        case .dup(let value):
            message.setDescriptor("fd", value)
        case .dup2(let value, let target):
            message.setDescriptor("fd", value)
            message.setDescriptor("target", target)
        case .dup3(let value, let target, let flags):
            message.setDescriptor("fd", value)
            message.setDescriptor("target", target)
            message.set("flags", flags)
        case .fcntl(let value, let command):
            message.setDescriptor("fd", value)
            message.set("cmd", command.linux.command)
            message.set("arg", command.linux.argument)
        case .ioctl(let value, let request):
            message.setDescriptor("fd", value)
            message.set("request", Int64(request.linux.request))
            message.set("arg", request.linux.argument)
        case .close(let value):
            message.setDescriptor("fd", value)
        case .closeRange(let first, let last, let flags):
            message.set("first", Int64(first))
            message.set("last", Int64(last))
            message.set("flags", Int64(flags))
        case .unshareFiles:
            break
        case .dupfdQuery(let value, let other):
            message.setDescriptor("fd", value)
            message.setDescriptor("other", other)
        }
    }

    /// The operation a request of this family asks for (Operation.decode); what is malformed is in
    /// `request.fields.problem`.
    static func decode(_ kind: TableOperationKind, _ request: inout RequestReader<FD>) -> TableOperation {
        let operation: TableOperation
        switch kind {
        case .dup:
            operation = .dup(fd: request.fd("fd"))
        case .dup2:
            operation = .dup2(fd: request.fd("fd"), target: request.fd("target"))
        case .dup3:
            operation = .dup3(fd: request.fd("fd"), target: request.fd("target"), flags: request.fields.int32("flags"))
        case .fcntl:
            let value = request.fd("fd")
            let command = FcntlCommand(linux: request.fields.int32("cmd"), argument: request.fields.int32("arg", default: 0))
            if command == nil { request.fields.malformed("cmd") }
            operation = .fcntl(fd: value, command: command ?? .getfd)
        case .ioctl:
            let value = request.fd("fd")
            let ioctlRequest = IoctlRequest(linux: UInt(truncatingIfNeeded: request.fields.int64("request")),
                                            argument: request.fields.int32("arg", default: 0))
            if ioctlRequest == nil { request.fields.malformed("request") }
            operation = .ioctl(fd: value, request: ioctlRequest ?? .fioclex)
        case .close:
            operation = .close(fd: request.fd("fd"))
        case .closeRange:
            let first = UInt32(truncatingIfNeeded: request.fields.int64("first"))
            let last = UInt32(truncatingIfNeeded: request.fields.int64("last"))
            operation = .closeRange(first: first, last: last, flags: UInt32(truncatingIfNeeded: request.fields.int64("flags")))
        case .unshareFiles:
            operation = .unshareFiles
        case .dupfdQuery:
            let value = request.fd("fd")
            operation = .dupfdQuery(fd: value, other: request.fd("other"))
        }
        return operation
    }
}
