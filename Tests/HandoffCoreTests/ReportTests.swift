import Foundation
import Testing
@testable import HandoffCore
#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct ReportTests {
    static let location = SourceLocation(file: "scenarios/dup/x.yaml", line: 12, column: 5)

    static let results: [ScenarioResult] = [
        ScenarioResult(name: "dup/ok", file: "scenarios/dup/ok.yaml", summary: "ok", tags: ["dup"], status: .pass,
                       durationSeconds: 0.012),
        ScenarioResult(name: "dup/x", file: "scenarios/dup/x.yaml", summary: "x & <y>", tags: [], status: .fail,
                       findings: [
                           Finding(kind: .leak, step: location, operation: "main.dup2", process: "main",
                                   descriptor: "w (4)", expected: "closed", observed: "open (pipe:[12])"),
                           Finding(kind: .cloexec, step: location, operation: "main.dup2", process: "main",
                                   descriptor: "f (3)", expected: "close-on-exec", observed: "not close-on-exec"),
                       ], durationSeconds: 0.02),
        ScenarioResult(name: "pidfd/y", file: "scenarios/pidfd/y.yaml", summary: "y", tags: [], status: .skip,
                       reason: "needs pidfd_getfd, which fails here with ENOSYS"),
        ScenarioResult(name: "top", file: "scenarios/top.yaml", summary: "t", tags: [], status: .timeout,
                       reason: "timed out after 10 s waiting for 'main'"),
    ]

    let report = RunReport(startedAt: Date(timeIntervalSince1970: 0), durationSeconds: 1.5, identityMode: .auto,
                           scenarios: ReportTests.results)

    @Test func htmlShowsControlCharactersEscapedAndKeepsLineBreaks() {
        // Raw control bytes from a summary reached report.html (a hostile round); as on the console they are
        // shown, markup is escaped, and line breaks stay line breaks.
        #expect(HTMLReport.escape("a\u{1B}[31m<b>\nline\u{7}\tx") == "a\\u{1B}[31m&lt;b&gt;\nline\\u{7}\tx")
        #expect(HTMLReport.escape("plain \"text\"\n") == "plain &quot;text&quot;\n")
    }

    @Test func summaryCountsEveryStatus() {
        #expect(report.summary == RunReport.Summary(Self.results))
        #expect(report.summary.total == 4)
        #expect(report.summary.passed == 1)
        #expect(report.summary.failed == 1)
        #expect(report.summary.skipped == 1)
        #expect(report.summary.errors == 1)
        #expect(report.summary.timedOut == 1)
        #expect(!report.summary.succeeded)
    }

    @Test func jsonRoundTripsWithItsSchemaVersion() throws {
        let data = try report.json()
        let decoded = try JSONDecoder().decode(RunReport.self, from: data)
        #expect(decoded.schemaVersion == 1)
        #expect(decoded.scenarios.count == 4)
        #expect(decoded.scenarios[1].findings.first?.kind == .leak)
        #expect(decoded.scenarios[1].findings.first?.step.line == 12)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let summary = object?["summary"] as? [String: Any]
        #expect(summary?["passed"] as? Int == 1)
        #expect(summary?["errors"] as? Int == 1)
        let first = (object?["scenarios"] as? [[String: Any]])?[1]["findings"] as? [[String: Any]]
        #expect(first?.first?["kind"] as? String == "LEAK")
    }

    @Test func junitParsesWithARealXMLParserAndCarriesEveryCase() throws {
        let xml = JUnitReport.render(report)
        let collector = JUnitCollector()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = collector
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(collector.suites == ["dup", "pidfd", "scenarios"])
        #expect(collector.cases == ["dup/ok", "dup/x", "pidfd/y", "top"])
        #expect(collector.failures.count == 1)
        #expect(collector.failures.first?.hasPrefix("scenarios/dup/x.yaml:12: LEAK main: w (4): expected closed") == true)
        #expect(collector.failureBodies.first?.contains("CLOEXEC main: f (3)") == true)
        #expect(collector.skips == ["needs pidfd_getfd, which fails here with ENOSYS"])
        #expect(collector.errors == ["timed out after 10 s waiting for 'main'"])
        #expect(collector.rootAttributes["tests"] == "4")
        #expect(collector.rootAttributes["failures"] == "1")
        #expect(collector.rootAttributes["skipped"] == "1")
    }

    @Test func theDiffNamesTheStepOnceAndEveryFinding() {
        let diff = Self.results[1].diff
        #expect(diff == """
            scenarios/dup/x.yaml:12: after main.dup2
              LEAK main: w (4): expected closed, observed open (pipe:[12])
              CLOEXEC main: f (3): expected close-on-exec, observed not close-on-exec
            """)
    }
}

final class JUnitCollector: NSObject, XMLParserDelegate {
    var suites: [String] = []
    var cases: [String] = []
    var failures: [String] = []
    var failureBodies: [String] = []
    var skips: [String] = []
    var errors: [String] = []
    var rootAttributes: [String: String] = [:]
    private var text = ""
    private var inFailure = false

    func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        switch element {
        case "testsuites": rootAttributes = attributes
        case "testsuite": suites.append(attributes["name"] ?? "")
        case "testcase": cases.append(attributes["name"] ?? "")
        case "failure":
            failures.append(attributes["message"] ?? "")
            inFailure = true
            text = ""
        case "skipped": skips.append(attributes["message"] ?? "")
        case "error": errors.append(attributes["message"] ?? "")
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inFailure { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
        if element == "failure" {
            failureBodies.append(text)
            inFailure = false
        }
    }
}

@Suite struct TextReportTests {
    let report = RunReport(startedAt: Date(timeIntervalSince1970: 0), durationSeconds: 1.5, identityMode: .auto,
                           scenarios: ReportTests.results, taintBefore: 0, taintAfter: 512)

    @Test func tapHasAPlanOkNotOkSkipsAndTheDiffAsDiagnostics() {
        let lines = TAPReport.render(report).split(separator: "\n").map(String.init)
        #expect(lines[0] == "TAP version 13")
        #expect(lines[1] == "1..4")
        #expect(lines[2] == "ok 1 dup/ok")
        #expect(lines[3] == "not ok 2 dup/x")
        #expect(lines[4] == "# scenarios/dup/x.yaml:12: after main.dup2")
        #expect(lines[5] == "#   LEAK main: w (4): expected closed, observed open (pipe:[12])")
        #expect(lines.contains("ok 3 pidfd/y # SKIP needs pidfd_getfd, which fails here with ENOSYS"))
        #expect(lines.contains("not ok 4 top # TIMEOUT"))
        #expect(lines.contains("# 1 passed, 2 failed, 1 skipped"))
        #expect(lines.contains("# WARNING: kernel taint changed during the run: 0 -> 512"))
    }

    @Test func markdownListsFailuresSkipsAndATaintChange() {
        let text = MarkdownReport.render(report)
        #expect(text.hasPrefix("## handoff: 1 passed, 1 failed, 1 skipped, 1 errors"))
        #expect(text.contains("#### `dup/x` (fail, 20.0 ms)"))
        #expect(text.contains("LEAK main: w (4): expected closed"))
        #expect(text.contains("| `pidfd/y` | needs pidfd_getfd, which fails here with ENOSYS |"))
        #expect(text.contains("Kernel taint changed during the run: 0 → 512"))
    }

    @Test func githubAnnotationsPointAtTheFailingStepsLine() {
        let lines = GitHubAnnotations.lines(for: ReportTests.results[1])
        #expect(lines == ["::error file=scenarios/dup/x.yaml,line=12,title=handoff LEAK::dup/x: LEAK main: w (4): "
            + "expected closed, observed open (pipe:[12])"])
        #expect(GitHubAnnotations.lines(for: ReportTests.results[0]).isEmpty)
        #expect(GitHubAnnotations.lines(for: ReportTests.results[3]).first?.hasPrefix(
            "::error file=scenarios/top.yaml,title=handoff timeout::top: timed out") == true)
    }

    @Test func theFingerprintProbesThisSystem() {
        let fingerprint = Fingerprint.current()
        #expect(fingerprint.kernelRelease == SystemProbe.kernelRelease)
        #expect(fingerprint.features["kcmp"] != nil)
        #expect(fingerprint.features["MSG_CMSG_CLOEXEC"] == "ok")
        #expect(fingerprint.features["CLONE_FILES"] == "not probed (needs the agent)")
        #expect(Fingerprint.current(agentPath: agentPath).features["CLONE_FILES"] == "ok", "probed by a forking agent")
        #expect(fingerprint.nofileSoft > 0)
        #expect(fingerprint.taint >= 0)
    }
}

@Suite struct ComparisonTests {
    func report(_ statuses: [(String, ScenarioStatus)], syscall: UInt64 = 1000) -> RunReport {
        RunReport(startedAt: Date(timeIntervalSince1970: 0), durationSeconds: 1, identityMode: .auto,
                  scenarios: statuses.map { name, status in
                      ScenarioResult(name: name, file: "\(name).yaml", summary: "", tags: [], status: status,
                                     reason: status == .skip ? "needs kcmp, which fails here with EPERM" : nil,
                                     findings: status == .fail ? [Finding(kind: .identity, step: .init(file: "f", line: 3, column: 5),
                                                                          operation: "main.dup", expected: "a", observed: "b")] : [],
                                     steps: [StepRecord(line: 3, operation: "main.dup", process: "main",
                                                        syscallNanoseconds: syscall, roundTripNanoseconds: 0,
                                                        observationNanoseconds: 0)])
                  })
    }

    @Test func regressionsFixesSkipsAndTimingAreReported() {
        let host = report([("a", .pass), ("b", .fail), ("c", .pass), ("d", .pass)], syscall: 1000)
        let seccomp = report([("a", .fail), ("b", .pass), ("c", .skip), ("e", .pass)], syscall: 9000)
        let comparison = Comparison(reports: [("host", host), ("seccomp", seccomp)])
        #expect(comparison.matrix["a"] == ["pass", "fail"])
        #expect(comparison.matrix["e"] == [nil, "pass"])
        let kinds = comparison.changes.map { "\($0.kind.rawValue):\($0.scenario)" }.sorted()
        #expect(kinds == ["added:e", "fix:b", "new-skip:c", "regression:a", "regression:d"],
                "d is in the baseline and not in the new run: a regression; e is new")
        #expect(comparison.hasMissing)
        #expect(comparison.hasRegression)
        #expect(comparison.timing.map(\.operation) == ["dup"])
        #expect(comparison.timing.first?.ratio == 9)
        #expect(comparison.markdown.contains("### regression (2)"))
        #expect(comparison.markdown.contains("- `d` in seccomp: pass → absent"))
        #expect(comparison.markdown.contains("- `a` in seccomp: pass → IDENTITY expected a, observed b"))
    }

    @Test func noiseBelowTheThresholdIsNotATimingChange() {
        let comparison = Comparison(reports: [("one", report([("a", .pass)], syscall: 1000)),
                                              ("two", report([("a", .pass)], syscall: 1400))])
        #expect(comparison.timing.isEmpty)
        #expect(!comparison.hasRegression)
        #expect(!comparison.hasMissing)
    }

    @Test func mergeJoinsShardsAndRefusesOverlaps() throws {
        let merged = try RunReport.merged([report([("a", .pass), ("b", .fail)]), report([("c", .skip)])])
        #expect(merged.scenarios.map(\.name) == ["a", "b", "c"])
        #expect(merged.summary.total == 3 && merged.summary.failed == 1 && merged.summary.skipped == 1)
        #expect(throws: RunReport.MergeError.self) { try RunReport.merged([report([("a", .pass)]), report([("a", .pass)])]) }
    }

    @Test func shardsPartitionTheSuite() throws {
        let scenarios = (0..<10).map { Scenario(name: "s\($0)", file: "", summary: "", steps: []) }
        let shards = (1...3).map { Suite.shard(scenarios, index: $0, count: 3).map(\.name) }
        #expect(Set(shards.flatMap { $0 }).count == 10)
        #expect(shards.map(\.count) == [4, 3, 3])
        #expect(Suite.shard(scenarios.reversed(), index: 1, count: 3).map(\.name) == shards[0])
    }
}

@Suite struct HTMLReportTests {
    @Test func thePageIsSelfContainedAndShowsFailuresAndTimings() {
        let report = RunReport(startedAt: Date(timeIntervalSince1970: 0), durationSeconds: 1.5, identityMode: .auto,
                               scenarios: ReportTests.results)
        let html = HTMLReport.render(report)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script"), "no script: nothing can fail to load or run")
        #expect(!html.contains("http://") && !html.contains("https://"), "no network")
        #expect(html.contains("handoff: 1 passed, 1 failed, 1 skipped, 1 errors"))
        #expect(html.contains("LEAK main: w (4): expected closed, observed open (pipe:[12])"))
        #expect(html.contains("x &amp; &lt;y&gt;"), "text is escaped")
        #expect(html.contains("No timed steps."), "these results carry no step timings")
        #expect(html.contains("<svg class=\"bar\""))
    }

    @Test func aComparisonPageHasTheMatrix() {
        let comparison = Comparison(reports: [
            ("host", RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto, scenarios: ReportTests.results)),
            ("probe", RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .probe, scenarios: ReportTests.results)),
        ])
        let html = HTMLReport.render(comparison)
        #expect(html.contains("<tr><td>host</td><td>\(SystemProbe.kernelRelease)</td><td>"), "the runs with their counts")
        #expect(html.contains("<h2>Cases that differ (0 of \(Set(ReportTests.results.map(\.name)).count))</h2>"))
        #expect(html.contains("<code>dup/x</code></td><td><span class=\"status fail\">fail</span><br><small>LEAK main: w (4)"),
                "every case, with the reason it did not pass")
    }
}
