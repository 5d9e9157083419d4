// One qemu process from start to end: reads the guest's console line by line, picks out /init's markers,
// relays the inner run's lines, and kills qemu at the time limit, on Ctrl-C, or when an `auto` KVM boot
// shows no sign of life. qemu is always reaped before `run` returns.

import CHandoff
import Foundation
import Glibc

final class Boot {
    enum Ending {
        /// qemu exited by itself (the guest powered off, or panicked with -no-reboot).
        case finished
        /// No boot marker by the boot deadline (only with one): qemu was killed.
        case noBoot
        case failed(VMError)
    }

    let options: VirtualMachineOptions
    let machine: MachineConfiguration
    let directory: String
    let started: Date
    let bootDeadline: Double?

    private(set) var console = ""
    private(set) var bootSeconds: Double?
    private(set) var uptimeAtInit: Double?
    private(set) var suiteSeconds: Double?
    private(set) var innerExitStatus: Int?
    private var suiteStart: Double?
    private var inSuite = false
    private var pending: [UInt8] = []

    init(options: VirtualMachineOptions, machine: MachineConfiguration, directory: String, started: Date,
         bootDeadline: Double?) {
        self.options = options
        self.machine = machine
        self.directory = directory
        self.started = started
        self.bootDeadline = bootDeadline
    }

    func run(relay: (String) -> Void) -> Ending {
        var ends: [Int32] = [-1, -1]
        guard handoff_pipe2(&ends, O_CLOEXEC) == 0 else { return .failed(.machine("pipe2: \(Errno.name(of: errno))")) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let errorsPath = directory + "/qemu.err"
        let errors = open(errorsPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { if null >= 0 { close(null) }; if errors >= 0 { close(errors) } }
        let booted = Date()
        let pid: pid_t
        do {
            pid = try HelperProcess.spawn(options.qemu, machine.arguments, stdin: null, stdout: ends[1],
                                          stderr: errors >= 0 ? errors : null)
        } catch {
            close(ends[0]); close(ends[1])
            return .failed(error)
        }
        close(ends[1])
        defer { close(ends[0]) }
        /// Kills qemu (and anything in its process group) and reaps it.
        func end() {
            Glibc.kill(-pid, SIGKILL)
            Glibc.kill(pid, SIGKILL)
            _ = HelperProcess.waitFor(pid)
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if ActiveRuns.shared.isInterrupted {
                end()
                return .failed(.interrupted)
            }
            let elapsed = Date().timeIntervalSince(started)
            if elapsed > options.timeLimit {
                end()
                return .failed(.timedOut(seconds: options.timeLimit, lastConsoleLine: lastLine()))
            }
            if let bootDeadline, bootSeconds == nil, Date().timeIntervalSince(booted) > bootDeadline {
                end()
                return .noBoot
            }
            var descriptor = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            if ready < 0 && errno != EINTR { end(); return .failed(.machine("poll: \(Errno.name(of: errno))")) }
            guard ready > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            take(chunk[0..<count], since: booted, relay: relay)
        }
        if !pending.isEmpty { take([10], since: booted, relay: relay) }
        // The console closed: qemu is exiting. Reap it (kill first, should it linger).
        var status: Int32 = 0
        var reaped = false
        for _ in 0..<50 {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { reaped = true; break }
            usleep(20_000)
        }
        if !reaped { end() }
        let exitStatus = reaped ? ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)) : -1
        if bootSeconds == nil {
            let stderr = (try? String(contentsOfFile: errorsPath, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return .failed(.machine("qemu ended (status \(exitStatus)) before the guest's /init ran"
                + (stderr.isEmpty ? "; last console line: \(lastLine())" : ": \(stderr)")))
        }
        return .finished
    }

    /// Splits console output into lines (the guest's tty writes CR LF), handling /init's markers.
    private func take<Bytes: Collection>(_ bytes: Bytes, since booted: Date, relay: (String) -> Void)
    where Bytes.Element == UInt8 {
        for byte in bytes {
            if byte != 10 {
                if byte != 13 { pending.append(byte) }
                continue
            }
            let line = String(decoding: pending, as: UTF8.self)
            pending.removeAll(keepingCapacity: true)
            // Host seconds since qemu's start on each line of console.log: where a slow run spent its time.
            console += String(format: "[%7.2f] ", Date().timeIntervalSince(booted)) + line + "\n"
            let words = line.split(separator: " ")
            if line.hasPrefix(InitScript.bootedMarker) {
                bootSeconds = Date().timeIntervalSince(booted)
                uptimeAtInit = words.last.flatMap { Double($0) }
            } else if line.hasPrefix(InitScript.suiteStartMarker) {
                suiteStart = words.last.flatMap { Double($0) }
                inSuite = true
            } else if line.hasPrefix(InitScript.suiteEndMarker) {
                inSuite = false
                if words.count >= 4 {
                    innerExitStatus = Int(words[2])
                    if let end = Double(words[3]), let suiteStart { suiteSeconds = end - suiteStart }
                }
            } else if inSuite {
                relay(line)
            }
        }
    }

    private func lastLine() -> String {
        let text = String(decoding: pending, as: UTF8.self)
        if !text.isEmpty { return text }
        return console.split(separator: "\n").last.map(String.init) ?? ""
    }
}
