// The control protocol between the runner and an agent.
//
// One message is one SOCK_SEQPACKET packet of ASCII text: a verb followed by space-separated `key=value`
// fields. Values never contain spaces: integers are decimal, lists are comma-separated, and bytes (data,
// paths, arguments) are lower-case hex. The runner sends a request; the agent answers every request with
// exactly one `ok` message (the system call's outcome, success or failure alike) or, when the request
// itself is malformed, one `bad` message. The protocol is documented in docs/protocol.md so that agents
// written in other languages can speak it.
//
// This module must not import Foundation: the agent links it and its start-up time matters.

public struct WireMessage: Equatable, Sendable {
    public var verb: String
    public var fields: [(key: String, value: String)]

    public init(_ verb: String, _ fields: [(key: String, value: String)] = []) {
        self.verb = verb
        self.fields = fields
    }

    public static func == (lhs: WireMessage, rhs: WireMessage) -> Bool {
        lhs.verb == rhs.verb && lhs.fields.elementsEqual(rhs.fields, by: { $0.key == $1.key && $0.value == $1.value })
    }

    public subscript(key: String) -> String? {
        for field in fields where field.key == key { return field.value }
        return nil
    }

    public mutating func set(_ key: String, _ value: String) { fields.append((key, value)) }
    public mutating func set(_ key: String, _ value: Int) { fields.append((key, String(value))) }
    public mutating func set(_ key: String, _ value: Int32) { fields.append((key, String(value))) }
    public mutating func set(_ key: String, _ value: Int64) { fields.append((key, String(value))) }
    public mutating func set(_ key: String, _ value: UInt64) { fields.append((key, String(value))) }
    public mutating func set(_ key: String, ints: [Int32]) { set(key, list: ints.map { String($0) }) }
    /// A comma-separated list, joined here for every list field of the protocol (the standard library's
    /// `joined(separator:)`, called from this module, runs unspecialized and instantiates its metadata in
    /// every fresh agent).
    public mutating func set(_ key: String, list words: [String]) {
        var value = ""
        for (index, word) in words.enumerated() {
            if index > 0 { value += "," }
            value += word
        }
        fields.append((key, value))
    }
    public mutating func set(_ key: String, bytes: [UInt8]) { fields.append((key, Hex.encode(bytes))) }
    /// Comma-separated hex, written into one buffer (every hello carries the agent's whole environment).
    public mutating func set(_ key: String, byteLists: [[UInt8]]) {
        var out: [UInt8] = []
        out.reserveCapacity(byteLists.reduce(0) { $0 + 2 * $1.count + 1 })
        for (index, bytes) in byteLists.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            Hex.append(bytes, to: &out)
        }
        fields.append((key, String(decoding: out, as: UTF8.self)))
    }

    /// The first key that appears more than once, if any: the subscript reads the first occurrence, so a
    /// message that repeats a field says two things at once (the runner refuses such answers).
    public var repeatedKey: String? {
        var seen = Set<String>()
        for field in fields where !seen.insert(field.key).inserted { return field.key }
        return nil
    }

    public func int(_ key: String) -> Int? { self[key].flatMap { Int($0) } }
    public func int32(_ key: String) -> Int32? { self[key].flatMap { Int32($0) } }
    public func int64(_ key: String) -> Int64? { self[key].flatMap { Int64($0) } }
    public func uint64(_ key: String) -> UInt64? { self[key].flatMap { UInt64($0) } }

    /// A comma-separated list of integers; an empty value is an empty list, a malformed one nil.
    public func ints(_ key: String) -> [Int32]? {
        guard let value = self[key] else { return nil }
        if value.isEmpty { return [] }
        var result: [Int32] = []
        for part in value.split(separator: ",", omittingEmptySubsequences: false) {
            guard let number = Int32(part) else { return nil }
            result.append(number)
        }
        return result
    }

    public func bytes(_ key: String) -> [UInt8]? { self[key].flatMap { Hex.decode($0) } }

    public func byteLists(_ key: String) -> [[UInt8]]? {
        guard let value = self[key] else { return nil }
        if value.isEmpty { return [] }
        var result: [[UInt8]] = []
        for part in value.split(separator: ",", omittingEmptySubsequences: false) {
            guard let bytes = Hex.decode(part) else { return nil }
            result.append(bytes)
        }
        return result
    }

    public func encoded() -> [UInt8] {
        var text = verb
        for field in fields {
            text += " "
            text += field.key
            text += "="
            text += field.value
        }
        return Array(text.utf8)
    }

    /// Parses one packet; nil when it is not a well-formed message.
    ///
    /// Concrete, not generic over Collection: a generic function of this module called from another runs
    /// unspecialized, and every agent process paid for that at its first messages (the Swift runtime
    /// demangling Collection's associated types: under emulation a sixth of the agent's CPU went to such
    /// metadata work).
    public static func decode(_ packet: ArraySlice<UInt8>) -> WireMessage? {
        packet.withUnsafeBufferPointer { decode(bytes: $0) }
    }

    public static func decode(_ packet: [UInt8]) -> WireMessage? {
        packet.withUnsafeBufferPointer { decode(bytes: $0) }
    }

    /// Words are separated by runs of spaces; the first is the verb, each other `key=value` split at its first
    /// `=`. The protocol is ASCII: only a word with other bytes is validated as UTF-8 (invalid: malformed).
    private static func decode(bytes packet: UnsafeBufferPointer<UInt8>) -> WireMessage? {
        let space = UInt8(ascii: " "), equals = UInt8(ascii: "=")
        var message: WireMessage?
        var index = 0
        while index < packet.count {
            if packet[index] == space { index += 1; continue }
            let start = index
            var separator: Int?
            var ascii = true
            while index < packet.count && packet[index] != space {
                if separator == nil && packet[index] == equals { separator = index }
                ascii = ascii && packet[index] < 0x80
                index += 1
            }
            func text(_ range: Range<Int>) -> String? {
                let bytes = UnsafeBufferPointer(rebasing: packet[range])
                return ascii ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
            }
            if message == nil {
                guard let verb = text(start..<index) else { return nil }
                message = WireMessage(verb)
            } else {
                guard let separator, let key = text(start..<separator), let value = text((separator + 1)..<index)
                else { return nil }
                message!.fields.append((key, value))
            }
        }
        return message
    }
}

public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        append(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func append(_ bytes: [UInt8], to out: inout [UInt8]) {
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
