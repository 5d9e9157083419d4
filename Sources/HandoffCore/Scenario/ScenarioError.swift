/// A scenario file that cannot run: malformed YAML, an unknown key, a wrong type, an unknown process or
/// descriptor name, a step in a process that has exited. Always names the place and what was expected.
public struct ScenarioError: Error, Equatable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = Self.bounded(message)
    }

    public var description: String { "\(location): error: \(message)" }

    /// The longest message kept whole. Messages quote what the file says, and one scalar may be a megabyte:
    /// `as: ["%%%…"]` printed a 1 MB error line. Past this the middle gives way to a count, keeping the start
    /// (what is wrong) and the end (what was expected), whatever the message.
    static let maximumMessage = 1000

    static func bounded(_ message: String) -> String {
        let length = message.count
        guard length > maximumMessage else { return message }
        let kept = maximumMessage / 2
        return message.prefix(kept) + "... (\(length - 2 * kept) characters left out) ..." + message.suffix(kept)
    }
}
