import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// The `handoff` executable as users and CI run it. Serialized: it spawns agents.
@Suite(.serialized, .leavesNoChildren) struct CommandLineTests {
    let executable = (agentPath as NSString).deletingLastPathComponent + "/handoff"

    struct Outcome {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs handoff with `arguments`; `launcher` goes in front (a program that execs handoff last), and
    /// `environment` is added to this process's (without $GITHUB_STEP_SUMMARY, which is the real CI's). With `interruptAfterOutput`, SIGINT is sent as soon as standard output contains that text
    /// (a fixed delay raced a short run, which on a fast machine ended before the signal came); `interruptAfter`
    /// is for runs that print nothing for seconds, such as a kernel booting.
    func handoff(_ arguments: [String], interruptAfter: Double? = nil, interruptAfterOutput: String? = nil,
                 launcher: [String] = [],
                 environment: [String: String] = [:]) throws -> Outcome {
        let process = Process()
        if launcher.isEmpty {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: launcher[0])
            process.arguments = Array(launcher.dropFirst()) + [executable] + arguments
        }
        var variables = ProcessInfo.processInfo.environment
        variables["GITHUB_STEP_SUMMARY"] = nil
        variables.merge(environment) { _, new in new }
        process.environment = variables
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        var outputData = Data()
        if let interruptAfterOutput {
            while !String(decoding: outputData, as: UTF8.self).contains(interruptAfterOutput) {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                outputData.append(chunk)
            }
            kill(process.processIdentifier, SIGINT)
        } else if let interruptAfter {
            Thread.sleep(forTimeInterval: interruptAfter)
            kill(process.processIdentifier, SIGINT)
        }
        outputData.append(output.fileHandleForReading.readDataToEndOfFile())
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
        #expect(result.status == 2, "usage errors exit 2, as documented (ArgumentParser's own is 64)")
        #expect(result.error.contains("--jobs must be between 1 and 256, not 0"))
        #expect(result.error.contains("Usage: handoff run"))
        let bad: [([String], String)] = [
            (["run", "--jobs", "257"], "--jobs must be between 1 and 256"),
            (["run", "--timeout", "inf"], "--timeout must be a number of seconds greater than 0 and at most 86400"),
            (["run", "--timeout", "2e10"], "--timeout must be"), (["run", "--timeout", "nan"], "--timeout must be"),
            (["run", "--timeout", "0"], "--timeout must be"), (["run", "--timeout", "-1"], "--timeout"),
            (["run", "--shard", "0/2"], "--shard must be K/N"), (["run", "--shard", "3/2"], "--shard must be K/N"),
            (["run", "--shard", "1/0"], "--shard"), (["run", "--shard", "1/2/3"], "--shard"),
            (["run", "--shard", "1/"], "--shard"), (["run", "--shard", "1/20000"], "--shard"),
            (["run", "--shard", "1/99999999999999999999"], "--shard"), (["run", "--bogus"], "Unknown option '--bogus'"),
            (["run", "--identity", "psychic"], "--identity"),
            (["stress", "--duration", "nan"], "--duration must be a positive time of at most 7 days"),
            (["stress", "--duration", "inf"], "--duration must be"), (["stress", "--duration", "1e300"], "--duration must be"),
            (["stress", "--duration", "8000000s"], "--duration must be"), (["stress", "--duration", "-5m"], "--duration"),
            (["stress", "--jobs", "0"], "--jobs must be between 1 and 256"), (["stress", "--timeout", "inf"], "--timeout must be"),
            (["compare", "only.json"], "compare needs at least two reports"),
            (["compare", "a.json", "b.json", "--threshold", "nan"], "--threshold must be a finite factor greater than 1"),
            (["compare", "a.json", "b.json", "--fail-on", "everything"], "--fail-on"), (["nonsense-command", "--x"], "Error"),
        ]
        for (arguments, message) in bad {
            let outcome = try handoff(arguments)
            #expect(outcome.status == 2, "\(arguments): \(outcome.error)")
            #expect(outcome.error.contains(message), "\(arguments): \(outcome.error)")
            #expect(!outcome.error.contains("Fatal error") && !outcome.error.contains("crashed"), "\(arguments)")
        }
        #expect(try handoff(["--help"]).status == 0)
        #expect(try handoff(["run", "--help"]).status == 0)
        #expect(try handoff(["compare", "--help"]).output.contains("--fail-on"))
    }

    @Test func aScenarioTimeoutBeyondADayIsAScenarioErrorNotACrash() throws {
        let directory = try temporaryDirectory(["huge.yaml": """
            summary: huge
            timeout: 1e308
            steps:
              - main.pipe: {as: [r, w]}
            """])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", directory, "--report", directory + "/out"])
        #expect(result.status == 2, "\(result.error)")
        #expect(result.error.contains("huge.yaml:2:10: error: expected a number of seconds greater than 0 and at most 86400"))
    }

    @Test func emptyIsNotGreen() throws {
        let directory = try temporaryDirectory(["one.yaml": Self.passing, "two.yaml": Self.passing])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/empty", withIntermediateDirectories: true)
        let out = directory + "/out"

        let empty = try handoff(["run", directory + "/empty", "--report", out])
        #expect(empty.status == 2)
        #expect(empty.error.contains("handoff: nothing to run: no scenario files (*.yaml, *.yml) in '\(directory)/empty'"))
        #expect(empty.output.isEmpty)
        let allowed = try handoff(["run", directory + "/empty", "--report", out, "--allow-empty"])
        #expect(allowed.status == 0, "\(allowed.error)")
        #expect(allowed.error.contains("no scenario files (*.yaml, *.yml)") && allowed.error.contains("allowed by --allow-empty"))
        #expect(allowed.output == "0 passed, 0 failed, 0 skipped\n")
        #expect(try RunReport.load(out + "/report.json").summary.total == 0, "an empty shard still has a report to merge")

        let filtered = try handoff(["run", directory, "--filter", "nothing", "--report", out])
        #expect(filtered.status == 2)
        #expect(filtered.error.contains("no scenario matches --filter 'nothing' (2 scenario files in '\(directory)')"))
        // A second --filter was silently the only one (ArgumentParser keeps the last value): refused.
        for command in [["run"], ["list"], ["validate"]] {
            let twice = try handoff(command + [directory, "--filter", "one", "--filter", "two"])
            #expect(twice.status == 2, "\(command)")
            #expect(twice.error.contains("--filter is given 2 times"), "\(command): \(twice.error)")
        }
        let tagged = try handoff(["run", directory, "--tag", "nothing", "--report", out])
        #expect(tagged.status == 2)
        #expect(tagged.error.contains("no scenario matches --tag 'nothing'"))

        let shard = try handoff(["run", directory, "--shard", "3/3", "--report", out])
        #expect(shard.status == 2)
        #expect(shard.error.contains("shard 3/3 is empty (2 scenarios selected)"))
        let allowedShard = try handoff(["run", directory, "--shard", "3/3", "--report", out, "--allow-empty"])
        #expect(allowedShard.status == 0)
        #expect(allowedShard.error.contains("shard 3/3 is empty"))

        let stress = try handoff(["stress", directory + "/empty", "--duration", "1s", "--report", out])
        #expect(stress.status == 2)
        #expect(stress.error.contains("nothing to stress: no scenario files"))
        let validate = try handoff(["validate", directory + "/empty"])
        #expect(validate.status == 2)
        #expect(validate.error.contains("nothing to validate"))
    }

    @Test func compareCountsACaseTheNewRunLostAsARegression() throws {
        let directory = try temporaryDirectory([:])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func write(_ name: String, _ cases: [String]) throws -> String {
            let report = RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto, scenarios: cases.map {
                ScenarioResult(name: $0, file: "\($0).yaml", summary: "", tags: [], status: .pass)
            })
            try ReportFiles.prepare(directory)
            try ReportFiles.write(try report.json(), to: directory + "/" + name)
            return directory + "/" + name
        }
        let base = try write("base.json", ["a", "b"])
        let lost = try write("lost.json", ["a"])
        let gained = try write("gained.json", ["a", "b", "c"])
        let none = try write("none.json", [])
        let out = ["--report", directory + "/cmp"]

        let regression = try handoff(["compare", base, lost, "--fail-on", "regression"] + out)
        #expect(regression.status == 1, "\(regression.error)")
        #expect(regression.output.contains("### regression (1)"))
        #expect(regression.output.contains("- `b` in \(lost): pass → absent"))
        #expect(regression.error.contains("handoff compare: 1 regression (--fail-on)"))
        #expect(try handoff(["compare", base, lost] + out).status == 0, "without --fail-on it only reports")
        #expect(try handoff(["compare", base, gained, "--fail-on", "regression"] + out).status == 0)
        let missing = try handoff(["compare", base, gained, "--fail-on", "regression", "--fail-on", "missing"] + out)
        #expect(missing.status == 1)
        #expect(missing.error.contains("1 case missing from a run"))
        #expect(try handoff(["compare", base, lost, "--fail-on", "missing"] + out).status == 1)
        let nothing = try handoff(["compare", none, none] + out)
        #expect(nothing.status == 2)
        #expect(nothing.error.contains("nothing to compare"))
    }

    @Test func anUnwritableReportDirectoryFailsInOneLineBeforeTheRun() throws {
        let directory = try temporaryDirectory(["one.yaml": Self.passing, "afile": "x"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for command in [["run", directory], ["stress", directory, "--iterations", "1"]] {
            let result = try handoff(command + ["--report", directory + "/afile/out"])
            #expect(result.status == 2)
            #expect(result.error == "handoff: cannot write reports to \(directory)/afile/out: Not a directory\n", "\(command)")
            #expect(!result.output.contains("PASS") && !result.output.contains("round 1"), "nothing ran: \(result.output)")
        }
        for command in [["merge", directory + "/nothing.json"], ["compare", "a.json", "b.json"]] {
            let result = try handoff(command + ["--report", directory + "/afile/out"])
            #expect(result.status == 2)
            #expect(result.error == "handoff: cannot write reports to \(directory)/afile/out: Not a directory\n", "\(command)")
        }
        // Permission denied: as root, only without CAP_DAC_OVERRIDE (dropped from the bounding set by setpriv).
        let readOnly = directory + "/read-only"
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: true)
        chmod(readOnly, 0o555)
        let setpriv = "/usr/bin/setpriv"
        guard getuid() != 0 || FileManager.default.isExecutableFile(atPath: setpriv) else { return }
        let launcher = getuid() == 0 ? [setpriv, "--bounding-set=-dac_override,-dac_read_search"] : []
        let denied = try handoff(["run", directory, "--report", readOnly + "/out"], launcher: launcher)
        #expect(denied.status == 2)
        #expect(denied.error == "handoff: cannot write reports to \(readOnly)/out: Permission denied\n")
        #expect(denied.output.isEmpty)
    }

    @Test func aReportThatCannotBeWrittenAfterTheRunKeepsThePreviousOneAndTheClosingLine() throws {
        let prlimit = "/usr/bin/prlimit"
        guard FileManager.default.isExecutableFile(atPath: prlimit) else { return }
        let directory = try temporaryDirectory(["one.yaml": Self.passing, "two.yaml": Self.passing])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/out"
        #expect(try handoff(["run", directory, "--report", out]).status == 0)
        let previous = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
        // Files may not grow past 1 KiB (SIGXFSZ ignored, so write(2) fails with EFBIG): report.json cannot be
        // written, after the scenarios ran.
        let limited = try handoff(["run", directory, "--report", out],
                                  launcher: ["/bin/sh", "-c", "trap '' XFSZ; exec \"$0\" \"$@\"", prlimit, "--fsize=1024"])
        #expect(limited.status == 2, "\(limited.output)\(limited.error)")
        #expect(limited.output.hasSuffix("2 passed, 0 failed, 0 skipped\n"), "the closing line, whatever happens")
        #expect(limited.error == "handoff: cannot write reports to \(out): \(out)/report.json: File too large\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/report.json")) == previous, "the previous report is intact")
        #expect(leftoverTemporaryFiles(out).isEmpty)
    }

    @Test func aFileNameCannotEmitAGitHubWorkflowCommand() throws {
        let evil = "evil\n::warning file=x::pwned%0A\r::error::x.yaml"
        let directory = try temporaryDirectory([evil: Self.failing, "good.yaml": Self.passing])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", directory, "--report", directory + "/out"], environment: ["GITHUB_ACTIONS": "true"])
        #expect(result.status == 1)
        let commands = (result.output + result.error)
            .split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" })
            .filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("::") }
        #expect(commands.count == 1, "\(commands)")
        #expect(commands.first?.hasPrefix("::error file=\(directory.replacingOccurrences(of: ":", with: "%3A"))/evil%0A%3A%3Awarning") == true)
        #expect(commands.first?.contains("pwned%250A%0D") == true)
        #expect(result.output.contains("FAIL    evil\\n::warning file=x::pwned%0A\\r::error::x ("))
    }

    @Test func anInterruptKillsEveryScenarioProcessAndExits130() throws {
        var files: [String: String] = [:]
        for index in 0..<1000 { files["many/s\(index).yaml"] = Self.passing }
        let directory = try temporaryDirectory(files)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", directory, "--report", directory + "/out", "--jobs", "2"],
                                 interruptAfterOutput: "PASS    many/")
        #expect(result.status == 130, "\(result.output.suffix(300))\(result.error)")
        #expect(result.error.contains("killing every scenario process"))
        #expect(allAgentProcesses().isEmpty, "the CLI's agents, wherever they were re-parented")
        #expect(FileManager.default.fileExists(atPath: directory + "/out/report.json"))
    }

    @Test func aWorkDirectoryThatCannotHoldScenarioDirectoriesIsAUsageError() throws {
        // It made every scenario an error one by one (run and stress exit 1) and every fuzz case "not judged"
        // (exit 0, green).
        let directory = try temporaryDirectory(["a.yaml": Self.passing, "file": ""])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // /proc passes access(W_OK) for root, but mkdir there is ENOENT: the check makes a folder.
        for workdir in [directory + "/absent", directory + "/file", "/proc"] {
            for arguments in [["run", directory + "/a.yaml", "--report", directory + "/r"],
                              ["stress", directory + "/a.yaml", "--iterations", "1", "--report", directory + "/s"],
                              ["fuzz", "--count", "1", "--report", directory + "/f"]] {
                let outcome = try handoff(arguments + ["--workdir", workdir])
                #expect(outcome.status == 2, "\(arguments) --workdir \(workdir): \(outcome.error)")
                #expect(outcome.error.contains("scenario directories cannot be made in --workdir '\(workdir)'"), "\(outcome.error)")
            }
        }
        #expect(try handoff(["run", directory + "/a.yaml", "--report", directory + "/r", "--workdir", directory]).status == 0)
    }

    @Test func mergeNamesBothFilesThatHoldOneScenario() throws {
        let directory = try temporaryDirectory(["a.yaml": Self.passing])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try handoff(["run", directory, "--report", directory + "/r"]).status == 0)
        let report = directory + "/r/report.json"
        let outcome = try handoff(["merge", report, report, "--report", directory + "/m"])
        #expect(outcome.status == 2)
        #expect(outcome.error.contains("handoff merge: \(report): scenario 'a' is also in \(report)"), "\(outcome.error)")
        let compared = try handoff(["compare", report, directory, "--report", directory + "/c"])
        #expect(compared.status == 2)
        #expect(compared.error.contains("handoff compare: \(directory): is a directory, expected a report.json"), "\(compared.error)")
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
