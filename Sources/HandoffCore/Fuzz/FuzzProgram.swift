// A random scenario as the fuzzer builds, runs and shrinks it: a list of steps (process, operation, arguments)
// that renders to scenario YAML, one step per line. The rendered text goes through the same parser and
// validator as a hand-written file, so what `handoff run` reads back from a repro is exactly what ran.

/// An argument's value as YAML flow syntax writes it.
public indirect enum FuzzValue: Sendable, Equatable {
    /// A plain scalar: a name, a keyword, a number as text.
    case word(String)
    case integer(Int64)
    case bool(Bool)
    /// A double-quoted string (bytes escaped).
    case text([UInt8])
    case list([FuzzValue])
    case map([FuzzArgument])

    var yaml: String {
        switch self {
        case .word(let word): return word
        case .integer(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        case .text(let bytes): return Self.quoted(bytes)
        case .list(let items): return "[" + items.map(\.yaml).joined(separator: ", ") + "]"
        case .map(let entries): return "{" + entries.map(\.yaml).joined(separator: ", ") + "}"
        }
    }

    /// A YAML double-quoted scalar whose UTF-8 is exactly `bytes` (non-ASCII and control bytes as \xNN, which
    /// YAML reads as that code point; only bytes below 0x80 are generated).
    static func quoted(_ bytes: [UInt8]) -> String {
        var result = "\""
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): result += "\\\""
            case UInt8(ascii: "\\"): result += "\\\\"
            case 0x20..<0x7F: result.append(Character(Unicode.Scalar(byte)))
            default: result += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return result + "\""
    }

    /// A shorter value of the same type, for shrinking: a list without one element (at `index`).
    func dropping(_ index: Int) -> FuzzValue? {
        guard case .list(var items) = self, items.indices.contains(index) else { return nil }
        items.remove(at: index)
        return .list(items)
    }
}

public struct FuzzArgument: Sendable, Equatable {
    public var key: String
    public var value: FuzzValue

    public init(_ key: String, _ value: FuzzValue) {
        self.key = key
        self.value = value
    }

    var yaml: String { key + ": " + value.yaml }
}

public struct FuzzStep: Sendable, Equatable {
    public var process: String
    public var kind: OperationKind
    public var arguments: [FuzzArgument]
    /// `background: true`: sent without waiting; the process takes no step until its await.
    public var background = false
    /// `PROCESS.await:` of the process's background step (`kind` is that step's).
    public var awaits = false

    public init(_ process: String, _ kind: OperationKind, _ arguments: [FuzzArgument] = []) {
        self.process = process
        self.kind = kind
        self.arguments = arguments
    }

    /// The await of `process`'s background step of `kind`.
    static func await(_ process: String, _ kind: OperationKind) -> FuzzStep {
        var step = FuzzStep(process, kind)
        step.awaits = true
        return step
    }

    var yaml: String {
        if awaits { return "  - \(process).await:" }
        let written = arguments + (background ? [FuzzArgument("background", .bool(true))] : [])
        return "  - \(process).\(kind.keyword): {" + written.map(\.yaml).joined(separator: ", ") + "}"
    }

    /// The process this step creates (`fork`, `clone_files` with `as:`).
    var createdProcess: String? {
        guard kind.declaration.binds == .process, case .word(let name)? = arguments.first(where: { $0.key == "as" })?.value
        else { return nil }
        return name
    }

    /// Every process name the step mentions: its actor and process-valued arguments.
    var processes: Set<String> {
        var names: Set<String> = [process]
        for argument in arguments where kind.declaration.arguments.contains(where: { $0.key == argument.key && $0.type == .process }) {
            if case .word(let name) = argument.value { names.insert(name) }
        }
        return names
    }
}

/// One generated scenario: its steps and the seed that generated it.
public struct FuzzProgram: Sendable, Equatable {
    public var seed: UInt64
    public var steps: [FuzzStep]

    public init(seed: UInt64, steps: [FuzzStep]) {
        self.seed = seed
        self.steps = steps
    }

    /// The lines before the first step; a finding's line minus this is the step's index + 1.
    static let headerLines = 4

    /// The scenario file. `summary` is one line; `comments` go above it.
    public func yaml(summary: String, comments: [String] = []) -> String {
        var text = comments.map { "# " + $0 + "\n" }.joined()
        text += "summary: " + FuzzValue.quoted(Array(summary.utf8)) + "\n"
        text += "tags: [fuzz]\n"
        text += "timeout: 10\n"
        text += "steps:\n"
        for step in steps { text += step.yaml + "\n" }
        return text
    }

    /// The step index a finding at `line` of `yaml(...)` (with `commentLines` comment lines) refers to.
    func stepIndex(line: Int, commentLines: Int = 0) -> Int? {
        let index = line - commentLines - Self.headerLines - 1
        return steps.indices.contains(index) ? index : nil
    }

    /// Parses the rendered program as `handoff run` would, or says why it is not a valid scenario.
    func parse(name: String) -> Result<Scenario, ScenarioError> {
        Result { () throws(ScenarioError) in try ScenarioParser.parse(yaml: yaml(summary: "fuzz"), file: name + ".yaml", name: name) }
    }

    /// The scenario, or nil when it is not one (a shrinking step removed what a later step needs).
    func scenario(name: String) -> Scenario? { try? parse(name: name).get() }
}
