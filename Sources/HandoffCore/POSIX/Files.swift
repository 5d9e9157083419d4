// Whole small files read and written with plain system calls (/proc, cgroup files): no Foundation, EINTR
// retried.

import Glibc

/// The whole file (up to `limit` bytes), or nil when it cannot be opened.
func readFile(_ path: String, limit: Int) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    if descriptor < 0 { return nil }
    defer { close(descriptor) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    while result.count < limit {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, min($0.count, limit - result.count)) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        result += chunk[0..<count]
    }
    return result
}

/// Writes `text` in one write(2) (cgroup files take one value per write); false on failure.
@discardableResult
func writeFile(_ path: String, _ text: String) -> Bool {
    let descriptor = open(path, O_WRONLY | O_CLOEXEC)
    if descriptor < 0 { return false }
    defer { close(descriptor) }
    let bytes = Array(text.utf8)
    var written: Int
    repeat {
        written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    } while written < 0 && errno == EINTR
    return written == bytes.count
}

/// The names in the directory `path`, without `.` and `..`, in the order readdir gives them; nil when it cannot
/// be opened. For the runner's /proc listings (a process's threads and descriptors, the runner's children, every
/// process): opendir and readdir, without FileManager's work around them, which shows under TCG.
func directoryNames(_ path: String) -> [String]? {
    guard let stream = opendir(path) else { return nil }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
