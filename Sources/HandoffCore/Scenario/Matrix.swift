import Yams

/// `matrix:` - a scenario declares parameters, each with a list of values, and runs once per combination.
///
/// Substitution is textual (`${key}` anywhere in the file) so that every value is typed by YAML exactly as
/// if it had been written in place, and line numbers stay those of the file.
enum Matrix {
    /// The most cases one file may expand to: a matrix is for variants, not for generating load (a 230-byte
    /// file with eight parameters once asked for 10^8 cases and took 6 GB before anything ran).
    static let maximumCases = 1024
    /// The most YAML the cases of one file may give the parser, all cases together: each case is the whole
    /// file again with its values in place. A 1 MB file with a 1000-case matrix took 20 s to validate, and a
    /// 240 KB file with a 100 KB value in 20,000 placeholders asked for 2 GB (and died) before parsing any.
    static let maximumExpandedBytes = 32 << 20

    /// The combinations in declaration order (the last key varies fastest); empty without a matrix.
    static func combinations(yaml: String, file: String) throws(ScenarioError) -> [[(key: String, value: String)]] {
        // Most files have no matrix, and composing them twice was a fifth of loading the catalog. A key
        // that says `matrix` holds the word, unless written with a double-quoted escape (a backslash).
        if !mayDeclareMatrix(yaml) { return [] }
        // Placeholders may sit where YAML would not parse them (`{a: ${x}}`): read the matrix from a copy
        // with each one neutralised.
        let neutral = replacingPlaceholders(in: yaml) { _ in "_p_" }
        let context = YAMLContext(file: file)
        let root: Node?
        do {
            root = try context.compose(neutral)
        } catch {
            // Malformed YAML is the error to report, at its place in the file as written (the neutral copy's
            // columns differ where placeholders were): the placeholders' check would otherwise come first and
            // say the scenario has no matrix.
            _ = try context.compose(yaml)
            return []
        }
        guard let root, case .mapping(let top) = root else { return [] }
        guard let matrixNode = top.first(where: { $0.key.string == "matrix" })?.value else { return [] }
        guard case .mapping(let parameters) = matrixNode, !parameters.isEmpty else {
            throw context.error(matrixNode, "expected 'matrix' to map parameter names to lists of values, "
                + "e.g. {type: [stream, dgram, seqpacket]}")
        }
        var axes: [(key: String, values: [String])] = []
        for (keyNode, valueNode) in parameters {
            guard let key = keyNode.string, ScenarioDecoder.isIdentifier(key) else {
                throw context.error(keyNode, "invalid matrix parameter name \(context.describe(keyNode))")
            }
            guard case .sequence(let items) = valueNode, !items.isEmpty else {
                throw context.error(valueNode, "expected a non-empty list of values for matrix parameter '\(key)'")
            }
            var values: [String] = []
            for item in items {
                guard let value = item.scalar?.string else {
                    throw context.error(item, "matrix values must be scalars, found \(context.describe(item)) (values are "
                        + "substituted as text: quote a list, \"[cloexec]\")")
                }
                values.append(value)
            }
            axes.append((key, values))
        }
        // Counted before anything is built, with overflow in mind.
        var cases = 1
        for axis in axes {
            let (product, overflow) = cases.multipliedReportingOverflow(by: axis.values.count)
            cases = overflow ? Int.max : product
        }
        if cases > maximumCases {
            let sizes = axes.map { "\($0.key) \($0.values.count)" }.joined(separator: " x ")
            throw context.error(matrixNode, "the matrix expands to \(cases == Int.max ? "too many" : String(cases)) cases "
                + "(\(sizes)); at most \(maximumCases) per file")
        }
        // Counted before anything is built as well: the file once per case, and each placeholder's value
        // in place of the placeholder (in Double, which cannot trap: only the comparison matters).
        var uses: [String: Int] = [:]
        _ = replacingPlaceholders(in: yaml) { name in
            uses[name, default: 0] += 1
            return nil
        }
        var bytes = Double(cases) * Double(yaml.utf8.count)
        for axis in axes {
            let placeholder = Double(axis.key.utf8.count + 3)
            let values = axis.values.reduce(0.0) { $0 + Double($1.utf8.count) - placeholder }
            bytes += Double(uses[axis.key] ?? 0) * Double(cases / axis.values.count) * values
        }
        if bytes > Double(maximumExpandedBytes) {
            let count = cases == 1 ? "1 case" : "\(cases) cases"
            throw context.error(matrixNode, "the matrix's cases come to \(Int(bytes)) bytes of YAML (\(count) of the file, values "
                + "in place); at most \(maximumExpandedBytes) per file (expected fewer cases, shorter values or a smaller file)")
        }
        var result: [[(key: String, value: String)]] = [[]]
        for axis in axes {
            result = result.flatMap { prefix in axis.values.map { prefix + [(axis.key, $0)] } }
        }
        return result
    }

    static func substitute(yaml: String, file: String, _ combination: [(key: String, value: String)])
        throws(ScenarioError) -> String
    {
        try rejectPlaceholders(yaml: yaml, file: file, known: combination.map(\.key))
        let values = Dictionary(combination.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        return replacingPlaceholders(in: yaml) { values[$0] }
    }

    /// Whether the text holds the word `matrix` or a backslash, in one pass over its bytes. (The standard
    /// library's `utf8.firstRange(of:)` goes through _StringProcessing's generic searcher: 13 % of the CPU
    /// of loading the catalog, and about a second of a kernel run's start-up under emulation.)
    static func mayDeclareMatrix(_ yaml: String) -> Bool {
        let word = Array("matrix".utf8)
        let backslash = UInt8(ascii: "\\")
        func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            for index in bytes.indices {
                if bytes[index] == backslash { return true }
                if bytes[index] == word[0], index + word.count <= bytes.count,
                   bytes[index..<index + word.count].elementsEqual(word) { return true }
            }
            return false
        }
        if let found = yaml.utf8.withContiguousStorageIfAvailable(scan) { return found }
        return Array(yaml.utf8).withUnsafeBufferPointer(scan)
    }

    /// `yaml` with each `${name}` for which `replacement` has a text replaced by it, in one pass over the
    /// bytes: the inserted texts are not scanned again. (Foundation's replacingOccurrences, once per
    /// parameter and once more with a regular expression for the neutral copy, was a fifth of loading the
    /// catalog.) A `${` with no `}` after it anywhere ends the scan: nothing later can close.
    static func replacingPlaceholders(in yaml: String, _ replacement: (String) -> String?) -> String {
        let bytes = Array(yaml.utf8)
        let dollar = UInt8(ascii: "$"), open = UInt8(ascii: "{"), close = UInt8(ascii: "}")
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        var copied = 0
        while index + 1 < bytes.count {
            guard bytes[index] == dollar, bytes[index + 1] == open else {
                index += 1
                continue
            }
            guard let end = bytes[(index + 2)...].firstIndex(of: close) else { break }
            if let text = replacement(String(decoding: bytes[(index + 2)..<end], as: UTF8.self)) {
                output += bytes[copied..<index]
                output += text.utf8
                index = end + 1
                copied = index
            } else {
                index += 2
            }
        }
        if copied == 0 { return yaml }
        output += bytes[copied...]
        return String(decoding: output, as: UTF8.self)
    }

    /// Every `${name}` (closed on its own line) must name a matrix parameter.
    static func rejectPlaceholders(yaml: String, file: String, known: [String]) throws(ScenarioError) {
        let bytes = Array(yaml.utf8)
        let dollar = UInt8(ascii: "$"), open = UInt8(ascii: "{"), close = UInt8(ascii: "}"), newline = UInt8(ascii: "\n")
        var line = 1
        var lineStart = 0
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == newline {
                line += 1
                lineStart = index + 1
                index += 1
                continue
            }
            guard bytes[index] == dollar, bytes[index + 1] == open else {
                index += 1
                continue
            }
            var end = index + 2
            while end < bytes.count, bytes[end] != close, bytes[end] != newline { end += 1 }
            // Not closed on this line: the rest of the line holds no placeholder.
            guard end < bytes.count, bytes[end] == close else {
                index = end
                continue
            }
            let name = String(decoding: bytes[(index + 2)..<end], as: UTF8.self)
            if !known.contains(name) {
                let column = String(decoding: bytes[lineStart..<index], as: UTF8.self).count + 1
                let hint = known.isEmpty ? "the scenario has no 'matrix'" : "matrix parameters: \(known.joined(separator: ", "))"
                throw ScenarioError(SourceLocation(file: file, line: line, column: column),
                                    "unknown placeholder '${\(name)}' (\(hint))")
            }
            index = end + 1
        }
    }
}

import Foundation
