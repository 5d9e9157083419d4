import Foundation
import Testing
@testable import HandoffCore

/// report.json `timing`: per-operation percentiles from HdrHistogram, on synthetic steps with known values.
@Suite struct TimingTests {
    static func step(_ operation: String, syscall: UInt64?, roundTrip: UInt64, observation: UInt64) -> StepRecord {
        StepRecord(line: 1, operation: operation, process: operation.contains(".") ? "main" : nil, result: 0,
                   error: nil, syscallNanoseconds: syscall, roundTripNanoseconds: roundTrip,
                   observationNanoseconds: observation)
    }

    static func result(_ name: String, _ status: ScenarioStatus, seconds: Double, _ steps: [StepRecord]) -> ScenarioResult {
        ScenarioResult(name: name, file: name + ".yaml", summary: name, tags: [], status: status,
                       durationSeconds: seconds, steps: steps)
    }

    /// 100 recv steps with syscall 1...100 ns, round trip syscall + 1000 + i, observation 10 * i;
    /// 10 dup2 steps of 1000...10000 ns split over two processes' names; 4 checks; an exec without syscall time.
    static let recvSteps: [StepRecord] = (UInt64(1)...100).map { (i: UInt64) -> StepRecord in
        step("main.recv", syscall: i, roundTrip: 2 * i + 1000, observation: 10 * i)
    }
    static let dup2Steps: [StepRecord] = (UInt64(1)...10).map { (i: UInt64) -> StepRecord in
        step(i % 2 == 0 ? "main.dup2" : "peer.dup2", syscall: 1000 * i, roundTrip: 1000 * i + 500, observation: 7)
    }
    static let checkSteps: [StepRecord] = (1...4).map { (_: Int) -> StepRecord in
        step("check", syscall: nil, roundTrip: 0, observation: 3000)
    }
    static let execStep = step("main.exec", syscall: nil, roundTrip: 2_000_000, observation: 50_000)

    static let results: [ScenarioResult] = [
        result("a", .pass, seconds: 0.2, recvSteps),
        result("b", .fail, seconds: 0.4, dup2Steps + checkSteps + [execStep]),
        // Skipped scenarios cost nothing and do not count.
        result("c", .skip, seconds: 0.0001, []),
        result("d", .timeout, seconds: 0.3, []),
    ]

    @Test func countsArePerOperationKindAndExact() throws {
        let timing = try #require(RunTiming(Self.results))
        #expect(Set(timing.operations.keys) == ["recv", "dup2", "check", "exec"])
        #expect(timing.operations["recv"]?.steps == 100)
        #expect(timing.operations["recv"]?.syscall?.count == 100)
        #expect(timing.operations["recv"]?.overhead?.count == 100)
        #expect(timing.operations["recv"]?.observation.count == 100)
        #expect(timing.operations["dup2"]?.steps == 10)
        #expect(timing.operations["check"]?.steps == 4)
        #expect(timing.operations["check"]?.syscall == nil)
        #expect(timing.operations["check"]?.overhead == nil)
        #expect(timing.operations["exec"]?.syscall == nil)
        #expect(timing.operations["exec"]?.observation.max == 50_000)
        #expect(timing.scenarios == 3)
        #expect(timing.steps == 115)
    }

    @Test func percentilesOfKnownValues() throws {
        let timing = try #require(RunTiming(Self.results))
        let recv = try #require(timing.operations["recv"])
        // Below 2048 the histogram is exact: the percentiles of 1...100 are 50, 90, 99, 100.
        #expect(recv.syscall == RunTiming.Distribution(count: 100, p50: 50, p90: 90, p99: 99, max: 100))
        // Overhead is round trip minus syscall: 1000 + i.
        #expect(recv.overhead == RunTiming.Distribution(count: 100, p50: 1050, p90: 1090, p99: 1099, max: 1100))
        // Observation 10...1000.
        #expect(recv.observation == RunTiming.Distribution(count: 100, p50: 500, p90: 900, p99: 990, max: 1000))
        let dup2 = try #require(timing.operations["dup2"]?.syscall)
        // 1000...10000: above 2048 values are kept to 3 significant digits (within 0.1%); max is exact.
        #expect(dup2.count == 10)
        #expect(dup2.max == 10_000)
        #expect(abs(Double(dup2.p50) - 5000) <= 5)
        #expect(abs(Double(dup2.p90) - 9000) <= 9)
        #expect(timing.operations["dup2"]?.overhead == RunTiming.Distribution(count: 10, p50: 500, p90: 500, p99: 500, max: 500))
        for operation in timing.operations.values {
            for distribution in [operation.syscall, operation.overhead, operation.observation].compactMap({ $0 }) {
                #expect(distribution.p50 <= distribution.p90)
                #expect(distribution.p90 <= distribution.p99)
                #expect(distribution.p99 <= distribution.max)
            }
        }
    }

    @Test func meanCostPerScenarioAndStep() throws {
        let timing = try #require(RunTiming(Self.results))
        #expect(abs(timing.meanScenarioSeconds - 0.3) < 1e-9, "(0.2 + 0.4 + 0.3) / 3")
        var total = 0.0
        for i in 1...100 { total += Double(2 * i + 1000 + 10 * i) }
        for i in 1...10 { total += Double(1000 * i + 500 + 7) }
        total += 4 * 3000 + 2_050_000
        #expect(abs(timing.meanStepNanoseconds - total / 115) < 1e-6)
    }

    @Test func aRoundTripShorterThanTheSyscallCountsAsNoOverhead() throws {
        let timing = try #require(RunTiming([Self.result("x", .pass, seconds: 0.1, [
            Self.step("main.close", syscall: 900, roundTrip: 800, observation: 1)])]))
        #expect(timing.operations["close"]?.overhead?.max == 0)
    }

    @Test func noStepsMeansNoTimingAndTheReportOmitsIt() throws {
        #expect(RunTiming([Self.result("c", .skip, seconds: 0, [])]) == nil)
        let report = RunReport(startedAt: Date(), durationSeconds: 0, identityMode: .auto, scenarios: [])
        #expect(report.timing == nil)
        #expect(!String(decoding: try report.json(), as: UTF8.self).contains("timing"))
    }

    @Test func theReportCarriesTimingValidAgainstTheSchemaAndMergeRecomputesIt() throws {
        let report = RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto, scenarios: Self.results)
        #expect(report.timing == RunTiming(Self.results))
        let problems = try JSONSchemaValidator(schemaFile: ReportSchemaTests.schemaPath).validate(try report.json())
        #expect(problems.isEmpty, "\(problems)")
        let decoded = try JSONDecoder().decode(RunReport.self, from: try report.json())
        #expect(decoded.timing == report.timing)
        let first = RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto, scenarios: [Self.results[0]])
        let second = RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto,
                               scenarios: Array(Self.results[1...]))
        let merged = try RunReport.merged([first, second])
        #expect(merged.timing == report.timing)
    }

    @Test func aReportWithoutTimingStillDecodes() throws {
        let report = RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto, scenarios: Self.results)
        guard var object = try JSONSerialization.jsonObject(with: try report.json()) as? [String: Any] else {
            Issue.record("not an object")
            return
        }
        object["timing"] = nil
        let decoded = try JSONDecoder().decode(RunReport.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(decoded.timing == nil)
    }
}

@Suite struct ProgressLineTests {
    @Test func onlyOnATerminalOutsideCI() {
        #expect(ProgressLine.enabled(stdoutIsTerminal: true, environment: [:]))
        #expect(ProgressLine.enabled(stdoutIsTerminal: true, environment: ["CI": ""]))
        #expect(!ProgressLine.enabled(stdoutIsTerminal: true, environment: ["CI": "true"]))
        #expect(!ProgressLine.enabled(stdoutIsTerminal: false, environment: [:]))
    }

    @Test func countsEveryStatusAsTheClosingLineDoes() {
        var line = ProgressLine(total: 6)
        #expect(line.text == "\r[0/6] passed 0 failed 0 skipped 0")
        for status in [ScenarioStatus.pass, .pass, .fail, .skip, .error, .timeout] { line.record(status) }
        #expect(line.text == "\r[6/6] passed 2 failed 3 skipped 1")
        #expect(ProgressLine.clear == "\r\u{1B}[K")
    }
}
