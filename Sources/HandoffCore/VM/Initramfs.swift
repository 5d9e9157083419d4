// The initramfs as a list of entries, written as an uncompressed "newc" cpio archive (the format the kernel
// unpacks into its rootfs; Documentation/driver-api/early-userspace/buffer-format.rst).
//
// Uncompressed on purpose: under TCG the guest's decompressor is the slow part (gzip -1 of this image took
// the guest longer to unpack than qemu took to load the uncompressed file), and loading is a host-side copy.

import Glibc

/// One file, directory or symlink of the image, at an absolute guest path.
public struct InitramfsEntry: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case directory
        /// Copied from this host path when the archive is written.
        case file(source: String)
        case bytes([UInt8])
        case symlink(target: String)
    }

    /// Absolute, without a trailing slash (`/usr/local/bin/handoff`).
    public var path: String
    /// Permission bits (0o755); the type bits come from the content.
    public var mode: UInt32
    public var content: Content

    public init(_ path: String, mode: UInt32, _ content: Content) {
        self.path = path
        self.mode = mode
        self.content = content
    }

    var typeBits: UInt32 {
        switch content {
        case .directory: return 0o040000
        case .file, .bytes: return 0o100000
        case .symlink: return 0o120000
        }
    }
}

public enum Initramfs {
    /// The entries with every missing parent directory added, parents before children, each path once (a
    /// later entry for the same path wins: a scenario's copy of a program replaces nothing that /init needs,
    /// since /init's own paths come last).
    public static func normalized(_ entries: [InitramfsEntry]) -> [InitramfsEntry] {
        var byPath: [String: InitramfsEntry] = [:]
        for entry in entries { byPath[entry.path] = entry }
        for path in Array(byPath.keys) {
            var parent = path
            while let slash = parent.lastIndex(of: "/"), slash != parent.startIndex {
                parent = String(parent[..<slash])
                if byPath[parent] == nil { byPath[parent] = InitramfsEntry(parent, mode: 0o755, .directory) }
            }
        }
        // Sorted by path: a parent sorts before its children ("/a" < "/a/b").
        return byPath.values.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
    }

    /// Writes `entries` (normalized) as a newc archive to `path`. Returns the archive's size in bytes.
    @discardableResult
    public static func write(_ entries: [InitramfsEntry], to path: String) throws(VMError) -> Int {
        let output = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .image("cannot create \(path): \(Errno.name(of: errno))") }
        defer { close(output) }
        var writer = ArchiveWriter(descriptor: output, path: path)
        var inode: UInt32 = 1
        for entry in normalized(entries) {
            switch entry.content {
            case .directory:
                try writer.header(name: entry.path, mode: entry.typeBits | entry.mode, size: 0, inode: inode, links: 2)
            case .bytes(let bytes):
                try writer.header(name: entry.path, mode: entry.typeBits | entry.mode, size: bytes.count, inode: inode)
                try writer.append(bytes)
                try writer.pad()
            case .symlink(let target):
                let bytes = Array(target.utf8)
                try writer.header(name: entry.path, mode: entry.typeBits | entry.mode, size: bytes.count, inode: inode)
                try writer.append(bytes)
                try writer.pad()
            case .file(let source):
                try writer.copyFile(source, as: entry, inode: inode)
            }
            inode += 1
        }
        try writer.header(name: "TRAILER!!!", mode: 0, size: 0, inode: 0, links: 1, relative: true)
        try writer.flush()
        return writer.written
    }
}

/// Buffers the archive and writes it in large pieces.
private struct ArchiveWriter {
    let descriptor: Int32
    let path: String
    var buffer: [UInt8] = []
    var written = 0

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
        buffer.reserveCapacity(1 << 20)
    }

    /// A newc header: magic 070701 and thirteen 8-digit hex fields, then the NUL-terminated name, padded so
    /// that the data starts on a 4-byte boundary. Names are stored without the leading slash, as cpio does.
    mutating func header(name: String, mode: UInt32, size: Int, inode: UInt32, links: UInt32 = 1,
                         relative: Bool = false) throws(VMError) {
        let stored = relative ? name : String(name.drop(while: { $0 == "/" }))
        let nameBytes = Array(stored.utf8) + [0]
        let fields: [UInt32] = [inode, mode, 0, 0, links, 0, UInt32(size), 0, 0, 0, 0, UInt32(nameBytes.count), 0]
        var text = "070701"
        for field in fields {
            let hex = String(field, radix: 16, uppercase: true)
            text += String(repeating: "0", count: 8 - hex.count) + hex
        }
        try append(Array(text.utf8) + nameBytes)
        try pad()
    }

    mutating func copyFile(_ source: String, as entry: InitramfsEntry, inode: UInt32) throws(VMError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .image("cannot read \(source) for the initramfs: \(Errno.name(of: errno))") }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw .image("\(source) is not a regular file (wanted at \(entry.path) in the initramfs)")
        }
        guard info.st_size < Int(UInt32.max) else { throw .image("\(source) is too large for a newc archive") }
        try header(name: entry.path, mode: entry.typeBits | entry.mode, size: Int(info.st_size), inode: inode)
        var remaining = Int(info.st_size)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while remaining > 0 {
            let count = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, min($0.count, remaining)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .image("\(source) changed while it was copied into the initramfs") }
            try append(chunk[0..<count])
            remaining -= count
        }
        try pad()
    }

    mutating func append<Bytes: Collection>(_ bytes: Bytes) throws(VMError) where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        written += bytes.count
        if buffer.count >= 1 << 20 { try flush() }
    }

    mutating func pad() throws(VMError) {
        let padding = (4 - written % 4) % 4
        if padding > 0 { try append([UInt8](repeating: 0, count: padding)) }
    }

    mutating func flush() throws(VMError) {
        var offset = 0
        while offset < buffer.count {
            let count = buffer[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .image("cannot write \(path): \(Errno.name(of: errno))") }
            offset += count
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
