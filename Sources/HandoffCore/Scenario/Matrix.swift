import Yams

/// `matrix:` - a scenario declares parameters, each with a list of values, and runs once per combination.
///
/// Substitution is textual (`${key}` anywhere in the file) so that every value is typed by YAML exactly as
/// if it had been written in place, and line numbers stay those of the file.
enum Matrix {
    /// The most cases one file may expand to: a matrix is for variants, not for generating load (a 230-byte
    /// file with eight parameters once asked for 10^8 cases and took 6 GB before anything ran).
    static let maximumCases = 1024

    /// The combinations in declaration order (the last key varies fastest); empty without a matrix.
    static func combinations(yaml: String, file: String) throws(ScenarioError) -> [[(key: String, value: String)]] {
        // Most files have no matrix, and composing them twice was a fifth of loading the catalog. A key
        // that says `matrix` holds the word, unless written with a double-quoted escape (a backslash).
        if !yaml.contains("matrix") && !yaml.contains("\\") { return [] }
        // Placeholders may sit where YAML would not parse them (`{a: ${x}}`): read the matrix from a copy
        // with each one neutralised.
        let neutral = yaml.contains("${")
            ? yaml.replacingOccurrences(of: #"\$\{[^}]*\}"#, with: "_p_", options: .regularExpression) : yaml
        let root: Node?
        do {
            root = try YAMLContext.compose(neutral)
        } catch {
            return []  // the full parse reports malformed YAML with its location
        }
        guard let root, case .mapping(let top) = root else { return [] }
        let context = YAMLContext(file: file)
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
                    throw context.error(item, "matrix values must be scalars, found \(context.describe(item))")
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
        var text = yaml
        for (key, value) in combination { text = text.replacingOccurrences(of: "${\(key)}", with: value) }
        return text
    }

    /// Every `${name}` must name a matrix parameter.
    static func rejectPlaceholders(yaml: String, file: String, known: [String]) throws(ScenarioError) {
        if !yaml.contains("${") { return }
        for (index, line) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var rest = line[...]
            while let start = rest.range(of: "${") {
                guard let end = rest[start.upperBound...].firstIndex(of: "}") else { break }
                let name = String(rest[start.upperBound..<end])
                if !known.contains(name) {
                    let column = line.distance(from: line.startIndex, to: start.lowerBound) + 1
                    let hint = known.isEmpty ? "the scenario has no 'matrix'" : "matrix parameters: \(known.joined(separator: ", "))"
                    throw ScenarioError(SourceLocation(file: file, line: index + 1, column: column),
                                        "unknown placeholder '${\(name)}' (\(hint))")
                }
                rest = rest[rest.index(after: end)...]
            }
        }
    }
}

import Foundation
