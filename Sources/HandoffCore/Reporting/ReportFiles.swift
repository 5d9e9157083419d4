import Foundation
import Glibc

/// Where reports go, and how they get there: every report file is written to a temporary file in the same
/// directory, fsync'd, and renamed over the target, so that a reader (a CI step polling report.json, a
/// browser reloading report.html) sees either the previous file or the new one, never an empty or partial
/// one. On a failure the temporary file is removed and the previous file stays as it was.
public enum ReportFiles {
    /// A report directory or file that could not be written: which path, and why (`strerror`).
    public struct WriteError: Error, CustomStringConvertible, Sendable {
        public var path: String
        /// `Permission denied`, `No space left on device`, ... (strerror), or what else went wrong.
        public var reason: String

        public init(path: String, errno: Int32) {
            self.init(path: path, reason: String(cString: strerror(errno)))
        }

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }

        public var description: String { "\(path): \(reason)" }
    }

    /// A file handoff was given to read (a report.json for `merge` or `compare`, a matrix plan) that cannot
    /// be read: which path, and why, in words a reader acts on.
    public struct ReadError: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var reason: String

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }

        public var description: String { "\(path): \(reason)" }
    }

    /// Larger than any report or plan handoff writes (the whole catalog's report.json is a few megabytes), and
    /// a bound on what one input file can make handoff allocate.
    public static let maximumInputBytes = 256 << 20

    /// The whole of the regular file `path`, at most `limit` bytes. Refuses, with the reason, what
    /// Foundation's readers report badly or not at all: a directory ("NSCocoaErrorDomain error 256"), a FIFO
    /// or a device ("permission denied", where reading /dev/zero or a FIFO without a writer would never
    /// end), a file larger than `limit`. `what` says what the file should be, for the messages.
    public static func read(_ path: String, what: String, limit: Int = maximumInputBytes) throws(ReadError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever, before fstat can refuse it.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if descriptor < 0 {
            throw ReadError(path: path, reason: "cannot read \(what): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) != 0 {
            throw ReadError(path: path, reason: "cannot read \(what): \(String(cString: strerror(errno)))")
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ReadError(path: path, reason: "is a directory, expected \(what)")
        default: throw ReadError(path: path, reason: "is not a regular file (a FIFO, socket or device), expected \(what)")
        }
        if status.st_size > limit {
            throw ReadError(path: path, reason: "\(status.st_size) bytes, larger than \(limit) bytes: not \(what)")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        // Past the size fstat gave (a file still growing), one more byte than the limit is enough to refuse it.
        while bytes.count <= limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, min($0.count, limit + 1 - bytes.count)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, reason: "cannot read \(what): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        if bytes.count > limit { throw ReadError(path: path, reason: "larger than \(limit) bytes: not \(what)") }
        return bytes
    }

    /// Creates `directory` (with its parents) when missing, and proves that a report can be written there by
    /// creating and removing a temporary file: run before a run starts, so that an unwritable `--report`
    /// fails in a second, not after the whole suite.
    public static func prepare(_ directory: String) throws(WriteError) {
        if directory.isEmpty { throw WriteError(path: directory, reason: "an empty name is no directory") }
        try makeDirectories(directory)
        var template = Array(join(directory, ".handoff-write-check-XXXXXX").utf8CString)
        let descriptor = mkstemp(&template)
        if descriptor < 0 { throw WriteError(path: directory, errno: errno) }
        close(descriptor)
        unlink(template)
    }

    /// Replaces `path` with `data` atomically (temporary file, fsync, rename). The new file keeps the mode of
    /// the one it replaces, or gets 0666 minus the umask.
    public static func write(_ data: Data, to path: String) throws(WriteError) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        var template = Array(join(directory.isEmpty ? "." : directory, ".\(name).tmp-XXXXXX").utf8CString)
        let descriptor = mkstemp(&template)
        if descriptor < 0 { throw WriteError(path: path, errno: errno) }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var failure: Int32 = 0
        var bytes = data[...]
        while failure == 0 && !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno != EINTR { failure = errno }
            } else if written == 0 {
                failure = EIO
            } else {
                bytes = bytes.dropFirst(written)
            }
        }
        if failure == 0 && fchmod(descriptor, mode(replacing: path)) != 0 { failure = errno }
        if failure == 0 && fsync(descriptor) != 0 { failure = errno }
        if close(descriptor) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw WriteError(path: path, errno: failure)
        }
        // The rename itself is durable once the directory is synced; a failure here loses nothing already read.
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// `write` for text (UTF-8).
    public static func write(_ text: String, to path: String) throws(WriteError) {
        try write(Data(text.utf8), to: path)
    }

    /// mkdir -p, with the failing component's errno (ENOTDIR when a file is in the way).
    static func makeDirectories(_ directory: String) throws(WriteError) {
        var status = stat()
        if stat(directory, &status) == 0 {
            if status.st_mode & S_IFMT != S_IFDIR { throw WriteError(path: directory, errno: ENOTDIR) }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != directory { try makeDirectories(parent) }
        if mkdir(directory, 0o777) != 0 && errno != EEXIST { throw WriteError(path: directory, errno: errno) }
    }

    private static func mode(replacing path: String) -> mode_t {
        var status = stat()
        if stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG { return status.st_mode & 0o7777 }
        return 0o666 & ~umaskValue
    }

    /// The process's umask, read from /proc (umask(2) can only read it by changing it, which races with
    /// other threads creating files).
    private static let umaskValue: mode_t = {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("Umask:") {
            if let value = mode_t(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) { return value }
        }
        return 0o022
    }()

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
