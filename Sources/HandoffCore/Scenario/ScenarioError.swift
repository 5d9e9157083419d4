/// A scenario file that cannot run: malformed YAML, an unknown key, a wrong type, an unknown process or
/// descriptor name, a step in a process that has exited. Always names the place and what was expected.
public struct ScenarioError: Error, Equatable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): error: \(message)" }
}
