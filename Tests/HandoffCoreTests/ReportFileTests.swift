import Foundation
import Glibc
import Testing
@testable import HandoffCore

func scratchDirectory(_ label: String) -> String {
    NSTemporaryDirectory() + "handoff-\(label)-\(UUID().uuidString)"
}

/// Temporary files a write left behind (ReportFiles names them `.NAME.tmp-XXXXXX` and `.handoff-write-check-*`).
func leftoverTemporaryFiles(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        .filter { $0.contains(".tmp-") || $0.hasPrefix(".handoff-write-check") }
}

/// Reads a flag and a count from several threads.
final class PollState: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var reads = 0
    private var bad: [String] = []

    var isStopped: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
    func read(_ problem: String?) {
        lock.withLock {
            reads += 1
            if let problem, bad.count < 5 { bad.append(problem) }
        }
    }
    var result: (reads: Int, bad: [String]) { lock.withLock { (reads, bad) } }
}

@Suite(.serialized, .leavesNoChildren) struct ReportFileTests {
    /// A report of about 2 MB, so that writing it takes long enough for a reader to catch it half-written.
    static func bigReport() -> RunReport {
        let log = String(repeating: "agent log line\n", count: 300)
        let results = (0..<400).map { index in
            ScenarioResult(name: "big/s\(index)", file: "scenarios/big/s\(index).yaml", summary: "s", tags: [],
                           status: .error, reason: "harness", agentLog: log)
        }
        return RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto, scenarios: results)
    }

    @Test func aReaderPollingReportJSONNeverSeesAnEmptyOrPartialFile() throws {
        let directory = scratchDirectory("atomic")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let report = Self.bigReport()
        try report.write(to: directory)
        let state = PollState()
        let reader = Thread {
            while !state.isStopped {
                guard let data = FileManager.default.contents(atPath: directory + "/report.json") else {
                    state.read("report.json was missing")
                    continue
                }
                if data.isEmpty {
                    state.read("report.json was empty")
                } else if (try? JSONSerialization.jsonObject(with: data)) == nil {
                    state.read("report.json was partial (\(data.count) bytes)")
                } else {
                    state.read(nil)
                }
            }
        }
        reader.start()
        // The whole set a few times, and report.json alone many times (rendering the other formats is slow).
        for _ in 0..<4 { try report.write(to: directory) }
        let json = try report.json()
        for _ in 0..<40 { try ReportFiles.write(json, to: directory + "/report.json") }
        state.stop()
        Thread.sleep(forTimeInterval: 0.05)
        let (reads, bad) = state.result
        #expect(reads > 0)
        #expect(bad.isEmpty, "\(bad)")
        #expect(leftoverTemporaryFiles(directory).isEmpty)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == ["junit.xml", "report.html", "report.json", "report.tap", "summary.md"])
    }

    @Test func aFailedReplaceRemovesItsTemporaryFileAndLeavesTheTargetAlone() throws {
        let directory = scratchDirectory("replace")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A directory where report.json should go: the rename over it fails (EISDIR) after the data was written.
        try FileManager.default.createDirectory(atPath: directory + "/report.json", withIntermediateDirectories: true)
        try "kept".write(toFile: directory + "/report.json/inside", atomically: false, encoding: .utf8)
        do {
            try ReportFiles.write("{}", to: directory + "/report.json")
            Issue.record("replaced a directory")
        } catch {
            #expect(error.reason == String(cString: strerror(EISDIR)))
            #expect(error.path == directory + "/report.json")
        }
        #expect(try String(contentsOfFile: directory + "/report.json/inside", encoding: .utf8) == "kept")
        #expect(leftoverTemporaryFiles(directory).isEmpty)
    }

    @Test func aReplacedFileKeepsItsModeAndANewOneFollowsTheUmask() throws {
        let directory = scratchDirectory("mode")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ReportFiles.prepare(directory)
        try ReportFiles.write("one", to: directory + "/summary.md")
        var status = stat()
        stat(directory + "/summary.md", &status)
        let mask = umask(0o022)
        umask(mask)
        #expect(status.st_mode & 0o777 == 0o666 & ~mask)
        chmod(directory + "/summary.md", 0o600)
        try ReportFiles.write("two", to: directory + "/summary.md")
        stat(directory + "/summary.md", &status)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: directory + "/summary.md", encoding: .utf8) == "two")
    }

    @Test func prepareCreatesTheDirectoryOrSaysWhatIsInTheWay() throws {
        let directory = scratchDirectory("prepare")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ReportFiles.prepare(directory + "/a/b")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: directory + "/a/b", isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(leftoverTemporaryFiles(directory + "/a/b").isEmpty)
        try "x".write(toFile: directory + "/file", atomically: false, encoding: .utf8)
        do {
            try ReportFiles.prepare(directory + "/file/reports")
            Issue.record("prepared a directory under a file")
        } catch {
            #expect(error.reason == "Not a directory")
        }
    }
}

