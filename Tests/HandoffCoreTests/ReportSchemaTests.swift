import Foundation
import Testing
@testable import HandoffCore

/// docs/report.schema.json describes report.json exactly as RunReport encodes it.
@Suite(.serialized, .leavesNoChildren) struct ReportSchemaTests {
    static let schemaPath = packageRoot + "/docs/report.schema.json"

    static func validator() throws -> JSONSchemaValidator { try JSONSchemaValidator(schemaFile: schemaPath) }

    static let location = SourceLocation(file: "scenarios/dup/x.yaml", line: 12, column: 5)

    /// Every status, every optional field present somewhere and absent somewhere else.
    static let results: [ScenarioResult] = [
        ScenarioResult(name: "dup/ok", file: "scenarios/dup/ok.yaml", summary: "ok", tags: ["dup"], status: .pass,
                       durationSeconds: 0.012, steps: [
                           StepRecord(line: 3, operation: "main.pipe", process: "main", result: 0, error: nil,
                                      syscallNanoseconds: 1200, roundTripNanoseconds: 9000, observationNanoseconds: 40000),
                           StepRecord(line: 4, operation: "main.close", process: "main", result: -1, error: "EBADF",
                                      syscallNanoseconds: 300, roundTripNanoseconds: 7000, observationNanoseconds: 38000),
                           StepRecord(line: 5, operation: "check", process: nil, result: nil, error: nil,
                                      syscallNanoseconds: nil, roundTripNanoseconds: 0, observationNanoseconds: 35000),
                       ], identityOracle: "kcmp"),
        ScenarioResult(name: "dup/x", file: "scenarios/dup/x.yaml", summary: "x & <y>", tags: [], status: .fail,
                       findings: [
                           Finding(kind: .leak, step: location, operation: "main.dup2", process: "main",
                                   descriptor: "w (4)", expected: "closed", observed: "open (pipe:[12])"),
                           Finding(kind: .check, step: location, operation: "check", expected: "offset 4",
                                   observed: "offset 5"),
                       ], durationSeconds: 0.02, steps: [
                           StepRecord(line: 12, operation: "main.dup2", process: "main", result: 4, error: nil,
                                      syscallNanoseconds: 800, roundTripNanoseconds: 8000, observationNanoseconds: 41000),
                       ], identityOracle: "flag-probe", agentLog: "agent said something\n"),
        ScenarioResult(name: "pidfd/y", file: "scenarios/pidfd/y.yaml", summary: "y", tags: ["pidfd"], status: .skip,
                       reason: "needs pidfd_getfd, which fails here with ENOSYS"),
        ScenarioResult(name: "top", file: "scenarios/top.yaml", summary: "t", tags: [], status: .timeout,
                       reason: "timed out after 10 s waiting for 'main'", durationSeconds: 10.001,
                       identityOracle: "kcmp", agentLog: ""),
        ScenarioResult(name: "broken", file: "scenarios/broken.yaml", summary: "b", tags: [], status: .error,
                       reason: "agent 'main' exited unexpectedly", durationSeconds: 0.003),
    ]

    static func syntheticReport() -> RunReport {
        RunReport(startedAt: Date(), durationSeconds: 10.2, identityMode: .auto, scenarios: results,
                  fingerprint: Fingerprint.current(), taintBefore: 0, taintAfter: 4096)
    }

    func errors(_ report: RunReport) throws -> [String] {
        try Self.validator().validate(try report.json())
    }

    @Test func aReportWithEveryStatusFindingsStepsAndAFingerprintIsValid() throws {
        let report = Self.syntheticReport()
        #expect(report.environment.fingerprint != nil)
        let problems = try errors(report)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test func aReportOfARunInAnEnvironmentIsValid() throws {
        var report = Self.syntheticReport()
        report.environment.fingerprint?.sandbox = "gVisor (uname -v #1 SMP Sun Jan 10 15:06:54 PST 2016)"
        report.environment.runIn = RunInRecord(
            RunEnvironment(name: .runc, seccompDeny: ["kcmp", "pidfd_getfd"], dropCapabilities: ["CAP_SYS_PTRACE"], nofile: 4096),
            runtime: "runc version 1.1.5", setupSeconds: 0.1, wallSeconds: 2.5)
        let problems = try errors(report)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        // And it reads back (run --in decodes the inner report).
        let decoded = try JSONDecoder().decode(RunReport.self, from: try report.json())
        #expect(decoded.environment.runIn == report.environment.runIn)
    }

    @Test func aReportWithoutTheOptionalEnvironmentFieldsIsValid() throws {
        let report = RunReport(startedAt: Date(timeIntervalSince1970: 0), durationSeconds: 0, identityMode: .probe,
                               scenarios: [])
        let problems = try errors(report)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// A real run on the real kernel, through Suite.run, as `handoff run` writes it.
    @Test func aRealRunIsValid() throws {
        let passing = run(try scenario("""
            summary: a pipe, a dup and a fork
            steps:
              - main.pipe: {as: [r, w]}
              - main.dup: {fd: w, as: copy}
              - main.fork: {as: child}
              - child.close: {fd: r}
              - main.close: {fd: 99, error: EBADF}
              - check: {same: [main.w, main.copy]}
            """, name: "real/pass"))
        let failing = run(try scenario("""
            summary: wrong offset
            steps:
              - main.open: {path: data, flags: [rdwr, creat], as: file}
              - main.write: {fd: file, data: "hello"}
              - check: {offset: {main.file: 4}}
            """, name: "real/fail"))
        let looping = run(try scenario("""
            summary: a loop run by the agents
            steps:
              - main.memfd: {as: mem}
              - main.socketpair: {type: dgram, as: [a, b]}
              - repeat:
                  count: 50
                  steps:
                    - main.send: {socket: a, fds: [mem], data: "x"}
                    - main.recv: {socket: b, as: [got]}
                    - main.close: {fd: got}
            """, name: "real/loop"))
        #expect(looping.status == .pass, "\(looping.diff)")
        #expect(looping.loops?.first?.operations.count == 3)
        #expect(passing.status == .pass, "\(passing.diff)")
        #expect(failing.status == .fail)
        #expect(!passing.steps.isEmpty && passing.identityOracle != nil)
        let fingerprint = Fingerprint.current()
        let report = RunReport(startedAt: Date(), durationSeconds: 0.5, identityMode: .auto,
                               scenarios: [passing, failing, looping], fingerprint: fingerprint,
                               taintBefore: fingerprint.taint, taintAfter: Fingerprint.currentTaint())
        let timing = try #require(report.timing)
        #expect(timing.steps == passing.steps.count + failing.steps.count + looping.steps.count)
        #expect(timing.operations["pipe"]?.syscall?.count == 1)
        let problems = try errors(report)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test func aWrongStatusIsRejected() throws {
        var report = Self.syntheticReport()
        report.scenarios[0].status = .pass
        var text = String(decoding: try report.json(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"status\" : \"pass\"", with: "\"status\" : \"passed\"")
        #expect(text.contains("\"passed\""))
        let problems = try Self.validator().validate(Data(text.utf8))
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("$.scenarios[0].status: \"passed\" is not one of") == true, "\(problems)")
    }

    @Test func aMissingSummaryIsRejected() throws {
        guard case .object(var top) = try JSONValue.parse(try Self.syntheticReport().json()) else {
            Issue.record("report.json is not an object")
            return
        }
        top["summary"] = nil
        let problems = try Self.validator().validate(.object(top))
        #expect(problems == ["$: missing required property summary"])
    }

    @Test func anUnknownKeyAndAWrongTypeAreRejected() throws {
        guard case .object(var top) = try JSONValue.parse(try Self.syntheticReport().json()),
            case .array(var scenarios)? = top["scenarios"], case .object(var first) = scenarios[0]
        else {
            Issue.record("unexpected report.json shape")
            return
        }
        first["extra"] = .bool(true)
        first["durationSeconds"] = .string("fast")
        scenarios[0] = .object(first)
        top["scenarios"] = .array(scenarios)
        top["schemaVersion"] = .integer(2)
        let problems = try Self.validator().validate(.object(top))
        #expect(Set(problems) == [
            "$.schemaVersion: expected 1, found 2",
            "$.scenarios[0]: unexpected property extra",
            "$.scenarios[0].durationSeconds: expected number, found \"fast\"",
        ], "\(problems)")
    }

    @Test func theValidatorKnowsIntegersNullsAndRefs() throws {
        let schema = try JSONValue.parse(Data("""
            {"type": "object", "required": ["a"], "additionalProperties": {"$ref": "#/$defs/n"},
             "properties": {"a": {"type": ["integer", "null"]}},
             "$defs": {"n": {"type": "number", "minimum": 1}}}
            """.utf8))
        let validator = JSONSchemaValidator(schema: schema)
        #expect(try validator.validate(Data(#"{"a": null, "b": 1.5}"#.utf8)).isEmpty)
        #expect(try validator.validate(Data(#"{"a": 3, "b": 18446744073709551615}"#.utf8)).isEmpty)
        #expect(try validator.validate(Data(#"{"a": 3.5}"#.utf8)) == ["$.a: expected integer or null, found 3.5"])
        #expect(try validator.validate(Data(#"{"a": 1, "b": 0.5}"#.utf8)) == ["$.b: 0.5 is below the minimum 1.0"])
        #expect(try validator.validate(Data(#"{"a": true}"#.utf8)) == ["$.a: expected integer or null, found true"])
        let unsupported = JSONSchemaValidator(schema: try JSONValue.parse(Data(#"{"pattern": "x"}"#.utf8)))
        #expect(throws: JSONSchemaValidator.SchemaError.self) { try unsupported.validate(.string("x")) }
    }
}
