import Foundation

// Reading report.json back (`handoff merge`, `handoff compare`, a matrix's environments): a file someone
// hands over, so anything may be in it. Every refusal names the file and, where the JSON is at fault, the
// JSON path of the value and what was expected there; what decodes is checked for what the schema cannot
// say (the schema version this handoff reads, one result per scenario name).

extension RunReport {
    /// report.json at `path`, or a `ReportFiles.ReadError` naming the file and what is wrong with it.
    public static func load(_ path: String) throws(ReportFiles.ReadError) -> RunReport {
        let bytes = try ReportFiles.read(path, what: "a report.json written by handoff run")
        let report: RunReport
        do {
            report = try JSONDecoder().decode(RunReport.self, from: Data(bytes))
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty, let syntax = syntaxError(bytes) {
                throw ReportFiles.ReadError(path: path, reason: syntax)
            }
            throw ReportFiles.ReadError(path: path, reason: describe(error))
        } catch {
            throw ReportFiles.ReadError(path: path, reason: "not a report.json: \(error)")
        }
        try report.check(path)
        return report
    }

    /// What the decoder cannot see: a report of another schema version would be read with the wrong meaning,
    /// and two results under one scenario name would leave compare to keep one silently and merge to take
    /// both into one report.
    func check(_ path: String) throws(ReportFiles.ReadError) {
        guard schemaVersion == Self.currentSchemaVersion else {
            throw ReportFiles.ReadError(path: path, reason: "schemaVersion: expected \(Self.currentSchemaVersion) "
                + "(the report.json this handoff writes and reads), found \(schemaVersion)")
        }
        var seen = Set<String>()
        for (index, scenario) in scenarios.enumerated() where !seen.insert(scenario.name).inserted {
            throw ReportFiles.ReadError(path: path, reason: "scenarios[\(index)].name: scenario "
                + "'\(Console.printable(String(scenario.name.prefix(200))))' appears more than once in the report")
        }
    }

    /// A decoding failure as a reader wants it: where (`scenarios[3].steps[0].line`) and what was expected
    /// there. Foundation's own description prints coding keys as `CodingKeys(stringValue: ...)` and, for
    /// JSON that does not parse, no position at all (that is in the underlying error).
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text.isEmpty ? "the top level" : Console.printable(String(text.prefix(300)))
        }
        func detail(_ context: DecodingError.Context) -> String {
            var text = context.debugDescription
            if let underlying = context.underlyingError {
                let debug = (underlying as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
                text += " (" + (debug ?? "\(underlying)") + ")"
            }
            return Console.printable(String(text.prefix(500)))
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(jsonType(type)): \(detail(context))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(jsonType(type)), found null"
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "the top level" : path(context.codingPath)
            return "\(parent): missing required key '\(Console.printable(key.stringValue))'"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "not valid JSON: \(detail(context))" }
            return "\(path(context.codingPath)): \(detail(context))"
        @unknown default:
            return "not a report.json: \(error)"
        }
    }

    /// Where JSON that does not parse goes wrong, as line and column: JSONDecoder says only "The given data
    /// was not valid JSON"; JSONSerialization says "around character N" (a byte offset), which is turned
    /// into a line and column here. nil when it parses after all.
    static func syntaxError(_ bytes: [UInt8]) -> String? {
        let message: String
        do {
            _ = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            return nil
        } catch {
            message = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
        }
        let shown = Console.printable(String(message.prefix(300)))
        guard let range = message.range(of: "character ") else { return "not valid JSON: \(shown)" }
        let digits = message[range.upperBound...].prefix { $0.isASCII && $0.isNumber }
        guard let offset = Int(digits), offset <= bytes.count else { return "not valid JSON: \(shown)" }
        let location = SourceLocation(file: "", offset: min(offset, max(bytes.count - 1, 0)), in: bytes)
        return "not valid JSON at line \(location.line), column \(location.column): \(shown)"
    }

    /// `Int` -> `an integer`: the JSON a reader would write, not the Swift type.
    private static func jsonType(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is UInt64.Type, is Int32.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of type \(name)"
        }
    }
}
