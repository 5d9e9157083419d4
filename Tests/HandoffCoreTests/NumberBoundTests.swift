import Foundation
import Glibc
import Testing
@testable import HandoffCore

@Suite struct NumberBoundTests {
    @Test func aDeadlineSaturatesInsteadOfTrapping() {
        for seconds in [1e308, Double.infinity, 2e10, Double(UInt64.max), .greatestFiniteMagnitude] {
            let deadline = Deadline(secondsFromNow: seconds)
            #expect(!deadline.expired, "\(seconds)")
            #expect(deadline.remainingMilliseconds == Int32.max, "\(seconds)")
        }
        for seconds in [Double.nan, -1, 0, -Double.infinity] {
            let deadline = Deadline(secondsFromNow: seconds)
            #expect(deadline.expired, "\(seconds)")
            #expect(deadline.remainingMilliseconds == 0)
        }
        #expect((4000...5000).contains(Deadline(secondsFromNow: 5).remainingMilliseconds))
    }

    @Test func aTimeoutDescribesItselfAtAnyLength() {
        #expect(HarnessError.timedOut(process: "main", seconds: 10).description == "timed out after 10 s waiting for 'main'")
        #expect(HarnessError.timedOut(process: "main", seconds: 1e300).description.contains("1e+300 s"))
    }

    @Test func aScenarioTimeoutMustBeFinitePositiveAndAtMostADay() throws {
        for value in ["1e308", ".inf", ".nan", "-.inf", "86400.5", "86401", "0", "-1", "\"5\""] {
            do {
                _ = try scenario("summary: s\ntimeout: \(value)\nsteps:\n  - main.exit:\n")
                Issue.record("timeout: \(value) was accepted")
            } catch let error as ScenarioError {
                #expect(error.location.line == 2 && error.location.column == 10, "\(value): \(error)")
                #expect(error.message.contains("greater than 0 and at most 86400"), "\(value): \(error)")
            } catch {
                Issue.record("\(value): \(error)")
            }
        }
        #expect(try scenario("summary: s\ntimeout: 86400\nsteps:\n  - main.exit:\n").timeout == 86400)
        #expect(try scenario("summary: s\ntimeout: 0.5\nsteps:\n  - main.exit:\n").timeout == 0.5)
    }
}

@Suite struct MatrixBoundTests {
    /// A 230-byte file must not be able to ask for 10^8 cases: refused at once, before anything is built.
    @Test func aMatrixOfTooManyCasesIsRefusedBeforeItIsBuilt() throws {
        let values = (0..<10).map(String.init).joined(separator: ", ")
        let yaml = "summary: huge\nmatrix:\n" + (0..<8).map { "  p\($0): [\(values)]\n" }.joined()
            + "steps:\n  - main.pipe: {as: [r, w]}\n"
        let started = Date()
        #expect {
            _ = try ScenarioParser.parseAll(yaml: yaml, file: "huge.yaml", name: "huge")
        } throws: { error in
            "\(error)".contains("huge.yaml:3:3") && "\(error)".contains("expands to 100000000 cases")
        }
        #expect(Date().timeIntervalSince(started) < 1)
        // 1024 cases are still fine.
        let fine = "summary: fine\nmatrix:\n" + (0..<3).map { "  p\($0): [\(values)]\n" }.joined() + "steps:\n  - main.pipe: {as: [r, w]}\n"
        #expect(try ScenarioParser.parseAll(yaml: fine, file: "fine.yaml", name: "fine").count == 1000)
    }

    /// Each case is the file parsed again with its values in place: a 240 KB file whose 100 KB value fills
    /// 20,000 placeholders asked for 2 GB (the process died), and 1024 cases of a 40 KB file are 40 MB to
    /// parse. Both are refused at the matrix, before any case is built.
    @Test func aMatrixWhoseCasesComeToTooMuchYAMLIsRefusedBeforeItIsBuilt() throws {
        let long = String(repeating: "y", count: 100_000)
        let spread = "summary: s\nmatrix: {a: [\"\(long)\"]}\ntags: [" + Array(repeating: "\"${a}\"", count: 20_000).joined(separator: ",")
            + "]\nsteps:\n  - main.pipe: {as: [r, w]}\n"
        let values = (0..<32).map(String.init).joined(separator: ", ")
        let padded = "summary: s\nmatrix: {a: [\(values)], b: [\(values)]}\n# " + String(repeating: "-", count: 40_000)
            + "\nsteps:\n  - main.pipe: {as: [r, w]}\n"
        for (yaml, bytes) in [(spread, "2000160072 bytes"), (padded, "1024 cases of the file")] {
            let started = Date()
            #expect {
                _ = try ScenarioParser.parseAll(yaml: yaml, file: "big.yaml", name: "big")
            } throws: { error in
                "\(error)".contains("big.yaml:2:9") && "\(error)".contains(bytes) && "\(error)".contains("at most 33554432")
            }
            #expect(Date().timeIntervalSince(started) < 1)
        }
        // A value's text in every case counts, not only the file's size: 8 cases of 1 KB in a small file are fine.
        let fine = "summary: s\nmatrix: {a: [" + (0..<8).map { "\"\($0)\(String(repeating: "z", count: 1000))\"" }.joined(separator: ", ")
            + "]}\ntags: [\"${a}\"]\nsteps:\n  - main.pipe: {as: [r, w]}\n"
        #expect(try ScenarioParser.parseAll(yaml: fine, file: "fine.yaml", name: "fine").count == 8)
    }
}

@Suite struct LimitReferenceTests {
    @Test func aDescriptorRelativeToTheLimitParsesAndAnythingElseIsRefused() throws {
        let parsed = try scenario("summary: s\nsteps:\n  - main.dup2: {fd: 0, target: {limit: -1}, as: top}\n")
        guard case .table(.dup2(.number(0), .limit(offset: -1)))? = parsed.steps[0].operation else {
            Issue.record("\(parsed.steps[0].action)")
            return
        }
        #expect(throws: ScenarioError.self) {
            _ = try scenario("summary: s\nsteps:\n  - main.dup2: {fd: 0, target: {limit: x}}\n")
        }
        #expect(throws: ScenarioError.self) {
            _ = try scenario("summary: s\nsteps:\n  - main.dup2: {fd: 0, target: {argv: 1}}\n")  // not for a target
        }
    }
}
