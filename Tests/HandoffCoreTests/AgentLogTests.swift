import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// The agents' output costs the runner a bounded amount of memory and disk. Serialized: spawns agents.
@Suite(.serialized, .leavesNoChildren) struct AgentLogTests {
    /// KiB from /proc/self/status.
    func status(_ key: String) -> Int {
        let text = String(decoding: readFile("/proc/self/status", limit: 1 << 16) ?? [], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return Int(line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") ?? -1
        }
        return -1
    }

    @Test func aFloodOnStdoutIsReadBoundedly() throws {
        // 128 MiB to descriptor 1, then a failed check, so that the log is read for the report.
        let line = String(repeating: "x", count: 4095)
        let yaml = """
            summary: flood
            steps:
              - repeat:
                  count: 32768
                  steps:
                    - main.write: {fd: 1, data: "\(line)\\n"}
              - check: {offset: {main.1: 0}}
            """
        let flood = try scenario(yaml)
        // Reset the peak RSS (clear_refs 5, Linux 4.0) so that VmHWM tells what this run needed.
        let resettable = writeFile("/proc/self/clear_refs", "5")
        let resident = status("VmRSS")
        let result = run(flood)
        #expect(result.status == .fail)
        #expect(result.findings.first?.observed == "offset \(32768 * 4096)")
        let log = try #require(result.agentLog)
        #expect(log.utf8.count <= 2 * 4096 + 100)
        #expect(log.contains("[... \(32768 * 4096 - 8192) bytes of the agents' log left out ...]"))
        if resettable {
            // Reading the whole log would cost at least its 128 MiB twice over.
            #expect(status("VmHWM") - resident < 48 * 1024, "peak \(status("VmHWM")) KiB, resident before \(resident) KiB")
        }
    }

    @Test func theLogIsCappedOnDiskButKeepsItsSizeAndEnds() throws {
        let directory = try ScenarioDirectory()
        defer { directory.remove() }
        let descriptor = open(directory.logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: UInt8(ascii: "y"), count: 1 << 20)
        _ = write(descriptor, "head", 4)
        for _ in 0..<8 { _ = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } }
        _ = write(descriptor, "tail", 4)
        directory.capLog()
        var info = stat()
        stat(directory.logPath, &info)
        #expect(info.st_size == 8 << 20 + 8, "the size, and so every offset, stays")
        let excerpt = try #require(directory.logExcerpt())
        #expect(excerpt.hasPrefix("head"))
        #expect(excerpt.hasSuffix("tail"))
        // Where the file system punches holes, only the ends keep their blocks.
        if Int(info.st_blocks) * 512 < 8 << 20 {
            #expect(Int(info.st_blocks) * 512 <= 2 * ScenarioDirectory.logKept + (1 << 17))
        }
    }
}
