// The words operations are made of: flags, socket types, addresses. Each knows its scenario spelling (the
// raw value) and its Linux value (LinuxConstants.swift), so the parser, the model, the wire and the agent
// share one definition.

/// A word of the scenario vocabulary that stands for one number the kernel takes (SEEK_END, SHUT_WR,
/// EPOLL_CTL_ADD, SOCK_STREAM...): `rawValue` is the word, `linux` the number.
public protocol KernelWord: CaseIterable, RawRepresentable where RawValue == String {
    var linux: Int32 { get }
}

extension KernelWord {
    /// The word for a number the kernel knows by it; nil for any other number.
    public init?(linux: Int32) {
        guard let word = Self.allCases.first(where: { $0.linux == linux }) else { return nil }
        self = word
    }
}

/// Flags on `open` and `reopen`, by their lower-case names without `O_`.
public enum OpenFlag: String, Sendable, CaseIterable, Hashable {
    case rdonly, wronly, rdwr, creat, excl, trunc, append, nonblock, cloexec
    /// O_PATH: a descriptor that names a file without opening it for I/O.
    case path

    public var linux: Int32 {
        switch self {
        case .rdonly: return Linux.O_RDONLY
        case .wronly: return Linux.O_WRONLY
        case .rdwr: return Linux.O_RDWR
        case .creat: return Linux.O_CREAT
        case .excl: return Linux.O_EXCL
        case .trunc: return Linux.O_TRUNC
        case .append: return Linux.O_APPEND
        case .nonblock: return Linux.O_NONBLOCK
        case .cloexec: return Linux.O_CLOEXEC
        case .path: return Linux.O_PATH
        }
    }

    public static func linux(_ flags: Set<OpenFlag>) -> Int32 { flags.reduce(0) { $0 | $1.linux } }

    /// The flags of a raw value, for a decoder; nil when it holds bits no flag names.
    public static func set(fromLinux raw: Int32) -> Set<OpenFlag>? {
        var flags: Set<OpenFlag> = []
        var rest = raw
        for flag in allCases where flag.linux != 0 && raw & flag.linux == flag.linux {
            flags.insert(flag)
            rest &= ~flag.linux
        }
        // O_RDONLY is 0: it is what no access bit means, never listed.
        return rest == 0 ? flags : nil
    }
}

/// File status flags that F_SETFL can change and the oracle compares.
public enum StatusFlag: String, Sendable, CaseIterable, Hashable {
    case append, nonblock

    public var linux: Int32 { self == .append ? Linux.O_APPEND : Linux.O_NONBLOCK }

    public static func linux(_ flags: Set<StatusFlag>) -> Int32 { flags.reduce(0) { $0 | $1.linux } }

    public static func set(fromLinux raw: Int32) -> Set<StatusFlag> { Set(allCases.filter { raw & $0.linux != 0 }) }
}

public enum SocketType: String, Sendable, CaseIterable, Hashable, KernelWord {
    case stream, dgram, seqpacket

    public var linux: Int32 {
        switch self {
        case .stream: return Linux.SOCK_STREAM
        case .dgram: return Linux.SOCK_DGRAM
        case .seqpacket: return Linux.SOCK_SEQPACKET
        }
    }
}

public enum Whence: String, Sendable, CaseIterable, Hashable, KernelWord {
    case set, cur, end
    /// SEEK_DATA (Linux 3.1): the first byte of data at or after the offset.
    case data
    /// SEEK_HOLE: the first hole at or after the offset (the end of the file is one).
    case hole

    public var linux: Int32 {
        switch self {
        case .set: return 0  // SEEK_SET
        case .cur: return 1  // SEEK_CUR
        case .end: return 2  // SEEK_END
        case .data: return 3  // SEEK_DATA
        case .hole: return 4  // SEEK_HOLE
        }
    }
}

/// shutdown(2)'s `how`.
public enum ShutdownHow: String, Sendable, CaseIterable, Hashable, KernelWord {
    case read, write, both

    public var linux: Int32 {
        switch self {
        case .read: return Linux.SHUT_RD
        case .write: return Linux.SHUT_WR
        case .both: return Linux.SHUT_RDWR
        }
    }
}

/// The events a poll(2) step asks for. POLLERR, POLLHUP and POLLNVAL are reported whether asked or not.
public enum PollEvent: String, Sendable, CaseIterable, Hashable {
    case `in`, out, rdhup

    /// The longest a poll step may wait, in milliseconds (no infinite waits: -1 is not accepted).
    public static let maximumTimeout: Int32 = 10_000

    public var linux: Int16 {
        switch self {
        case .in: return Linux.POLLIN
        case .out: return Linux.POLLOUT
        case .rdhup: return Linux.POLLRDHUP
        }
    }

    public static func linux(_ events: Set<PollEvent>) -> Int16 { events.reduce(0) { $0 | $1.linux } }
    public static func set(fromLinux raw: Int16) -> Set<PollEvent> { Set(allCases.filter { raw & $0.linux != 0 }) }
}

/// The signals a pidfd_send_signal step may send: `zero` (0) only checks that the process exists; `kill` and
/// `term` end it (no agent handles either).
public enum SentSignal: String, Sendable, CaseIterable, Hashable, KernelWord {
    case zero, kill, term

    public var linux: Int32 {
        switch self {
        case .zero: return 0
        case .kill: return Linux.SIGKILL
        case .term: return Linux.SIGTERM
        }
    }
}

/// epoll_ctl(2)'s `op`.
public enum EpollControl: String, Sendable, CaseIterable, Hashable, KernelWord {
    case add, mod, del

    public var linux: Int32 {
        switch self {
        case .add: return Linux.EPOLL_CTL_ADD
        case .mod: return Linux.EPOLL_CTL_MOD
        case .del: return Linux.EPOLL_CTL_DEL
        }
    }
}

/// The events an epoll registration asks for, and how it reports them: `et` edge-triggered, `oneshot`
/// disarmed once reported (until the next `mod`).
public enum EpollEvent: String, Sendable, CaseIterable, Hashable {
    case `in`, out, rdhup, et, oneshot

    public var linux: UInt32 {
        switch self {
        case .in: return Linux.EPOLLIN
        case .out: return Linux.EPOLLOUT
        case .rdhup: return Linux.EPOLLRDHUP
        case .et: return Linux.EPOLLET
        case .oneshot: return Linux.EPOLLONESHOT
        }
    }

    public static func linux(_ events: Set<EpollEvent>) -> UInt32 { events.reduce(0) { $0 | $1.linux } }
    public static func set(fromLinux raw: UInt32) -> Set<EpollEvent> { Set(allCases.filter { raw & $0.linux != 0 }) }
}

/// The events epoll_wait(2) reports for a ready registration: those asked for that hold, and EPOLLERR and
/// EPOLLHUP always (do_epoll_ctl adds them to every registration).
public enum ReadyEvent: String, Sendable, CaseIterable, Hashable, Comparable {
    case `in`, out, rdhup, err, hup

    public var linux: UInt32 {
        switch self {
        case .in: return Linux.EPOLLIN
        case .out: return Linux.EPOLLOUT
        case .rdhup: return Linux.EPOLLRDHUP
        case .err: return Linux.EPOLLERR
        case .hup: return Linux.EPOLLHUP
        }
    }

    public static func linux(_ events: Set<ReadyEvent>) -> UInt32 { events.reduce(0) { $0 | $1.linux } }
    public static func set(fromLinux raw: UInt32) -> Set<ReadyEvent> { Set(allCases.filter { raw & $0.linux != 0 }) }
    /// The bits of an event mask that are none of these (an agent reporting them is shown the raw value).
    public static let known: UInt32 = allCases.reduce(0) { $0 | $1.linux }

    public static func < (lhs: ReadyEvent, rhs: ReadyEvent) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One registration epoll_wait(2) reported: the number it was registered under (handoff's agents put it in
/// `epoll_data.fd`) and its events (the raw mask, bits handoff has no name for included).
public struct ReadyRegistration: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// The most registrations an epoll_wait step asks for (its `max`): the agents' event buffer.
    public static let maximumReported: Int32 = 1024
    /// An epoll_wait step's `max` when it names none.
    public static let defaultMaximum: Int32 = 16

    public var fd: Int32
    public var events: UInt32

    public init(fd: Int32, events: UInt32) {
        self.fd = fd
        self.events = events
    }

    public static func < (lhs: ReadyRegistration, rhs: ReadyRegistration) -> Bool {
        (lhs.fd, lhs.events) < (rhs.fd, rhs.events)
    }

    /// `[3 in, 5 out|hup]`: at most 16 shown, then how many more (a list can hold 1024, and findings are
    /// lines of a report).
    public static func listed(_ list: [ReadyRegistration]) -> String {
        let shown = list.prefix(16).map(\.description).joined(separator: ", ")
        return "[" + shown + (list.count > 16 ? ", ... \(list.count - 16) more" : "") + "]"
    }

    /// `3 in|hup`, or `3 0x40` for bits without a name.
    public var description: String {
        var names = ReadyEvent.set(fromLinux: events).sorted().map(\.rawValue)
        let unnamed = events & ~ReadyEvent.known
        if unnamed != 0 { names.append("0x" + String(unnamed, radix: 16)) }
        return "\(fd) " + (names.isEmpty ? "none" : names.joined(separator: "|"))
    }
}

/// sendmsg(2) flags a step can add (MSG_NOSIGNAL is always set by the agents).
public enum SendFlag: String, Sendable, CaseIterable, Hashable {
    /// MSG_OOB: the last byte is out-of-band (unix stream sockets since 5.15, TCP urgent data).
    case oob

    public var linux: Int32 {
        switch self {
        case .oob: return Linux.MSG_OOB
        }
    }

    public static func linux(_ flags: Set<SendFlag>) -> Int32 { flags.reduce(0) { $0 | $1.linux } }
    public static func set(fromLinux raw: Int32) -> Set<SendFlag> { Set(allCases.filter { raw & $0.linux != 0 }) }
}

/// recvmsg(2) flags beyond MSG_CMSG_CLOEXEC and MSG_DONTWAIT (`cloexec` and `nonblock`, kept as they were).
public enum MessageFlag: String, Sendable, CaseIterable, Hashable {
    /// MSG_PEEK: the data (and copies of its descriptors) without taking the message off the queue.
    case peek
    /// MSG_TRUNC: a datagram's real length is returned even when `count` is shorter.
    case trunc
    /// MSG_WAITALL: a stream read waits for `count` bytes.
    case waitall
    /// MSG_OOB: the out-of-band byte (unix stream sockets since 5.15, TCP urgent data).
    case oob

    public var linux: Int32 {
        switch self {
        case .oob: return Linux.MSG_OOB
        case .peek: return Linux.MSG_PEEK
        case .trunc: return Linux.MSG_TRUNC
        case .waitall: return Linux.MSG_WAITALL
        }
    }

    public static func linux(_ flags: Set<MessageFlag>) -> Int32 { flags.reduce(0) { $0 | $1.linux } }
    public static func set(fromLinux raw: Int32) -> Set<MessageFlag> { Set(allCases.filter { raw & $0.linux != 0 }) }
}

/// A file seal (fcntl F_ADD_SEALS / F_GET_SEALS on a memfd): F_SEAL_* by its lower-case name.
public enum MemfdSeal: String, Sendable, CaseIterable, Hashable {
    case seal, shrink, grow, write
    case futureWrite = "future_write"
    case exec

    public var linux: UInt32 {
        switch self {
        case .seal: return Linux.F_SEAL_SEAL
        case .shrink: return Linux.F_SEAL_SHRINK
        case .grow: return Linux.F_SEAL_GROW
        case .write: return Linux.F_SEAL_WRITE
        case .futureWrite: return Linux.F_SEAL_FUTURE_WRITE
        case .exec: return Linux.F_SEAL_EXEC
        }
    }

    public static func linux(_ seals: Set<MemfdSeal>) -> UInt32 { seals.reduce(0) { $0 | $1.linux } }
    public static func set(fromLinux raw: UInt32) -> Set<MemfdSeal> { Set(allCases.filter { raw & $0.linux != 0 }) }
    /// The names in F_SEAL_* order, for messages.
    public static func names(_ seals: Set<MemfdSeal>) -> String {
        "[" + allCases.filter(seals.contains).map(\.rawValue).joined(separator: ", ") + "]"
    }
}

/// A signal a signalfd's mask names (signalfd4's sigset_t).
public enum SignalName: String, Sendable, CaseIterable, Hashable {
    case hup, int, usr1, usr2, alrm, term

    public var linux: Int32 {
        switch self {
        case .hup: return Linux.SIGHUP
        case .int: return Linux.SIGINT
        case .usr1: return Linux.SIGUSR1
        case .usr2: return Linux.SIGUSR2
        case .alrm: return Linux.SIGALRM
        case .term: return Linux.SIGTERM
        }
    }

    /// The kernel's sigset_t word: bit (signal - 1) per signal (what fdinfo's sigmask shows, in hex).
    public static func mask(_ signals: Set<SignalName>) -> UInt64 {
        signals.reduce(0) { $0 | (UInt64(1) << UInt64($1.linux - 1)) }
    }

    public static func set(fromMask mask: UInt64) -> Set<SignalName>? {
        let signals = Set(allCases.filter { mask & (UInt64(1) << UInt64($0.linux - 1)) != 0 })
        return Self.mask(signals) == mask ? signals : nil
    }
}

/// timerfd_create(2)'s clock (the *_ALARM clocks need CAP_WAKE_ALARM and are left out).
public enum TimerClock: String, Sendable, CaseIterable, Hashable, KernelWord {
    case realtime, monotonic, boottime

    public var linux: Int32 {
        switch self {
        case .realtime: return Linux.CLOCK_REALTIME
        case .monotonic: return Linux.CLOCK_MONOTONIC
        case .boottime: return Linux.CLOCK_BOOTTIME
        }
    }
}

public enum FcntlCommand: Sendable, Hashable {
    case dupfd(minimum: Int32)
    case dupfdCloexec(minimum: Int32)
    case getfd
    case setfd(closeOnExec: Bool)
    case getfl
    case setfl(Set<StatusFlag>)
    /// F_ADD_SEALS: seals added to a memfd's inode.
    case addSeals(Set<MemfdSeal>)
    /// F_GET_SEALS: the inode's seals as a bit mask.
    case getSeals
    /// F_GETPIPE_SZ: the pipe's capacity in bytes.
    case getPipeSize
    /// F_SETPIPE_SZ: asks for a capacity of at least `bytes` (the argument is an unsigned int to the kernel).
    case setPipeSize(bytes: UInt32)

    /// The `cmd` and `arg` of fcntl(2).
    public var linux: (command: Int32, argument: Int32) {
        switch self {
        case .dupfd(let minimum): return (Linux.F_DUPFD, minimum)
        case .dupfdCloexec(let minimum): return (Linux.F_DUPFD_CLOEXEC, minimum)
        case .getfd: return (Linux.F_GETFD, 0)
        case .setfd(let closeOnExec): return (Linux.F_SETFD, closeOnExec ? Linux.FD_CLOEXEC : 0)
        case .getfl: return (Linux.F_GETFL, 0)
        case .setfl(let flags): return (Linux.F_SETFL, StatusFlag.linux(flags))
        case .addSeals(let seals): return (Linux.F_ADD_SEALS, Int32(bitPattern: MemfdSeal.linux(seals)))
        case .getSeals: return (Linux.F_GET_SEALS, 0)
        case .getPipeSize: return (Linux.F_GETPIPE_SZ, 0)
        case .setPipeSize(let bytes): return (Linux.F_SETPIPE_SZ, Int32(bitPattern: bytes))
        }
    }

    public init?(linux command: Int32, argument: Int32) {
        switch command {
        case Linux.F_DUPFD: self = .dupfd(minimum: argument)
        case Linux.F_DUPFD_CLOEXEC: self = .dupfdCloexec(minimum: argument)
        case Linux.F_GETFD: self = .getfd
        case Linux.F_SETFD: self = .setfd(closeOnExec: argument & Linux.FD_CLOEXEC != 0)
        case Linux.F_GETFL: self = .getfl
        case Linux.F_SETFL: self = .setfl(StatusFlag.set(fromLinux: argument))
        case Linux.F_ADD_SEALS: self = .addSeals(MemfdSeal.set(fromLinux: UInt32(bitPattern: argument)))
        case Linux.F_GET_SEALS: self = .getSeals
        case Linux.F_GETPIPE_SZ: self = .getPipeSize
        case Linux.F_SETPIPE_SZ: self = .setPipeSize(bytes: UInt32(bitPattern: argument))
        default: return nil
        }
    }

    /// The commands as a scenario writes them (`cmd: dupfd_cloexec`).
    public static let names = ["dupfd", "dupfd_cloexec", "getfd", "setfd", "getfl", "setfl", "add_seals", "get_seals",
                               "getpipe_sz", "setpipe_sz"]

    /// Whether the command creates a descriptor.
    public var duplicates: Bool {
        switch self {
        case .dupfd, .dupfdCloexec: return true
        default: return false
        }
    }
}

/// The ioctl(2) requests a scenario can make: the four that fs/ioctl.c's do_vfs_ioctl answers for any file
/// before the file's own ioctl (FIONREAD only for regular files; pipes and sockets answer it themselves).
public enum IoctlRequest: Sendable, Hashable {
    /// FIOCLEX: sets the descriptor's close-on-exec flag (set_close_on_exec).
    case fioclex
    /// FIONCLEX: clears it.
    case fionclex
    /// FIONBIO with an int: sets (non-zero) or clears O_NONBLOCK on the open file description.
    case fionbio(Bool)
    /// FIONREAD: the int the kernel writes back, the bytes that a read would find.
    case fionread

    /// The request number, and the int it passes (FIONBIO's switch; FIONREAD's is written back).
    public var linux: (request: UInt, argument: Int32) {
        switch self {
        case .fioclex: return (Linux.FIOCLEX, 0)
        case .fionclex: return (Linux.FIONCLEX, 0)
        case .fionbio(let on): return (Linux.FIONBIO, on ? 1 : 0)
        case .fionread: return (Linux.FIONREAD, 0)
        }
    }

    public init?(linux request: UInt, argument: Int32) {
        switch request {
        case Linux.FIOCLEX: self = .fioclex
        case Linux.FIONCLEX: self = .fionclex
        case Linux.FIONBIO: self = .fionbio(argument != 0)
        case Linux.FIONREAD: self = .fionread
        default: return nil
        }
    }

    /// Whether the kernel writes an int back through the argument: the call's result is then that int.
    public var readsBack: Bool { self == .fionread }

    /// The request as a scenario writes it (`request: fionread`).
    public var keyword: String {
        switch self {
        case .fioclex: return "fioclex"
        case .fionclex: return "fionclex"
        case .fionbio: return "fionbio"
        case .fionread: return "fionread"
        }
    }

    /// The request a scenario names; `enable` is FIONBIO's switch, ignored by the others.
    public init?(keyword: String, enable: Bool) {
        let requests: [IoctlRequest] = [.fioclex, .fionclex, .fionbio(enable), .fionread]
        guard let request = requests.first(where: { $0.keyword == keyword })
        else { return nil }
        self = request
    }

    /// The requests as a scenario writes them.
    public static let names = [IoctlRequest.fioclex, .fionclex, .fionbio(true), .fionread].map(\.keyword)
}

/// Where a socket listens or connects, once the scenario's references are resolved.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// A path relative to the scenario's directory.
    case unix(path: String)
    /// An abstract unix address (no file).
    case abstract(name: String)
    /// 127.0.0.1:port; port 0 in `listen` means an ephemeral port.
    case tcp(port: UInt16)

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .abstract(let name): return "abstract:\(name)"
        case .tcp(let port): return "tcp:127.0.0.1:\(port)"
        }
    }
}

/// How a launcher under test hands descriptors to the service it starts: what the model predicts the
/// service's table to be. Each is a documented protocol (or a launcher's documented behaviour).
public enum LauncherHandover: String, Sendable, CaseIterable, Hashable {
    /// sd_listen_fds(3): the launcher closes what it inherited above 2, and the service gets 0-2 and then
    /// the listening sockets from 3 in order (or, with `accept`, one accepted connection at 3) -
    /// systemd-socket-activate, systemd itself.
    case listenFDs = "listen-fds"
    /// UCSPI (tcpserver, unixserver; socat's EXEC with nofork): the launcher accepts; the service gets the
    /// connection at 0 and 1, the launcher's 2, and whatever the launcher itself inherited without
    /// close-on-exec - never the listening socket.
    case ucspi
    /// inetd's `nowait` stream services: the connection at 0, 1 and 2; otherwise as UCSPI.
    case inetd
    /// The launcher passes on exactly what it inherited without close-on-exec and adds nothing (bubblewrap;
    /// runc and crun, with launch's `preserve`): no listening sockets of its own.
    case inherit
    /// s6-fdholder-retrieve (s6): as `inherit`, with the descriptor the launcher stored in an fd-holding daemon
    /// (launch's `stored`: stored with s6-fdholder-store, then closed) back at 0 - the same open file
    /// description, carried there and back by SCM_RIGHTS.
    case retrieve

    /// The launcher passes on what it inherited and listens on nothing of its own.
    public var passesOnWhatItInherited: Bool {
        switch self {
        case .inherit, .retrieve: return true
        case .listenFDs, .ucspi, .inetd: return false
        }
    }
}

/// A socket a launcher listens on.
public struct ListeningSocket<Address: Hashable & Sendable>: Hashable, Sendable {
    public var address: Address
    public var type: SocketType

    @inlinable public init(address: Address, type: SocketType) {
        self.address = address
        self.type = type
    }
}

/// `NAME=value` for exec's and launch's environment.
public struct EnvironmentVariable<Text: Hashable & Sendable>: Hashable, Sendable {
    public var name: String
    public var value: Text

    @inlinable public init(name: String, value: Text) {
        self.name = name
        self.value = value
    }
}

/// Another scenario process as an agent sees it: its pid and, for operations that name a descriptor of
/// it, its control channel's number (which must look free).
public struct ProcessHandle: Hashable, Sendable {
    public var pid: Int32
    public var channel: Int32

    public init(pid: Int32, channel: Int32 = -1) {
        self.pid = pid
        self.channel = channel
    }

    /// A process that does not exist yet (the child a fork creates).
    public static let new = ProcessHandle(pid: 0)
}

/// A descriptor inside a loop the agent runs by itself: a number, or a loop slot that an earlier operation
/// of the same loop filled (`@N` on the wire).
public enum LoopOperand: Hashable, Sendable {
    case number(Int32)
    case slot(Int)

    /// The number this operand names: itself, or what the agent's slot table (`slots`) holds (-1: none).
    @inlinable @inline(__always) public func value(_ slots: UnsafeMutableBufferPointer<Int32>) -> Int32 {
        switch self {
        case .number(let number): return number
        case .slot(let slot): return slot >= 0 && slot < slots.count ? slots[slot] : -1
        }
    }
}

/// SOL_SOCKET options that `setsockopt` and `getsockopt` name (<asm-generic/socket.h>).
public enum SocketOption: String, Sendable, CaseIterable, Hashable, KernelWord {
    /// SO_PASSCRED: received messages carry SCM_CREDENTIALS.
    case passcred
    /// SO_PASSPIDFD (6.5): received messages carry an SCM_PIDFD descriptor of the sender.
    case passpidfd
    /// SO_PASSRIGHTS (6.16): on by default; off, the socket refuses SCM_RIGHTS (the sender gets EPERM).
    case passrights
    /// SO_PEEK_OFF: the offset MSG_PEEK reads from (-1: disabled, the default).
    case peekOff = "peek_off"
    /// SO_INQ (6.17, AF_UNIX stream): each recvmsg gets SCM_INQ (the bytes left); getsockopt does not know it.
    case inq
    /// SO_ERROR: the pending socket error, cleared by reading it.
    case error
    /// SO_TYPE, SO_DOMAIN, SO_ACCEPTCONN: read-only facts of the socket.
    case type, domain, acceptconn
    /// SO_PEERCRED: the peer's struct ucred (read-only).
    case peercred
    /// SO_PEERPIDFD (6.5): a new pidfd of the peer's process (read-only).
    case peerpidfd

    public var linux: Int32 {
        switch self {
        case .passcred: return Linux.SO_PASSCRED
        case .passpidfd: return Linux.SO_PASSPIDFD
        case .passrights: return Linux.SO_PASSRIGHTS
        case .peekOff: return Linux.SO_PEEK_OFF
        case .inq: return Linux.SO_INQ
        case .error: return Linux.SO_ERROR
        case .type: return Linux.SO_TYPE
        case .domain: return Linux.SO_DOMAIN
        case .acceptconn: return Linux.SO_ACCEPTCONN
        case .peercred: return Linux.SO_PEERCRED
        case .peerpidfd: return Linux.SO_PEERPIDFD
        }
    }

    /// The options whose value is a boolean (`enable:` in setsockopt).
    public static let switches: [SocketOption] = [.passcred, .passpidfd, .passrights, .inq]
    /// The options whose value is an integer (`value:` in setsockopt).
    public static let integers: [SocketOption] = [.peekOff]
}

/// A struct ucred as SO_PEERCRED and SCM_CREDENTIALS report it.
public struct UnixCredentials: Hashable, Sendable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// The sender's address recvfrom(2) reports in msg_name (unix_copy_addr): nothing for an unbound socket
/// (msg_namelen 0, or just sun_family), else the sun_path it was bound to - a path as given to bind, or an
/// abstract name (a leading NUL).
public enum SenderAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    case unnamed
    case unix(path: String)
    case abstract(name: String)

    /// From the sun_path bytes the kernel returned (msg_namelen minus sun_family's two bytes).
    public init(sunPath bytes: [UInt8]) {
        guard let first = bytes.first else { self = .unnamed; return }
        if first == 0 {
            self = .abstract(name: String(decoding: bytes.dropFirst(), as: UTF8.self))
        } else {
            self = .unix(path: String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
        }
    }

    /// Addresses are the same when their bytes are (the kernel's comparison): String's `==` would call a
    /// precomposed "\u{E9}" and "e\u{301}" the same, and a `from:` check passed on the wrong address.
    public static func == (lhs: SenderAddress, rhs: SenderAddress) -> Bool {
        switch (lhs, rhs) {
        case (.unnamed, .unnamed): return true
        case (.unix(let a), .unix(let b)), (.abstract(let a), .abstract(let b)): return a.utf8.elementsEqual(b.utf8)
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .unnamed: hasher.combine(0)
        case .unix: hasher.combine(1)
        case .abstract: hasher.combine(2)
        }
        for byte in sunPath { hasher.combine(byte) }
    }

    /// The sun_path bytes as they travel on the wire (a path without its terminating NUL).
    public var sunPath: [UInt8] {
        switch self {
        case .unnamed: return []
        case .unix(let path): return Array(path.utf8)
        case .abstract(let name): return [0] + Array(name.utf8)
        }
    }

    public var description: String {
        switch self {
        case .unnamed: return "unnamed"
        case .unix(let path): return "unix:\(path)"
        case .abstract(let name): return "abstract:\(name)"
        }
    }
}
