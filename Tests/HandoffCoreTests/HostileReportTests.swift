import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// Files handed to `merge`, `compare` and `matrix` that are not what they should be: every refusal names the
/// file and what is wrong (with the JSON path or line and column), nothing traps, nothing waits forever.
/// A class so that each test's files are removed after it (deinit).
@Suite final class HostileReportTests {
    let directory: String = {
        let path = NSTemporaryDirectory() + "handoff-hostile-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static let report = RunReport(startedAt: Date(timeIntervalSince1970: 0), durationSeconds: 1, identityMode: .auto,
                                  scenarios: ReportTests.results)

    /// The report as JSON, after `edit` on its object tree.
    func file(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        var object = try #require(try JSONSerialization.jsonObject(with: try Self.report.json()) as? [String: Any])
        edit(&object)
        let path = directory + "/" + name
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return path
    }

    func refusal(_ path: String) -> String? {
        do {
            _ = try RunReport.load(path)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aReportThatDoesNotDecodeIsRefusedWithTheFileAndTheJSONPath() throws {
        let wrongType = try file("type.json") { object in
            var scenarios = object["scenarios"] as? [[String: Any]] ?? []
            scenarios[1]["durationSeconds"] = "slow"
            object["scenarios"] = scenarios
        }
        #expect(refusal(wrongType)?.hasPrefix(wrongType + ": scenarios[1].durationSeconds: expected a number") == true,
                "\(refusal(wrongType) ?? "accepted")")
        let missing = try file("missing.json") { $0["summary"] = nil }
        #expect(refusal(missing) == missing + ": the top level: missing required key 'summary'")
        let status = try file("status.json") { object in
            var scenarios = object["scenarios"] as? [[String: Any]] ?? []
            scenarios[0]["status"] = "green"
            object["scenarios"] = scenarios
        }
        #expect(refusal(status)?.hasPrefix(status + ": scenarios[0].status: ") == true, "\(refusal(status) ?? "accepted")")
        let syntax = directory + "/syntax.json"
        try Data("{\"schemaVersion\": 1,\n \"tool\": handoff}".utf8).write(to: URL(fileURLWithPath: syntax))
        #expect(refusal(syntax)?.hasPrefix(syntax + ": not valid JSON at line 2, column 10") == true,
                "\(refusal(syntax) ?? "accepted")")
        let empty = directory + "/empty.json"
        FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(refusal(empty)?.hasPrefix(empty + ": not valid JSON") == true, "\(refusal(empty) ?? "accepted")")
        let deep = directory + "/deep.json"
        try Data(("{\"a\": " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}").utf8)
            .write(to: URL(fileURLWithPath: deep))
        #expect(refusal(deep)?.hasPrefix(deep + ": not valid JSON") == true, "\(refusal(deep) ?? "accepted")")
    }

    @Test func anotherSchemaVersionAndAScenarioTwiceAreRefused() throws {
        let version = try file("version.json") { $0["schemaVersion"] = 2 }
        #expect(refusal(version) == version + ": schemaVersion: expected 1 (the report.json this handoff writes and reads), found 2")
        let twice = try file("twice.json") { object in
            let scenarios = object["scenarios"] as? [[String: Any]] ?? []
            object["scenarios"] = scenarios + [scenarios[0]]
        }
        #expect(refusal(twice) == twice + ": scenarios[4].name: scenario 'dup/ok' appears more than once in the report")
        #expect(refusal(try file("good.json") { _ in }) == nil)
    }

    @Test func aDirectoryAFIFOAndADeviceAreRefusedWithoutWaiting() throws {
        let fifo = directory + "/fifo.json"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Foundation answered "You don't have permission" for these, and "NSCocoaErrorDomain error 256" for a
        // directory; a FIFO without a writer must not block the open.
        #expect(refusal(fifo) == fifo + ": is not a regular file (a FIFO, socket or device), expected a report.json written by handoff run")
        #expect(refusal("/dev/zero")?.hasPrefix("/dev/zero: is not a regular file") == true)
        #expect(refusal(directory) == directory + ": is a directory, expected a report.json written by handoff run")
        #expect(refusal(directory + "/absent.json") == directory + "/absent.json: cannot read a report.json written by handoff run: No such file or directory")
        let plan = directory + "/plan.yaml"
        #expect(mkfifo(plan, 0o600) == 0)
        #expect(throws: ScenarioError.self) { try MatrixPlan.load(plan) }
        do {
            _ = try MatrixPlan.load(directory)
        } catch {
            #expect(error.description.contains("is a directory, expected a matrix file (YAML)"), "\(error)")
        }
    }

    @Test func aMatrixFileThatIsNotUTF8SaysWhere() throws {
        let plan = directory + "/latin1.yaml"
        try Data("environments:\n  - name: h\u{FF}\n".utf8.map { $0 == 0xC3 ? 0xFF : $0 }.filter { $0 != 0xBF })
            .write(to: URL(fileURLWithPath: plan))
        do {
            _ = try MatrixPlan.load(plan)
            Issue.record("a plan with byte 0xff was accepted")
        } catch {
            #expect(error.description == plan + ":2:12: error: the matrix file is not valid UTF-8 (byte 0xff at offset 25)")
        }
    }

    @Test func aSyscallTimePastIntMaxRendersInsteadOfTrapping() {
        // The HTML timing chart took the nanoseconds through Double to Int: UInt64.max trapped `merge`.
        let step = StepRecord(line: 3, operation: "main.dup", process: "main", result: 4, error: nil,
                              syscallNanoseconds: .max, roundTripNanoseconds: .max, observationNanoseconds: .max)
        let result = ScenarioResult(name: "dup/huge", file: "x.yaml", summary: "x", tags: [], status: .pass, steps: [step])
        let report = RunReport(startedAt: Date(timeIntervalSince1970: 0), durationSeconds: 1, identityMode: .auto,
                               scenarios: [result])
        #expect(HTMLReport.render(report).contains("median \(UInt64.max) ns"))
    }
}
