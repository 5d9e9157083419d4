import CHandoff
import Glibc

/// One descriptor of a live process as the kernel shows it from outside.
public struct ObservedDescriptor: Equatable, Sendable {
    public var number: Int32
    /// readlink(/proc/PID/fd/N): a path, `pipe:[ino]`, `socket:[ino]`, `anon_inode:[pidfd]`, `/memfd:name (deleted)`.
    public var target: String
    /// fdinfo `pos:`.
    public var position: Int64
    /// fdinfo `flags:` (octal in the file): status flags, access mode and O_CLOEXEC of this descriptor.
    public var flags: Int32
    public var inode: UInt64
    public var mountID: Int

    public var closeOnExec: Bool { flags & O_CLOEXEC != 0 }
    public var accessMode: AccessMode {
        switch flags & O_ACCMODE {
        case O_WRONLY: return .writeOnly
        case O_RDWR: return .readWrite
        default: return .readOnly
        }
    }
    public var statusFlags: Set<StatusFlag> {
        var result: Set<StatusFlag> = []
        if flags & O_APPEND != 0 { result.insert(.append) }
        if flags & O_NONBLOCK != 0 { result.insert(.nonblock) }
        return result
    }
}

/// Reads a process's descriptor table from /proc. Runs between steps, when every agent is quiescent.
enum Observer {
    /// The table of `pid`, without `excluding` (the agent's control channel). nil when the process is gone.
    /// Throws when the runner itself cannot read it (EMFILE, ENFILE, ENOMEM): a harness limit, never a
    /// descriptor reported missing.
    static func table(of pid: pid_t, excluding hidden: Set<Int32>) throws(HarnessError) -> [Int32: ObservedDescriptor]? {
        let directory = "/proc/\(pid)/fd"
        guard let stream = opendir(directory) else {
            let error = errno
            if error == ENOENT || error == ESRCH { return nil }
            throw .system(call: "opendir \(directory)", errno: error)
        }
        defer { closedir(stream) }
        var numbers: [Int32] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if let number = Int32(name), !hidden.contains(number) { numbers.append(number) }
        }
        var table: [Int32: ObservedDescriptor] = [:]
        for number in numbers {
            // A descriptor can vanish between readdir and here only if the process is not quiescent.
            guard let target = readLink("\(directory)/\(number)"),
                let info = try readProcFile("/proc/\(pid)/fdinfo/\(number)")
            else { continue }
            var observed = ObservedDescriptor(number: number, target: target, position: 0, flags: 0, inode: 0, mountID: 0)
            for line in info.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let key = line[..<colon]
                let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
                switch key {
                case "pos": observed.position = Int64(value) ?? 0
                case "flags": observed.flags = Int32(value, radix: 8) ?? 0
                case "ino": observed.inode = UInt64(value) ?? 0
                case "mnt_id": observed.mountID = Int(value) ?? 0
                default: break
                }
            }
            table[number] = observed
        }
        return table
    }

    /// Whether a unix socket bound to `address` (a path, or `@name` for an abstract one) is listening, per
    /// /proc/net/unix (flag __SO_ACCEPTCON, 0x10000).
    static func isListening(unixAddress address: String) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8) else { return false }
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, fields[7] == address, let flags = Int(fields[3], radix: 16) else { continue }
            if flags & 0x10000 != 0 { return true }
        }
        return false
    }

    /// The canonical path (readlink of /proc/PID/fd/N shows canonical paths).
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink(path, &buffer, buffer.count - 1)
        if length < 0 { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { return nil }
        defer { close(descriptor) }
        return readSmall(descriptor)
    }

    /// readSmallFile of a file in /proc, where failing to open for another reason than the file's (or the
    /// process's) absence is the runner's own problem (EMFILE, ENFILE, ENOMEM).
    static func readProcFile(_ path: String) throws(HarnessError) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            let error = errno
            if error == ENOENT || error == ESRCH { return nil }
            throw .system(call: "open \(path)", errno: error)
        }
        defer { close(descriptor) }
        return readSmall(descriptor)
    }

    private static func readSmall(_ descriptor: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while total < buffer.count {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + total, $0.count - total) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            total += count
        }
        return String(decoding: buffer[0..<total], as: UTF8.self)
    }
}

