// Reading typed values out of YAML nodes, each error naming file:line:column and what was expected there.

import Yams

/// The YAML-level type of a node, as the scenario format sees it.
enum NodeKind {
    case string, int, float, bool, null, mapping, sequence, alias
}

struct YAMLContext {
    let file: String

    func location(_ node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0)
    }

    func error(_ node: Node, _ message: String) -> ScenarioError {
        ScenarioError(location(node), message)
    }

    func malformed(_ error: YamlError) -> ScenarioError {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "malformed YAML: \(Self.plain(problem))"
            if let context {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return ScenarioError(at(mark), message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            // Yams marks the mapping; the second occurrence of the key is what the author must look at.
            if let key = duplicates.first, let (first, second) = Self.occurrences(of: key, in: context.text, after: context.mark) {
                return ScenarioError(SourceLocation(file: file, line: second.line, column: second.column),
                                     "malformed YAML: duplicate key '\(key)' in a mapping (first at line \(first.line), "
                                        + "column \(first.column))")
            }
            return ScenarioError(at(context.mark), "malformed YAML: duplicate key \(keys) in a mapping")
        case .reader(let problem, let offset, _, let yaml):
            let location = SourceLocation(file: file, offset: offset ?? 0, in: Array(yaml.utf8))
            return ScenarioError(location, "malformed YAML: \(problem)")
        default:
            return ScenarioError(SourceLocation(file: file, line: 1, column: 1), "malformed YAML: \(error)")
        }
    }

    /// libyaml's problem in the file's terms: its nesting limit is worded for a programmer ("Maximum nesting
    /// level reached, set with yaml_set_max_nest_level())"), which tells a scenario's author nothing.
    static func plain(_ problem: String) -> String {
        guard problem.hasPrefix("Maximum nesting level reached") else { return problem }
        // libyaml's MAX_NESTING_LEVEL, which Yams leaves at its default.
        return "lists and mappings nested more than 1000 deep (expected at most 1000 levels)"
    }

    /// The first two places, at or after `mark`, where `key` is written as a mapping key (`key:`, `"key":` or
    /// `'key':` after the start of a line, a space, `{` or `,`): 1-based lines and columns. The spellings may
    /// differ between the two (a plain `fd` and a quoted `"fd"` are one key).
    static func occurrences(of key: String, in text: String, after mark: Mark) -> ((line: Int, column: Int), (line: Int, column: Int))? {
        var found: [(line: Int, column: Int)] = []
        let spellings = [Array(key), Array("\"\(key)\""), Array("'\(key)'")]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where number + 1 >= mark.line {
            let characters = Array(line)
            var column = 0
            while column < characters.count {
                let before = column == 0 ? " " : characters[column - 1]
                if (before == " " || before == "{" || before == "," || before == "-") && (number + 1 > mark.line || column + 1 >= mark.column) {
                    for spelling in spellings where column + spelling.count <= characters.count
                        && Array(characters[column..<(column + spelling.count)]) == spelling
                    {
                        var after = column + spelling.count
                        while after < characters.count && characters[after] == " " { after += 1 }
                        if after < characters.count && characters[after] == ":" {
                            found.append((number + 1, column + 1))
                            if found.count == 2 { return (found[0], found[1]) }
                            break
                        }
                    }
                }
                column += 1
            }
        }
        return nil
    }

    /// Composes a document without Yams's regular-expression resolver (PlainScalar says why) and with the
    /// encoding given (Parser.Encoding.default reads the environment on every call), once its nodes, aliases
    /// expanded, are known to stay within a bound (NodeBound). Nil for a file without a document.
    func compose(_ yaml: String) throws(ScenarioError) -> Node? {
        if let excess = NodeBound.excess(yaml) {
            let location = SourceLocation(file: file, line: excess.line, column: excess.column)
            if excess.byAliases {
                throw ScenarioError(location, "malformed YAML: aliases expand the document past \(NodeBound.maximumNodes) nodes "
                                        + "(expected a scenario whose anchors do not multiply it)")
            }
            throw ScenarioError(location, "the document has more than \(NodeBound.maximumNodes) nodes "
                                    + "(expected a scenario file of at most that many lists, mappings and values)")
        }
        do {
            return try Yams.compose(yaml: yaml, .basic, .default, .utf8)
        } catch let error as YamlError {
            throw malformed(error)
        } catch {
            throw ScenarioError(SourceLocation(file: file, line: 1, column: 1), "malformed YAML: \(error)")
        }
    }

    func kind(_ node: Node) -> NodeKind {
        switch node {
        case .mapping: return .mapping
        case .sequence: return .sequence
        case .alias: return .alias
        case .scalar(let scalar):
            if scalar.style != .plain && scalar.style != .any { return .string }
            // An implicit tag (no `!!int` written): what the text looks like, as Yams's default rules say.
            if scalar.tag.rawValue == Tag.Name.implicit.rawValue { return PlainScalar.kind(of: scalar.string) }
            switch scalar.tag.rawValue {
            case Tag.Name.int.rawValue: return .int
            case Tag.Name.float.rawValue: return .float
            case Tag.Name.bool.rawValue: return .bool
            case Tag.Name.null.rawValue: return .null
            default: return .string
            }
        }
    }

    /// How a found node is shown in "expected X, found Y".
    func describe(_ node: Node) -> String {
        switch kind(node) {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .null: return "nothing"
        case .string: return "\"\(node.scalar?.string ?? "")\""
        case .int, .float, .bool: return node.scalar?.string ?? "?"
        }
    }

    func string(_ node: Node, _ what: String) throws(ScenarioError) -> String {
        guard kind(node) == .string, let string = node.scalar?.string else {
            var hint = ""
            if [.int, .float, .bool, .null].contains(kind(node)), let raw = node.scalar?.string, !raw.isEmpty {
                hint = " (quote it: \"\(raw)\")"
            }
            throw error(node, "expected a string for \(what), found \(describe(node))\(hint)")
        }
        return string
    }

    /// Bytes to write or expect: a string's UTF-8 bytes, or `{hex: "ff 00 7f"}` for any bytes (a YAML escape
    /// such as "\xff" is the character U+00FF, two bytes in UTF-8: an eventfd's 2^64-1 could not be written).
    func bytes(_ node: Node, _ what: String) throws(ScenarioError) -> [UInt8] {
        guard case .mapping(let mapping) = node else { return Array(try string(node, what).utf8) }
        guard mapping.count == 1, let (key, value) = mapping.first, key.string == "hex" else {
            throw error(node, "expected a string or {hex: \"...\"} for \(what), found \(describe(node))")
        }
        let text = try string(value, "\(what) in hex")
        var digits: [UInt8] = []
        for scalar in text.unicodeScalars {
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == ":" || scalar == "_" { continue }
            guard let digit = UInt8(String(scalar), radix: 16) else {
                throw error(value, "\(what) in hex holds '\(scalar)', not a hex digit (0-9, a-f; spaces, ':' and '_' may separate bytes)")
            }
            digits.append(digit)
        }
        guard digits.count % 2 == 0 else {
            throw error(value, "\(what) in hex has an odd number of digits (\(digits.count)): two per byte")
        }
        return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }

    /// A string the kernel reads as a C string: a path, a name, an exec argument or environment entry. The
    /// agent's C call ends it at a NUL byte while the model keeps the whole text, so a path of "a\0b" created
    /// `a` and the run reported the kernel for a difference the file made.
    func cString(_ node: Node, _ what: String) throws(ScenarioError) -> String {
        let text = try string(node, what)
        try rejectNUL(text, node, what)
        return text
    }

    func rejectNUL(_ text: String, _ node: Node, _ what: String) throws(ScenarioError) {
        if text.utf8.contains(0) {
            throw error(node, "expected a text without NUL bytes for \(what): the system call reads it as a C string, "
                + "which ends at the first NUL (\\0)")
        }
    }

    func integer(_ node: Node, _ what: String) throws(ScenarioError) -> Int {
        guard kind(node) == .int, let scalar = node.scalar else {
            throw error(node, "expected an integer for \(what), found \(describe(node))")
        }
        guard let value = PlainScalar.integer(scalar.string) else {
            // Only a tag (`!!int abc`) makes an int of what the int rule does not read as one.
            guard PlainScalar.isInt(Array(scalar.string.utf8)[...]) else {
                throw error(node, "expected an integer for \(what), found \(describe(node)) (tagged !!int)")
            }
            throw error(node, "integer \(scalar.string) for \(what) is out of range")
        }
        return value
    }

    func integer(_ node: Node, _ what: String, in range: ClosedRange<Int>) throws(ScenarioError) -> Int {
        let value = try integer(node, what)
        guard range.contains(value) else {
            throw error(node, "\(what) must be \(describe(range)), found \(value)")
        }
        return value
    }

    private func describe(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "at least \(range.lowerBound)" }
        return "between \(range.lowerBound) and \(range.upperBound)"
    }

    func bool(_ node: Node, _ what: String) throws(ScenarioError) -> Bool {
        guard kind(node) == .bool, let value = node.bool else {
            throw error(node, "expected true or false for \(what), found \(describe(node))")
        }
        return value
    }

    func sequence(_ node: Node, _ what: String) throws(ScenarioError) -> [Node] {
        guard case .sequence(let sequence) = node else {
            throw error(node, "expected a list for \(what), found \(describe(node))")
        }
        return Array(sequence)
    }

    func mapping(_ node: Node, _ what: String) throws(ScenarioError) -> [(key: Node, value: Node)] {
        guard case .mapping(let mapping) = node else {
            throw error(node, "expected a mapping for \(what), found \(describe(node))")
        }
        return mapping.map { (key: $0.key, value: $0.value) }
    }

    /// A mapping key, which the format always spells as a plain string.
    func key(_ node: Node, in what: String) throws(ScenarioError) -> String {
        guard let scalar = node.scalar, kind(node) != .null else {
            throw error(node, "expected a key name in \(what), found \(describe(node))")
        }
        return scalar.string
    }

    /// A process or descriptor name: `[A-Za-z_][A-Za-z0-9_-]*`.
    func identifier(_ node: Node, _ what: String) throws(ScenarioError) -> String {
        guard let scalar = node.scalar, kind(node) != .null else {
            throw error(node, "expected a name for \(what), found \(describe(node))")
        }
        let name = scalar.string
        guard ScenarioDecoder.isIdentifier(name) else {
            throw error(node, "invalid name \(describe(node)) for \(what) "
                + "(a name starts with a letter or '_' and continues with letters, digits, '_' or '-')")
        }
        return name
    }

    /// A list of names from a fixed set, e.g. flags.
    func keywords(_ node: Node, _ what: String, allowed: [String]) throws(ScenarioError) -> [String] {
        var result: [String] = []
        for item in try sequence(node, what) {
            let word = try string(item, "an element of \(what)")
            guard allowed.contains(word) else {
                throw error(item, "unknown value '\(word)' in \(what) (expected some of: \(allowed.joined(separator: ", ")))")
            }
            result.append(word)
        }
        return result
    }

    func keyword(_ node: Node, _ what: String, allowed: [String]) throws(ScenarioError) -> String {
        let word = try string(node, what)
        guard allowed.contains(word) else {
            throw error(node, "unknown value '\(word)' for \(what) (expected one of: \(allowed.joined(separator: ", ")))")
        }
        return word
    }

    /// A descriptor reference: an integer, a name, `{argv: N}` or `{limit: OFFSET}`.
    func descriptor(_ node: Node, _ what: String, allowArgument: Bool = true) throws(ScenarioError) -> DescriptorRef {
        let expected = allowArgument
            ? "a descriptor for \(what) (a number, a name, {argv: N} or {limit: OFFSET})"
            : "a descriptor for \(what) (a number or a name, or {limit: OFFSET})"
        switch kind(node) {
        case .int:
            let value = try integer(node, what, in: Int(Int32.min)...Int(Int32.max))
            return .number(Int32(value))
        case .string, .bool:
            let name = node.scalar?.string ?? ""
            guard ScenarioDecoder.isIdentifier(name) else {
                throw error(node, "expected \(expected), found \(describe(node))")
            }
            return .name(name)
        case .mapping:
            let pairs = try mapping(node, what)
            let name = pairs.count == 1 ? try? key(pairs[0].key, in: what) : nil
            if name == "limit" {
                return .limit(offset: Int32(try integer(pairs[0].value, "'limit'", in: -1_000_000...1_000_000)))
            }
            if name == "argv" && !allowArgument {
                // The target of dup2/dup3 is a number in the acting table; an argument names one passed in.
                throw error(node, "{argv: N} is not allowed for \(what): expected a number, a name or {limit: OFFSET}")
            }
            guard name == "argv" else {
                throw error(node, "expected \(expected), found a mapping other than "
                    + (allowArgument ? "{argv: N} or {limit: OFFSET}" : "{limit: OFFSET}"))
            }
            return .argument(try integer(pairs[0].value, "'argv'", in: 1...Int.max))
        default:
            throw error(node, "expected \(expected), found \(describe(node))")
        }
    }
}
