/// The progress line `handoff run` keeps on a terminal's stderr: `[done/total] passed P failed F skipped S`,
/// rewritten in place after each scenario and cleared at the end. Never in CI logs or when stdout is not a
/// terminal (a file, a pipe).
public struct ProgressLine: Sendable {
    public let total: Int
    public private(set) var done = 0
    public private(set) var passed = 0
    /// Failures, errors and timeouts, as the closing line counts them.
    public private(set) var failed = 0
    public private(set) var skipped = 0

    public init(total: Int) { self.total = total }

    /// Whether to show it: stdout is a terminal and `CI` is unset (or empty).
    public static func enabled(stdoutIsTerminal: Bool, environment: [String: String]) -> Bool {
        stdoutIsTerminal && (environment["CI"] ?? "").isEmpty
    }

    public mutating func record(_ status: ScenarioStatus) {
        done += 1
        switch status {
        case .pass: passed += 1
        case .skip: skipped += 1
        case .fail, .error, .timeout: failed += 1
        }
    }

    /// The line, starting with a carriage return so that it overwrites the previous one.
    public var text: String { "\r[\(done)/\(total)] passed \(passed) failed \(failed) skipped \(skipped)" }

    /// Returns to the start of the line and erases it (before other output, and at the end).
    public static let clear = "\r\u{1B}[K"
}
