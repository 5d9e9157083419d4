// Bounds what YAML aliases, or a large file's sheer number of nodes, can make of a file before Yams composes it.

import CYaml

/// A YAML alias stands for its whole anchored node, so a few lines of anchors that each repeat the previous
/// one nine times ("billion laughs") stand for 9^9 nodes. Yams shares the nodes rather than copying them, but
/// it hashes and compares every mapping key to find duplicates: a key that is such an alias (`? *bomb`) kept
/// Yams.compose busy for minutes before the scenario parser saw anything. This walks libyaml's events once
/// (linear in the text), counting the nodes of the first document with every alias expanded.
///
/// A large file without aliases is walked too: Yams keeps about 150 bytes per node (a 14 MB file of short
/// lists took 950 MB to compose), so the file-size limit alone lets one file take a gigabyte, and the
/// runner parses files in parallel.
enum NodeBound {
    /// Far above any scenario: the largest of the catalog has a few thousand nodes, and a 1 MB file written
    /// out by hand at most about 500,000.
    static let maximumNodes = 1_000_000
    /// Below this a file cannot reach `maximumNodes` without aliases (a node takes at least two bytes), so
    /// the catalog's files (under 70 kB) are not parsed twice.
    static let walkedWithoutAliasesBytes = 1 << 20

    /// Where the document passes `maximumNodes`, and whether aliases took it there.
    struct Excess: Equatable {
        var line: Int
        var column: Int
        var byAliases: Bool
    }

    /// The 1-based line and column of the node (an alias, or any node of a large file) that takes the
    /// document past `maximumNodes`, or nil. Syntax errors are left to the composer, which reports them with
    /// its context.
    static func excess(_ yaml: String) -> Excess? {
        // Without a `*` there is no alias, and a small file has too few nodes to matter.
        let asterisk = UInt8(ascii: "*")
        let mayAlias = yaml.utf8.withContiguousStorageIfAvailable { $0.contains(asterisk) } ?? yaml.utf8.contains(asterisk)
        guard mayAlias || yaml.utf8.count >= walkedWithoutAliasesBytes else { return nil }
        var bytes = Array(yaml.utf8)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        return bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            return walk(&parser)
        }
    }

    private static func walk(_ parser: inout yaml_parser_t) -> Excess? {
        // Nodes of the anchored collections and scalars, expanded.
        var sizes: [String: Int] = [:]
        // The open collections: their anchor and `counted` when they began.
        var open: [(anchor: String?, start: Int)] = []
        // The nodes so far, every alias counted as the nodes it stands for: never more than `maximumNodes`,
        // so neither the sizes nor the sums overflow.
        var counted = 0
        var aliased = false
        func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }
        var event = yaml_event_t()
        while yaml_parser_parse(&parser, &event) == 1 {
            defer { yaml_event_delete(&event) }
            var nodes = 1
            switch event.type {
            case YAML_STREAM_END_EVENT, YAML_DOCUMENT_END_EVENT:
                return nil  // Yams composes the first document only, and refuses a second
            case YAML_SCALAR_EVENT:
                if let anchor = name(event.data.scalar.anchor) { sizes[anchor] = 1 }
            case YAML_ALIAS_EVENT:
                // An undefined alias is the composer's to report.
                nodes = name(event.data.alias.anchor).flatMap { sizes[$0] } ?? 1
                aliased = true
            case YAML_SEQUENCE_START_EVENT:
                open.append((name(event.data.sequence_start.anchor), counted))
            case YAML_MAPPING_START_EVENT:
                open.append((name(event.data.mapping_start.anchor), counted))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                nodes = 0
                if let collection = open.popLast(), let anchor = collection.anchor {
                    sizes[anchor] = counted - collection.start
                }
            default:
                nodes = 0
            }
            guard nodes <= maximumNodes - counted else {
                return Excess(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1,
                              byAliases: aliased)
            }
            counted += nodes
        }
        return nil  // a syntax error: the composer reports it with its context
    }
}
