import Foundation
import Testing
@testable import HandoffCore
#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct OutputDefectTests {
    static func result(_ name: String, _ status: ScenarioStatus, seconds: Double = 0.01, file: String? = nil,
                       log: String? = nil) -> ScenarioResult {
        let file = file ?? "scenarios/\(name).yaml"
        return ScenarioResult(name: name, file: file, summary: "s", tags: [], status: status,
                              findings: status == .fail ? [Finding(kind: .leak, step: SourceLocation(file: file, line: 4, column: 5),
                                                                   operation: "main.dup", process: "main", descriptor: "w (4)",
                                                                   expected: "closed", observed: "open")] : [],
                              durationSeconds: seconds, agentLog: log)
    }

    /// A 64 KiB receive judged wrong printed both texts whole; now each shows 64 bytes around the first
    /// difference, with its length.
    @Test func longDataIsShownAroundItsFirstDifference() {
        let expected = [UInt8](repeating: UInt8(ascii: "b"), count: 65536)
        var observed = expected
        observed[40000] = UInt8(ascii: "X")
        #expect(firstDifference(expected, observed) == 40000)
        #expect(firstDifference(expected, Array(expected[0..<36544])) == 36544)
        #expect(firstDifference(expected, expected) == nil)
        #expect(firstDifference(nil, expected) == nil)
        let shown = excerpt(observed, around: 40000)
        #expect(shown.hasPrefix("...\"") && shown.hasSuffix("... (65536 bytes, shown from byte 39968)"), "\(shown)")
        #expect(shown.contains("bX"))
        #expect(shown.count < 140)
        #expect(excerpt(Array("short".utf8), around: 3) == "\"short\"")
        #expect(excerpt(expected, around: nil).hasSuffix("\"... (65536 bytes)"))
        let outcome = Outcome(result: 65536, errno: 0, fds: [7], data: expected)
        #expect(outcome.summary.count < 120, "\(outcome.summary)")
        #expect(outcome.summary.hasPrefix("65536 fds [7] data \"bbbb"))
    }

    @Test func durationsFromOneSecondUpAreInSeconds() {
        #expect(Console.duration(0.0093) == "9.3 ms")
        #expect(Console.duration(0.9994) == "999.4 ms")
        #expect(Console.duration(0.99996) == "1.00 s")
        #expect(Console.duration(5.0072) == "5.01 s")
        #expect(Console.duration(12.34) == "12.34 s")
        #expect(Console.line(for: Self.result("slow", .pass, seconds: 5.0072)) == "PASS    slow (5.01 s)")
        let report = RunReport(startedAt: Date(), durationSeconds: 5.0072, identityMode: .auto,
                               scenarios: [Self.result("slow", .fail, seconds: 7.5)])
        let markdown = MarkdownReport.render(report)
        #expect(markdown.contains("on \(SystemProbe.machine), 5.01 s."), "\(markdown)")
        #expect(markdown.contains("#### `slow` (fail, 7.50 s)"))
        #expect(!markdown.contains(" ms"))
    }

    @Test func junitStaysWellFormedWhateverALogOrANameContains() throws {
        let log = "before \u{FFFE} \u{FFFF} \u{1} \u{1B}[31m \u{7} bell, tab\tCR\r]]> <&> after \u{10FFFF}"
        let results = [
            Self.result("dup/odd\u{FFFE}name", .fail, file: "scenarios/dup/\u{2}odd.yaml", log: log),
            Self.result("dup/err", .error, log: log),
            Self.result("dup/ok", .pass),
        ]
        let xml = JUnitReport.render(RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto, scenarios: results))
        do {
            try XMLWellFormedness.check(xml)
        } catch {
            Issue.record("junit.xml is not well-formed: \(error)")
        }
        #expect(xml.contains("before \u{FFFD} \u{FFFD} \u{FFFD} \u{FFFD}[31m \u{FFFD} bell, tab\tCR&#13;]]&gt; &lt;&amp;&gt; after \u{10FFFF}"))
        // A real parser agrees (libxml2, through XMLParser) and gets the text back.
        let collector = JUnitCollector()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = collector
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(collector.cases == ["dup/odd\u{FFFD}name", "dup/err", "dup/ok"])
    }

    @Test func theWellFormednessCheckRejectsWhatXMLForbids() {
        for bad in ["<a>\u{FFFE}</a>", "<a>\u{1}</a>", "<a>&#1;</a>", "<a>&#xFFFF;</a>", "<a b=\"<\"/>", "<a b='1' b='2'/>",
                    "<a></b>", "<a>&nbsp;</a>", "<a>]]></a>", "<a/><b/>", "<a>", "<a b=c/>", "<!-- -- --><a/>"] {
            #expect(throws: XMLWellFormedness.Failure.self, "\(bad)") { try XMLWellFormedness.check(bad) }
        }
        for good in ["<?xml version=\"1.0\"?>\n<a b='&#9;&amp;'>t<![CDATA[<]]>&#x10FFFF;<c/><!-- c --></a>\n", "<a:b x.y='1'/>"] {
            #expect(throws: Never.self, "\(good)") { try XMLWellFormedness.check(good) }
        }
    }

    /// Every line a workflow runner would take for a command (`::name ...`), from every text handoff prints
    /// about a scenario whose file name carries a line break, `%` and `::`.
    @Test func aFileNameCannotEmitAWorkflowCommand() {
        let name = "evil\n::warning file=x::pwned%0A\r::error::also"
        let failed = Self.result(name, .fail, file: "scenarios/\(name).yaml")
        let skipped = ScenarioResult(name: name, file: "s", summary: "s", tags: [], status: .skip, reason: "needs\n::error::x")
        let report = RunReport(startedAt: Date(), durationSeconds: 1, identityMode: .auto, scenarios: [failed, skipped])
        let texts = [Console.line(for: failed), Console.line(for: skipped), Console.indented(failed.diff),
                     TAPReport.render(report), MarkdownReport.render(report)]
            + GitHubAnnotations.lines(for: failed) + GitHubAnnotations.lines(for: Self.result(name, .timeout))
        let commands = texts.flatMap { $0.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) }
            .filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("::") }
        #expect(commands.count == 2, "\(commands)")
        let annotation = GitHubAnnotations.lines(for: failed)
        #expect(annotation == ["::error file=scenarios/evil%0A%3A%3Awarning file=x%3A%3Apwned%250A%0D%3A%3Aerror%3A%3Aalso.yaml,"
            + "line=4,title=handoff LEAK::evil%0A::warning file=x::pwned%250A%0D::error::also: LEAK main: w (4): expected closed, "
            + "observed open"])
        #expect(Console.line(for: failed) == "FAIL    evil\\n::warning file=x::pwned%0A\\r::error::also (10.0 ms)")
    }
}
