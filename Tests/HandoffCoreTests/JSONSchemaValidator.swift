import Foundation

/// A JSON value as parsed from text, keeping integers apart from other numbers.
indirect enum JSONValue: Decodable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int64)
    case unsigned(UInt64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var values: [String: JSONValue] = [:]
            for key in object.allKeys { values[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let value = try? single.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? single.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? single.decode(UInt64.self) {
            self = .unsigned(value)
        } else if let value = try? single.decode(Double.self) {
            self = .number(value)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    static func parse(_ data: Data) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: data) }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The JSON Schema type names this value has (an integral number is both `integer` and `number`).
    var types: Set<String> {
        switch self {
        case .null: return ["null"]
        case .bool: return ["boolean"]
        case .integer, .unsigned: return ["integer", "number"]
        case .number(let value): return value.rounded() == value && value.isFinite ? ["integer", "number"] : ["number"]
        case .string: return ["string"]
        case .array: return ["array"]
        case .object: return ["object"]
        }
    }

    var numeric: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .unsigned(let value): return Double(value)
        case .number(let value): return value
        default: return nil
        }
    }

    /// Equality as JSON Schema's `enum` and `const` mean it: numbers by value.
    func sameValue(as other: JSONValue) -> Bool {
        if let left = numeric, let right = other.numeric { return left == right }
        switch (self, other) {
        case (.array(let left), .array(let right)):
            return left.count == right.count && zip(left, right).allSatisfy { $0.sameValue(as: $1) }
        case (.object(let left), .object(let right)):
            return Set(left.keys) == Set(right.keys) && left.allSatisfy { right[$0.key]!.sameValue(as: $0.value) }
        default:
            return self == other
        }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return "\(value)"
        case .integer(let value): return "\(value)"
        case .unsigned(let value): return "\(value)"
        case .number(let value): return "\(value)"
        case .string(let value): return "\"\(value)\""
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .object(let values):
            return "{" + values.keys.sorted().map { "\"\($0)\": \(values[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}

/// A small JSON Schema (draft 2020-12) validator for the keywords docs/report.schema.json uses:
/// `type` (a name or an array of names, with `integer`, `number` and `null`), `properties`, `required`,
/// `additionalProperties` (false or a schema), `items`, `enum`, `const`, `$ref` to `#/$defs/NAME`, `minimum`.
/// Annotations (`$schema`, `title`, `description`, `format`, `$comment`) are ignored; any other keyword is
/// an error in the schema, so that the schema cannot silently rely on something this does not check.
struct JSONSchemaValidator {
    struct SchemaError: Error, CustomStringConvertible {
        var description: String
    }

    static let annotations: Set<String> = ["$schema", "$id", "title", "description", "format", "$comment", "$defs"]
    static let assertions: Set<String> = ["type", "properties", "required", "additionalProperties", "items", "enum",
                                          "const", "$ref", "minimum"]

    let root: JSONValue

    init(schema: JSONValue) { root = schema }

    init(schemaFile path: String) throws {
        root = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Every violation, each as `PATH: what is wrong` (an empty list means valid).
    func validate(_ instance: JSONValue) throws -> [String] {
        var errors: [String] = []
        try check(instance, against: root, at: "$", errors: &errors)
        return errors
    }

    func validate(_ data: Data) throws -> [String] { try validate(try JSONValue.parse(data)) }

    private func resolve(_ reference: String) throws -> JSONValue {
        let prefix = "#/$defs/"
        guard reference.hasPrefix(prefix), case .object(let top) = root, case .object(let definitions)? = top["$defs"],
            let target = definitions[String(reference.dropFirst(prefix.count))]
        else { throw SchemaError(description: "unresolvable $ref \(reference)") }
        return target
    }

    private func check(_ value: JSONValue, against schema: JSONValue, at path: String, errors: inout [String]) throws {
        if case .bool(let allowed) = schema {
            if !allowed { errors.append("\(path): not allowed") }
            return
        }
        guard case .object(let keywords) = schema else { throw SchemaError(description: "schema at \(path) is not an object") }
        for key in keywords.keys where !Self.annotations.contains(key) && !Self.assertions.contains(key) {
            throw SchemaError(description: "unsupported keyword \(key) at \(path)")
        }
        if case .string(let reference)? = keywords["$ref"] {
            try check(value, against: try resolve(reference), at: path, errors: &errors)
        }
        if let type = keywords["type"] {
            let names: [String]
            switch type {
            case .string(let name): names = [name]
            case .array(let list): names = list.compactMap { if case .string(let name) = $0 { return name } else { return nil } }
            default: throw SchemaError(description: "bad type at \(path)")
            }
            if value.types.isDisjoint(with: names) {
                errors.append("\(path): expected \(names.joined(separator: " or ")), found \(value)")
                return
            }
        }
        if case .array(let options)? = keywords["enum"], !options.contains(where: { $0.sameValue(as: value) }) {
            errors.append("\(path): \(value) is not one of \(JSONValue.array(options))")
        }
        if let constant = keywords["const"], !constant.sameValue(as: value) {
            errors.append("\(path): expected \(constant), found \(value)")
        }
        if let minimum = keywords["minimum"]?.numeric, let number = value.numeric, number < minimum {
            errors.append("\(path): \(value) is below the minimum \(minimum)")
        }
        if case .object(let members) = value {
            var properties: [String: JSONValue] = [:]
            if case .object(let declared)? = keywords["properties"] { properties = declared }
            if case .array(let required)? = keywords["required"] {
                for case .string(let name) in required where members[name] == nil {
                    errors.append("\(path): missing required property \(name)")
                }
            }
            for name in members.keys.sorted() {
                if let property = properties[name] {
                    try check(members[name]!, against: property, at: "\(path).\(name)", errors: &errors)
                } else if let additional = keywords["additionalProperties"] {
                    if case .bool(false) = additional {
                        errors.append("\(path): unexpected property \(name)")
                    } else {
                        try check(members[name]!, against: additional, at: "\(path).\(name)", errors: &errors)
                    }
                }
            }
        }
        if case .array(let elements) = value, let items = keywords["items"] {
            for (index, element) in elements.enumerated() {
                try check(element, against: items, at: "\(path)[\(index)]", errors: &errors)
            }
        }
    }
}
