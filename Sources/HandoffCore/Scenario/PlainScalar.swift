import Yams

/// What a plain (unquoted) YAML scalar is, decided by hand instead of by Yams's default resolver.
///
/// Yams resolves every plain scalar by trying its rules' NSRegularExpressions in turn (bool, int, float, merge,
/// null, timestamp, value), and again on every mapping-key comparison and hash (Node.Scalar's `==` and
/// `hash(into:)` use the resolved tag). That was most of the time spent loading the catalog: about half on
/// the host, and several seconds of a `--kernel` run, where ICU's regex engine runs under an emulated CPU.
/// Scenarios are composed with `Resolver.basic` (no rules: every scalar is a string to Yams, so key lookups
/// compare strings) and YAMLContext asks this function instead. It accepts exactly the language of Yams's
/// rules (`Resolver.Rule.bool`, `.int`, `.float`, `.null`; a test compares both on the catalog's scalars
/// and on generated ones); merge, timestamp and value scalars are strings to the parser, as before.
enum PlainScalar {
    static func kind(of text: String) -> NodeKind {
        let bytes = Array(text.utf8)
        if isBool(bytes) { return .bool }
        if isInt(bytes[...]) { return .int }
        if isFloat(bytes[...]) { return .float }
        if isNull(bytes) { return .null }
        return .string
    }

    /// The value of a plain decimal integer (`0`, or `[-+]?[1-9][0-9]*` that fits an Int); nil for anything
    /// else, which Yams's `Int.construct` then reads (underscores, `0x`, `0o`, `0b`, leading-zero octal, base
    /// 60, overflow). Nearly every integer in a scenario is plain, and Yams's construct strips underscores
    /// and splits on colons with Foundation first: 4 % of loading the catalog. The standard library's
    /// `Int(_:)` reads exactly that language but for a leading zero, which YAML makes octal.
    static func decimal(_ text: String) -> Int? {
        let unsigned = text.utf8.first == UInt8(ascii: "-") || text.utf8.first == UInt8(ascii: "+")
            ? text.utf8.dropFirst() : text.utf8[...]
        guard unsigned.first != UInt8(ascii: "0") || unsigned.count == 1 else { return nil }
        return Int(text)
    }

    /// The value of an integer in any form of the int rule (`isInt`: underscores, `0x`, `0o`, `0b`,
    /// leading-zero octal, base 60), or nil when `text` is not one or its value does not fit an Int. Yams's
    /// Int.construct reads the same forms but computes base 60 with trapping arithmetic: a scenario saying
    /// `timeout: 1:0:0:0:0:0:0:0:0:0:0:0` (60^11) or `fd: 999999999999999999:59` killed the parser with SIGILL.
    static func integer(_ text: String) -> Int? {
        if let value = decimal(text) { return value }
        let bytes = Array(text.utf8)
        guard isInt(bytes[...]) else { return nil }
        let signed = bytes.filter { $0 != underscore }
        let negative = signed.first == UInt8(ascii: "-")
        let body = unsigned(signed[...])
        var magnitude: UInt?
        if body.count > 1, body.first == UInt8(ascii: "0") {
            switch body[body.startIndex + 1] {
            case UInt8(ascii: "x"): magnitude = accumulate(body.dropFirst(2), radix: 16)
            case UInt8(ascii: "b"): magnitude = accumulate(body.dropFirst(2), radix: 2)
            case UInt8(ascii: "o"): magnitude = accumulate(body.dropFirst(2), radix: 8)
            default: magnitude = accumulate(body.dropFirst(), radix: 8)
            }
        } else {
            // Decimal groups between colons, the first the most significant (plain decimal: a single group).
            magnitude = 0
            for group in body.split(separator: colon, omittingEmptySubsequences: false) {
                guard let sum = magnitude, let value = accumulate(group, radix: 10) else { return nil }
                let (shifted, overflow) = sum.multipliedReportingOverflow(by: 60)
                let (next, carry) = shifted.addingReportingOverflow(value)
                magnitude = overflow || carry ? nil : next
            }
        }
        guard let magnitude else { return nil }
        if negative {
            return magnitude <= Int.max.magnitude + 1 ? Int(truncatingIfNeeded: 0 &- magnitude) : nil
        }
        return magnitude <= Int.max.magnitude ? Int(magnitude) : nil
    }

    /// The digits of `bytes` in `radix` (at most 16), or nil on an empty text, a foreign byte or overflow.
    private static func accumulate(_ bytes: ArraySlice<UInt8>, radix: UInt) -> UInt? {
        guard !bytes.isEmpty else { return nil }
        var value: UInt = 0
        for byte in bytes {
            let digit: UInt
            switch byte {
            case 0x30...0x39: digit = UInt(byte - 0x30)
            case 0x61...0x66: digit = UInt(byte - 0x61 + 10)
            case 0x41...0x46: digit = UInt(byte - 0x41 + 10)
            default: return nil
            }
            guard digit < radix else { return nil }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: radix)
            let (next, carry) = shifted.addingReportingOverflow(digit)
            if overflow || carry { return nil }
            value = next
        }
        return value
    }

    private static let bools: Set<[UInt8]> = Set([
        "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF",
    ].map { Array($0.utf8) })
    private static let nulls: Set<[UInt8]> = Set(["~", "null", "Null", "NULL", ""].map { Array($0.utf8) })

    static func isBool(_ bytes: [UInt8]) -> Bool { bools.contains(bytes) }
    static func isNull(_ bytes: [UInt8]) -> Bool { nulls.contains(bytes) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isOctal(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x37 }
    private static func isHex(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }
    private static let underscore = UInt8(ascii: "_")
    private static let colon = UInt8(ascii: ":")
    private static let dot = UInt8(ascii: ".")

    /// `[-+]?` dropped.
    private static func unsigned(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") else { return bytes }
        return bytes.dropFirst()
    }

    /// One or more bytes, each `allowed` or `_`.
    private static func all(_ bytes: ArraySlice<UInt8>, _ allowed: (UInt8) -> Bool) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy { allowed($0) || $0 == underscore }
    }

    /// `(?::[0-5]?[0-9])+` over the whole of `bytes`.
    private static func isSexagesimalTail(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        for group in bytes.split(separator: colon, omittingEmptySubsequences: false).dropFirst() {
            switch group.count {
            case 1: guard isDigit(group[group.startIndex]) else { return false }
            case 2:
                let tens = group[group.startIndex]
                guard tens >= 0x30 && tens <= 0x35, isDigit(group[group.startIndex + 1]) else { return false }
            default: return false
            }
        }
        return bytes.first == colon
    }

    /// `[1-9][0-9_]*` then `(?::[0-5]?[0-9])+` (the base-60 forms' head and tail), split at the first colon.
    private static func isSexagesimal(_ bytes: ArraySlice<UInt8>, headFirst: (UInt8) -> Bool) -> Bool {
        guard let colonIndex = bytes.firstIndex(of: colon) else { return false }
        let head = bytes[..<colonIndex]
        guard let first = head.first, headFirst(first),
              head.dropFirst().allSatisfy({ isDigit($0) || $0 == underscore }) else { return false }
        return isSexagesimalTail(bytes[colonIndex...])
    }

    /// Resolver.Rule.int: binary, octal (`0o` or a leading 0), decimal, hexadecimal, or base 60.
    static func isInt(_ signed: ArraySlice<UInt8>) -> Bool {
        let bytes = unsigned(signed)
        guard let first = bytes.first else { return false }
        let rest = bytes.dropFirst()
        if first == UInt8(ascii: "0") {
            if rest.isEmpty { return true }
            if rest.first == UInt8(ascii: "b"), all(rest.dropFirst(), { $0 == 0x30 || $0 == 0x31 }) { return true }
            if rest.first == UInt8(ascii: "x"), all(rest.dropFirst(), isHex) { return true }
            if rest.first == UInt8(ascii: "o"), all(rest.dropFirst(), isOctal) { return true }
            return all(rest, isOctal)
        }
        guard first >= 0x31 && first <= 0x39 else { return false }
        if rest.allSatisfy({ isDigit($0) || $0 == underscore }) { return true }
        return isSexagesimal(bytes, headFirst: { $0 >= 0x31 && $0 <= 0x39 })
    }

    /// Resolver.Rule.float: decimal with optional fraction and exponent, `.5`-style, base 60 with a
    /// fraction, infinities and NaN.
    static func isFloat(_ signed: ArraySlice<UInt8>) -> Bool {
        let hasSign = signed.first == UInt8(ascii: "-") || signed.first == UInt8(ascii: "+")
        let bytes = unsigned(signed)
        guard let first = bytes.first else { return false }
        if first == dot {
            let word = Array(bytes.dropFirst())
            if ["inf", "Inf", "INF"].contains(where: { Array($0.utf8) == word }) { return true }
            if !hasSign, ["nan", "NaN", "NAN"].contains(where: { Array($0.utf8) == word }) { return true }
            // `\.[0-9_]+(?:[eE][-+][0-9]+)?`, without a sign.
            guard !hasSign else { return false }
            let body = bytes.dropFirst()
            let exponentAt = body.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
            let digits = body[..<(exponentAt ?? body.endIndex)]
            guard all(digits, isDigit) else { return false }
            guard let exponentAt else { return true }
            let exponent = body[(exponentAt + 1)...]
            guard let sign = exponent.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") else { return false }
            let power = exponent.dropFirst()
            return !power.isEmpty && power.allSatisfy(isDigit)
        }
        guard isDigit(first) else { return false }
        if bytes.contains(colon) {
            // `[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*`
            guard let dotIndex = bytes.lastIndex(of: dot) else { return false }
            let fraction = bytes[(dotIndex + 1)...]
            guard fraction.allSatisfy({ isDigit($0) || $0 == underscore }) else { return false }
            return isSexagesimal(bytes[..<dotIndex], headFirst: isDigit)
        }
        // `[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?`
        var index = bytes.startIndex + 1
        while index < bytes.endIndex, isDigit(bytes[index]) || bytes[index] == underscore { index += 1 }
        if index < bytes.endIndex, bytes[index] == dot {
            index += 1
            while index < bytes.endIndex, isDigit(bytes[index]) || bytes[index] == underscore { index += 1 }
        }
        if index == bytes.endIndex { return true }
        guard bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") else { return false }
        index += 1
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
        let power = bytes[index...]
        return !power.isEmpty && power.allSatisfy(isDigit)
    }
}
