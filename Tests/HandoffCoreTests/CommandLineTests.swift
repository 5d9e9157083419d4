import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// The `handoff` executable as users and CI run it. Serialized: it spawns agents.
@Suite(.serialized) struct CommandLineTests {
    let executable = (agentPath as NSString).deletingLastPathComponent + "/handoff"

    struct Outcome {
        var status: Int32
        var output: String
        var error: String
    }

    func handoff(_ arguments: [String], interruptAfter: Double? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        if let interruptAfter {
            Thread.sleep(forTimeInterval: interruptAfter)
            kill(process.processIdentifier, SIGINT)
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                       error: String(decoding: errorData, as: UTF8.self))
    }

    func temporaryDirectory(_ files: [String: String]) throws -> String {
        let directory = NSTemporaryDirectory() + "handoff-cli-\(UUID().uuidString)"
        for (name, text) in files {
            let path = directory + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return directory
    }

    static let passing = """
        summary: passes
        steps:
          - main.pipe: {as: [r, w]}
          - check: {different: [main.r, main.w]}
        """
    static let failing = """
        summary: fails
        steps:
          - main.pipe: {as: [r, w]}
          - check: {same: [main.r, main.w]}
        """

    @Test func exitsZeroWhenEverythingPassesAndWritesBothReports() throws {
        let directory = try temporaryDirectory(["ok/one.yaml": Self.passing, "skipped.yaml": """
            summary: skipped
            requires: {kernel: "99.1"}
            steps:
              - main.pipe: {as: [r, w]}
            """])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", directory, "--report", directory + "/out"])
        #expect(result.status == 0, "\(result.output)\(result.error)")
        #expect(result.output.contains("PASS    ok/one ("))
        #expect(result.output.contains("SKIP    skipped (") && result.output.contains("needs kernel 99.1.0"))
        #expect(result.output.hasSuffix("1 passed, 0 failed, 1 skipped\n"))
        #expect(FileManager.default.fileExists(atPath: directory + "/out/report.json"))
        #expect(FileManager.default.fileExists(atPath: directory + "/out/junit.xml"))
    }

    @Test func exitsOneOnAFailureAndPrintsTheDiff() throws {
        let directory = try temporaryDirectory(["bad.yaml": Self.failing, "good.yaml": Self.passing])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", directory, "--report", directory + "/out", "--jobs", "2"])
        #expect(result.status == 1)
        #expect(result.output.contains("FAIL    bad ("))
        #expect(result.output.contains("bad.yaml:4: after check"))
        #expect(result.output.contains("CHECK main: w (4): expected the same open file description as main: r (3), "
                                       + "observed a different open file description"))
        #expect(result.output.hasSuffix("1 passed, 1 failed, 0 skipped\n"))
    }

    @Test func exitsTwoOnAScenarioErrorNamingFileLineAndColumnAndRunsNothing() throws {
        let directory = try temporaryDirectory(["broken.yaml": """
            summary: broken
            steps:
              - main.dup: {fd: nowhere}
            """, "good.yaml": Self.passing])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", directory, "--report", directory + "/out"])
        #expect(result.status == 2)
        #expect(result.error.contains("broken.yaml:3:"))
        #expect(result.error.contains("unknown descriptor 'nowhere'"))
        #expect(!result.output.contains("PASS"))
    }

    @Test func rejectsBadOptionsWithUsageErrors() throws {
        let result = try handoff(["run", "--jobs", "0"])
        #expect(result.status == 64)
        #expect(result.error.contains("--jobs must be at least 1"))
    }

    @Test func anInterruptKillsEveryScenarioProcessAndExits130() throws {
        var files: [String: String] = [:]
        for index in 0..<300 { files["many/s\(index).yaml"] = Self.passing }
        let directory = try temporaryDirectory(files)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", directory, "--report", directory + "/out", "--jobs", "2"], interruptAfter: 0.5)
        #expect(result.status == 130, "\(result.output.suffix(300))\(result.error)")
        #expect(result.error.contains("killing every scenario process"))
        #expect(allAgentProcesses().isEmpty, "the CLI's agents, wherever they were re-parented")
        #expect(FileManager.default.fileExists(atPath: directory + "/out/report.json"))
    }

    @Test func listAndValidate() throws {
        let list = try handoff(["list", "scenarios", "--tag", "pidfd"])
        #expect(list.status == 0)
        #expect(list.output.contains("pidfd/getfd-cloexec [pidfd, cloexec, identity]"))
        let validate = try handoff(["validate"])
        #expect(validate.status == 0)
        #expect(validate.output.contains("scenarios valid"))
    }
}
