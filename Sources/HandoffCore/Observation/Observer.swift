import CHandoff
import Glibc

/// One descriptor of a live process as the kernel shows it from outside.
public struct ObservedDescriptor: Equatable, Sendable {
    public var number: Int32
    /// readlink(/proc/PID/fd/N): a path, `pipe:[ino]`, `socket:[ino]`, `anon_inode:[pidfd]`, `/memfd:name (deleted)`.
    public var target: String
    /// fdinfo `pos:`; nil where fdinfo has no such line (gVisor shows only `flags:`), so that an offset the
    /// system does not show is never compared as 0.
    public var position: Int64?
    /// fdinfo `flags:` (octal in the file): status flags, access mode and O_CLOEXEC of this descriptor.
    public var flags: Int32
    public var inode: UInt64
    public var mountID: Int

    public var closeOnExec: Bool { flags & O_CLOEXEC != 0 }
    public var accessMode: AccessMode {
        switch flags & O_ACCMODE {
        case O_WRONLY: return .writeOnly
        case O_RDWR: return .readWrite
        case O_ACCMODE: return .neither
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
    /// The table of `pid`, without `excluding` (the agent's control channel). nil when the process is gone,
    /// or when the table vanished during the read: a process that begins to exit releases its table before
    /// it is a zombie, and a read overlapping that either lists nothing (no control channel either) or lists
    /// descriptors whose links and fdinfo are gone. Never a table with descriptors silently missing, which
    /// would be compared with the model as the kernel's doing; the caller decides whether it was the end.
    ///
    /// O(N) in the number of descriptors, four system calls each: readlinkat on /proc/PID/fd/N, and openat,
    /// one read and close of /proc/PID/fdinfo/N, both relative to the directories opened once, with buffers
    /// allocated once per table and fdinfo parsed in place (pos, flags, mnt_id and ino are its first lines).
    /// Throws when the runner itself cannot read it (EMFILE, ENFILE, ENOMEM): a harness limit, never a
    /// descriptor reported missing.
    static func table(of pid: pid_t, excluding hidden: Set<Int32>) throws(HarnessError) -> [Int32: ObservedDescriptor]? {
        guard let stream = opendir("/proc/\(pid)/fd") else {
            let error = errno
            if error == ENOENT || error == ESRCH { return nil }
            throw .system(call: "opendir /proc/\(pid)/fd", errno: error)
        }
        defer { closedir(stream) }
        let directory = dirfd(stream)
        let information = open("/proc/\(pid)/fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if information < 0 {
            if [EMFILE, ENFILE, ENOMEM].contains(errno) { throw .system(call: "open /proc/\(pid)/fdinfo", errno: errno) }
            return nil
        }
        defer { close(information) }
        var numbers: [Int32] = []
        var channel: Int32?
        while let entry = readdir(stream) {
            guard let number = descriptorNumber(entry) else { continue }
            if hidden.contains(number) { channel = number } else { numbers.append(number) }
        }
        var name = [CChar](repeating: 0, count: 16)
        var link = [UInt8](repeating: 0, count: 4096)
        // The listing stops short where the table is released during it, and then no listed descriptor's
        // link resolves afterwards: the first readlinkat below proves the listing whole. With no descriptor to
        // read, a control channel's link does (an agent's own channel is always in its table, so a listing
        // with nothing at all is of a table already released).
        if numbers.isEmpty {
            guard let channel else { return nil }
            writeDecimal(channel, into: &name)
            var target = [CChar](repeating: 0, count: 64)  // only whether it resolves
            if readlinkat(directory, name, &target, target.count) < 0 { return nil }
        }
        var table: [Int32: ObservedDescriptor] = [:]
        table.reserveCapacity(numbers.count)
        var info = [UInt8](repeating: 0, count: 1024)
        for number in numbers {
            writeDecimal(number, into: &name)
            // A descriptor vanishes between readdir and here only when the process ends (or is not quiescent):
            // the table is not whole. The runner's own limits are a harness failure of their own.
            let linkLength = link.withUnsafeMutableBytes { readlinkat(directory, name, $0.baseAddress!, $0.count) }
            if linkLength < 0 {
                if errno == ENOMEM { throw .system(call: "readlink /proc/\(pid)/fd/\(number)", errno: errno) }
                return nil
            }
            let descriptor = openat(information, name, O_RDONLY | O_CLOEXEC)
            if descriptor < 0 {
                if [EMFILE, ENFILE, ENOMEM].contains(errno) {
                    throw .system(call: "open /proc/\(pid)/fdinfo/\(number)", errno: errno)
                }
                return nil
            }
            var infoLength = 0
            repeat {
                infoLength = info.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            } while infoLength < 0 && errno == EINTR
            let readError = errno
            close(descriptor)
            if infoLength < 0 {
                if readError == ENOMEM { throw .system(call: "read /proc/\(pid)/fdinfo/\(number)", errno: readError) }
                return nil
            }
            var observed = ObservedDescriptor(number: number, target: String(decoding: link[0..<linkLength], as: UTF8.self),
                                              position: nil, flags: 0, inode: 0, mountID: 0)
            info.withUnsafeBufferPointer { parseFdinfo(UnsafeBufferPointer(rebasing: $0[0..<infoLength]), into: &observed) }
            table[number] = observed
        }
        return table
    }

    /// The number a /proc/PID/fd entry names; nil for `.`, `..` and anything not a number.
    private static func descriptorNumber(_ entry: UnsafeMutablePointer<dirent>) -> Int32? {
        withUnsafeBytes(of: entry.pointee.d_name) { raw -> Int32? in
            var value: Int32 = 0
            var digits = 0
            for byte in raw {
                if byte == 0 { break }
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 10 else { return nil }
                value = value &* 10 &+ Int32(byte - UInt8(ascii: "0"))
                digits += 1
            }
            return digits == 0 ? nil : value
        }
    }

    /// `number` in decimal, NUL-terminated, into `buffer` (16 bytes).
    private static func writeDecimal(_ number: Int32, into buffer: inout [CChar]) {
        var length = 1
        var scale: Int32 = 10
        while length < 10 && number >= scale { length += 1; scale = scale &* 10 }
        var rest = number
        for index in stride(from: length - 1, through: 0, by: -1) {
            buffer[index] = CChar(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        }
        buffer[length] = 0
    }

    /// The `pos:`, `flags:` (octal), `mnt_id:` and `ino:` lines of a /proc/PID/fdinfo/N text.
    static func parseFdinfo(_ text: UnsafeBufferPointer<UInt8>, into observed: inout ObservedDescriptor) {
        var index = 0
        let count = text.count
        while index < count {
            let keyStart = index
            while index < count && text[index] != UInt8(ascii: ":") && text[index] != UInt8(ascii: "\n") { index += 1 }
            let key = UnsafeBufferPointer(rebasing: text[keyStart..<index])
            if index < count && text[index] == UInt8(ascii: ":") { index += 1 }
            while index < count && (text[index] == UInt8(ascii: " ") || text[index] == UInt8(ascii: "\t")) { index += 1 }
            let valueStart = index
            while index < count && text[index] != UInt8(ascii: "\n") { index += 1 }
            let value = UnsafeBufferPointer(rebasing: text[valueStart..<index])
            index += 1
            if key.elementsEqual("pos".utf8) {
                observed.position = parseInteger(value, radix: 10)
            } else if key.elementsEqual("flags".utf8) {
                observed.flags = Int32(truncatingIfNeeded: parseInteger(value, radix: 8))
            } else if key.elementsEqual("mnt_id".utf8) {
                observed.mountID = Int(parseInteger(value, radix: 10))
            } else if key.elementsEqual("ino".utf8) {
                observed.inode = UInt64(bitPattern: parseInteger(value, radix: 10))
                return  // the last of the four
            }
        }
    }

    private static func parseInteger(_ digits: UnsafeBufferPointer<UInt8>, radix: Int64) -> Int64 {
        var value: Int64 = 0
        var negative = false
        for (position, byte) in digits.enumerated() {
            if position == 0 && byte == UInt8(ascii: "-") { negative = true; continue }
            guard byte >= UInt8(ascii: "0"), byte < UInt8(ascii: "0") + UInt8(radix) else { break }
            value = value &* radix &+ Int64(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    /// Whether a unix socket bound to `address` (a path, or `@name` for an abstract one) is listening, per
    /// /proc/net/unix (flag __SO_ACCEPTCON, 0x10000).
    static func isListening(unixAddress address: String) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8) else { return false }
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, fields[7] == address, let flags = Int(fields[3], radix: 16) else { continue }
            if flags & Linux.__SO_ACCEPTCON != 0 { return true }
        }
        return false
    }

    /// Whether something listens on 127.0.0.1:`port` (or on every address): a LISTEN (0A) line of
    /// /proc/net/tcp whose local port is `port`, in this network namespace.
    static func isListening(tcpPort port: UInt16) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return false }
        let wanted = [String(format: "0100007F:%04X", port), String(format: "00000000:%04X", port)]
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 4, fields[3] == "0A", wanted.contains(String(fields[1])) { return true }
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

