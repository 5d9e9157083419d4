// The views of the reference model's state that the oracle compares with an observed process tree.

/// The identity of an open file description in the model: a number of the model's own, in creation order
/// from 1 (with the standard initial descriptors, stdin's is 1). Printed as that number.
public struct DescriptionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let raw: Int

    public init(raw: Int) { self.raw = raw }

    public static func < (lhs: DescriptionID, rhs: DescriptionID) -> Bool { lhs.raw < rhs.raw }

    public var description: String { String(raw) }
}

public enum AccessMode: String, Sendable, Codable {
    case readOnly = "rdonly"
    case writeOnly = "wronly"
    case readWrite = "rdwr"
    /// O_ACCMODE 3 (O_WRONLY|O_RDWR): neither reads nor writes (OPEN_FMODE gives no FMODE_READ or
    /// FMODE_WRITE), though the open checked both permissions.
    case neither = "accmode3"

    /// The access mode an open(2) with these flags gets (fs/open.c: build_open_flags, OPEN_FMODE).
    init(openFlags flags: Set<OpenFlag>) {
        switch (flags.contains(.wronly), flags.contains(.rdwr)) {
        case (true, true): self = .neither
        case (false, true): self = .readWrite
        case (true, false): self = .writeOnly
        case (false, false): self = .readOnly
        }
    }
}

extension Set where Element == StatusFlag {
    /// The status flags an open(2) with these flags keeps on its description (O_APPEND, O_NONBLOCK).
    init(openFlags flags: Set<OpenFlag>) {
        self = []
        if flags.contains(.append) { insert(.append) }
        if flags.contains(.nonblock) { insert(.nonblock) }
    }
}

/// Objects behind an anonymous inode that have nothing but their kind to compare (Model+AnonymousInodes).
public enum AnonymousKind: String, Sendable, CaseIterable {
    case signalfd, timerfd, inotify

    /// The target of /proc/PID/fd/N (anon_inode_getfile's name; inotify's has no brackets).
    public var link: String {
        switch self {
        case .signalfd: return "anon_inode:[signalfd]"
        case .timerfd: return "anon_inode:[timerfd]"
        case .inotify: return "anon_inode:inotify"
        }
    }
}

/// What an open file description refers to.
public enum ObjectKind: Equatable, Sendable, CustomStringConvertible {
    /// A regular file, by its path relative to the scenario's directory.
    case file(path: String)
    case pipe
    /// A FIFO, by its path relative to the scenario's directory: /proc shows the path, as for a file.
    case fifo(path: String)
    case socket(SocketType)
    case memfd(name: String)
    case pidfd
    case eventfd
    case epoll
    /// A signalfd, timerfd or inotify instance.
    case anonymous(AnonymousKind)
    /// A descriptor the root process inherited from the runner (stdin from /dev/null, stdout/stderr).
    case inherited(String)

    public var description: String {
        switch self {
        case .file(let path): return "file \(path)"
        case .pipe: return "pipe"
        case .fifo(let path): return "fifo \(path)"
        case .socket(let type): return "\(type.rawValue) socket"
        case .memfd(let name): return "memfd \(name)"
        case .pidfd: return "pidfd"
        case .eventfd: return "eventfd"
        case .epoll: return "epoll"
        case .anonymous(let kind): return kind.rawValue
        case .inherited(let what): return what
        }
    }
}

/// One entry of a process's descriptor table in the model.
public struct ModelDescriptor: Equatable, Sendable {
    public var number: Int32
    public var description: DescriptionID
    public var closeOnExec: Bool

    public init(number: Int32, description: DescriptionID, closeOnExec: Bool) {
        self.number = number
        self.description = description
        self.closeOnExec = closeOnExec
    }
}

/// An open file description as the model knows it.
public struct ModelDescription: Equatable, Sendable {
    public var id: DescriptionID
    public var kind: ObjectKind
    public var accessMode: AccessMode
    public var statusFlags: Set<StatusFlag>
    /// The file offset, for seekable objects whose offset the model tracks (files, memfds); nil otherwise.
    public var offset: Int64?

    public init(id: DescriptionID, kind: ObjectKind, accessMode: AccessMode, statusFlags: Set<StatusFlag>,
                offset: Int64?) {
        self.id = id
        self.kind = kind
        self.accessMode = accessMode
        self.statusFlags = statusFlags
        self.offset = offset
    }
}

public enum ModelProcessState: Equatable, Sendable {
    case running
    /// Exited (a zombie until its parent waits): its table is empty.
    case exited(status: Int32)
    /// Killed because its parent exited (every agent dies with its parent): its table is empty.
    case killed
    /// Reaped by its parent's wait.
    case reaped
}

/// A descriptor the root process starts with, inherited from the runner.
public struct InitialDescriptor: Sendable {
    public var numbers: [Int32]
    public var kind: ObjectKind
    public var accessMode: AccessMode
    public var statusFlags: Set<StatusFlag>

    public init(numbers: [Int32], kind: ObjectKind, accessMode: AccessMode, statusFlags: Set<StatusFlag>) {
        self.numbers = numbers
        self.kind = kind
        self.accessMode = accessMode
        self.statusFlags = statusFlags
    }

    /// What the runner gives every root agent: 0 from /dev/null, 1 and 2 sharing one append-mode log file.
    public static let standard: [InitialDescriptor] = [
        InitialDescriptor(numbers: [0], kind: .inherited("stdin (/dev/null)"), accessMode: .readOnly, statusFlags: []),
        InitialDescriptor(numbers: [1, 2], kind: .inherited("stdout/stderr (agent log)"), accessMode: .writeOnly,
                          statusFlags: [.append]),
    ]
}
