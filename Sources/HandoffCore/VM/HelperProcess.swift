// Programs the VM run starts on the host: `ldd` (which libraries the runner needs) and qemu. Spawned with
// handoff_spawn_helper: a clean descriptor table, default signals, a process group of their own.

import CHandoff
import Foundation
import Glibc

enum HelperProcess {
    /// Starts `path` with `arguments`; descriptors 0-2 from the given ones. Returns the pid.
    static func spawn(_ path: String, _ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32) throws(VMError) -> pid_t {
        let argv = ([path] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") }
        defer { environment.forEach { free($0) } }
        var pointers = argv + [nil]
        environment.append(nil)
        var pid: pid_t = 0
        let result = handoff_spawn_helper(path, &pointers, &environment, stdin, stdout, stderr, nil, &pid)
        guard result == 0 else { throw .machine("cannot start \(path): \(Errno.name(of: result))") }
        return pid
    }

    /// Runs `path` to its end and returns its exit status and standard output (stderr is discarded).
    static func capture(_ path: String, _ arguments: [String]) throws(VMError) -> (status: Int32, output: String) {
        var ends: [Int32] = [-1, -1]
        guard handoff_pipe2(&ends, O_CLOEXEC) == 0 else { throw .machine("pipe2: \(Errno.name(of: errno))") }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let pid: pid_t
        do {
            pid = try spawn(path, arguments, stdin: null, stdout: ends[1], stderr: null)
        } catch {
            close(ends[0]); close(ends[1])
            throw error
        }
        close(ends[1])
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            output += chunk[0..<count]
        }
        close(ends[0])
        return (waitFor(pid), String(decoding: output, as: UTF8.self))
    }

    /// Reaps `pid`: its exit status, or 128 + the signal that ended it.
    static func waitFor(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// The executable `name` on PATH (or the standard directories), as SystemProbe finds programs.
    static func find(_ name: String) -> String? { SystemProbe.program(named: name) }
}

/// The shared libraries a dynamically linked program loads, by `ldd`: the closure the guest needs so that
/// the program starts there. Statically linked programs need none.
public enum LibraryClosure {
    /// The absolute library paths in ldd's output (`libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and
    /// the loader's own line `/lib64/ld-linux-x86-64.so.2 (0x...)`); the vDSO has no file and is skipped.
    public static func parse(lddOutput: String) -> [String] {
        var paths: [String] = []
        for line in lddOutput.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let arrow = words.firstIndex(of: "=>"), arrow + 1 < words.count, words[arrow + 1].hasPrefix("/") {
                paths.append(String(words[arrow + 1]))
            } else if let first = words.first, first.hasPrefix("/") {
                paths.append(String(first))
            }
        }
        return paths
    }

    /// The union of the programs' libraries, sorted. A program ldd calls static contributes nothing; a
    /// library ldd cannot find is an error (the program would not start in the guest either).
    public static func of(_ programs: [String]) throws(VMError) -> [String] {
        guard let ldd = HelperProcess.find("ldd") else { throw .missingProgram("ldd is missing (package libc-bin)") }
        var all = Set<String>()
        for program in programs {
            let (_, output) = try HelperProcess.capture(ldd, [program])
            if let missing = output.split(separator: "\n").first(where: { $0.contains("=> not found") }) {
                throw .image("\(program) needs a library that is not installed: "
                    + missing.trimmingCharacters(in: .whitespaces))
            }
            all.formUnion(parse(lddOutput: output))
        }
        return all.sorted()
    }
}
