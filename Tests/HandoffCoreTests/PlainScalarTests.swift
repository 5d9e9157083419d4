// PlainScalar decides by hand what Yams's default resolver decides with regular expressions; the parser
// relies on both agreeing on every plain scalar. Compared here on the catalog's scalars, on hand-picked edge
// cases and on every short string over the characters the rules care about.

import Foundation
import Testing
import Yams
@testable import HandoffCore

struct PlainScalarTests {
    /// What Yams's default rules make of `text` as a plain scalar, in the parser's terms.
    static func yamsKind(_ text: String) -> NodeKind {
        switch Resolver.default.resolveTag(of: Node(text)) {
        case .int: return .int
        case .float: return .float
        case .bool: return .bool
        case .null: return .null
        default: return .string
        }
    }

    @Test func edgeCasesAgreeWithYams() {
        let samples = [
            "", "~", "null", "Null", "NULL", "nULL", "yes", "Yes", "YES", "yEs", "on", "OFF", "true", "True", "tRUE",
            "0", "00", "08", "0_", "0o", "0o7", "0o8", "0b", "0b1", "0b2", "0x", "0xfF_", "0xg", "-0", "+0", "-",
            "+", "1", "1_000", "1__", "10", "-12", "+12", "1:30", "1:3:05", "1:60", "1:5a", "0:30", "190:20:30",
            "1.", "1.5", "-1.5", "1e5", "1e+5", "1E-5", "1e", "1.5e", ".5", ".5e+3", ".5e3", "-.5", ".", "._",
            ".inf", "-.inf", "+.INF", ".Inf", ".nan", "-.nan", ".NaN", "1:30.5", "0:30.", "1:30.5.5", "1:30:", ":30",
            "1_:30", "0644", "0755", "777", "4294967295", "-9223372036854775808", "2026-12-02", "<<", "=", "stream",
            "a1", "1a", "1 ", " 1", "1-2", "0x1p3", "1_000.5_", "9:9", "9:99", "1::2",
        ]
        for sample in samples {
            #expect(PlainScalar.kind(of: sample) == Self.yamsKind(sample), "\"\(sample)\"")
        }
        // A wrong expectation is caught: "0o8" is not an octal integer.
        #expect(PlainScalar.kind(of: "0o8") != .int)
    }

    /// The decimal fast path reads what Yams's Int.construct reads, and declines every other form.
    @Test func decimalIntegersReadAsYamsReadsThem() {
        let samples = ["0", "-0", "+0", "7", "-12", "+12", "1024", "4294967295", "9223372036854775807",
                       "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "00", "017", "1_000",
                       "0x1f", "0o7", "0b1", "1:30", "-", "+", "", "1a", " 1", "1.5"]
        for sample in samples {
            guard let value = PlainScalar.decimal(sample) else {
                // Declined: the fallback decides. Only these forms may be declined.
                let plain = sample.drop { $0 == "-" || $0 == "+" }
                #expect(plain.isEmpty || plain.first == "0" || !plain.allSatisfy(\.isNumber)
                        || Int(sample) == nil, "\"\(sample)\" declined")
                continue
            }
            // Yams's construct gives nil for a signed zero (which the parser then called out of range); the
            // fast path reads it as 0, as Int does.
            if sample != "-0" && sample != "+0" {
                #expect(value == Int.construct(from: Node.Scalar(sample)), "\"\(sample)\"")
            }
            #expect(value == Int(sample), "\"\(sample)\"")
        }
        #expect(PlainScalar.decimal("-0") == 0)
        #expect(PlainScalar.decimal("-9223372036854775808") == Int.min)
        #expect(PlainScalar.decimal("9223372036854775808") == nil)
        // A wrong reading is caught: leading-zero octal is not decimal.
        #expect(PlainScalar.decimal("017") == nil)
        #expect(Int.construct(from: Node.Scalar("017")) == 15)
    }

    /// Every integer form reads as Yams's Int.construct reads it, and a value past Int is nil where Yams's
    /// base-60 arithmetic trapped (`1:0:0:0:0:0:0:0:0:0:0:0` is 60^11; `999999999999999999:59` overflows on the
    /// first multiplication).
    @Test func integersOfEveryFormReadAsYamsReadsThemAndOverflowIsNil() {
        let samples = ["0", "7", "-12", "+12", "1_000", "017", "-017", "0o17", "0x1f", "-0x1F", "0b101", "+0b1", "1:30",
                       "-1:30", "190:20:30", "1_0:05", "0x7fffffffffffffff", "-0x8000000000000000", "0o777777777777777777777",
                       "153722867280912930:7", "1:0:0:0:0:0:0:0:0:0"]
        for sample in samples {
            #expect(PlainScalar.integer(sample) != nil && PlainScalar.integer(sample) == Int.construct(from: Node.Scalar(sample)),
                    "\"\(sample)\"")
        }
        #expect(PlainScalar.integer("153722867280912930:7") == Int.max)
        // Yams traps on these two: it computes the magnitude first, and 60 to the power of the group count.
        #expect(PlainScalar.integer("-153722867280912930:8") == Int.min)
        #expect(PlainScalar.integer("1:0:0:0:0:0:0:0:0:0:0") == 604_661_760_000_000_000)
        let tooLarge = ["1:0:0:0:0:0:0:0:0:0:0:0", "-1:0:0:0:0:0:0:0:0:0:0:0", "999999999999999999:59", "153722867280912930:8",
                        "0x8000000000000000", "-0x8000000000000001", "0b" + String(repeating: "1", count: 64), "99999999999999999999",
                        "0o1777777777777777777777", "01777777777777777777777"]
        for sample in tooLarge {
            #expect(PlainScalar.kind(of: sample) == .int && PlainScalar.integer(sample) == nil, "\"\(sample)\"")
        }
        for sample in ["abc", "1.5", "0x", "1:60", ""] {
            #expect(PlainScalar.integer(sample) == nil, "\"\(sample)\"")
        }
    }

    @Test func everyShortStringOverTheRulesCharactersAgrees() {
        let alphabet = Array("0159:._-+eExbo")
        var checked = 0
        var strings = [""]
        for _ in 1...4 {
            strings = strings.flatMap { prefix in alphabet.map { prefix + String($0) } }
            for text in strings {
                #expect(PlainScalar.kind(of: text) == Self.yamsKind(text), "\"\(text)\"")
                checked += 1
            }
        }
        #expect(checked == 14 + 14 * 14 + 14 * 14 * 14 + 14 * 14 * 14 * 14)
    }

    @Test func everyPlainScalarOfTheCatalogAgrees() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scenarios")
        let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".yaml") } ?? []
        #expect(files.count > 100)
        var scalars = 0
        func walk(_ node: Node) {
            switch node {
            case .scalar(let scalar):
                guard scalar.style == .plain else { return }
                scalars += 1
                #expect(PlainScalar.kind(of: scalar.string) == Self.yamsKind(scalar.string), "\"\(scalar.string)\"")
            case .mapping(let mapping):
                for (key, value) in mapping { walk(key); walk(value) }
            case .sequence(let sequence):
                sequence.forEach(walk)
            case .alias:
                break
            }
        }
        for file in files {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
                .replacingOccurrences(of: #"\$\{[^}]*\}"#, with: "_p_", options: .regularExpression)
            // Every catalog file composes (placeholders neutralised): none is skipped unread.
            let node = try #require(try Yams.compose(yaml: text), "\(file) composed to nothing")
            walk(node)
        }
        #expect(scalars > 5000, "\(scalars) plain scalars")
    }
}
