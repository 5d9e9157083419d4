// `handoff matrix FILE.yaml`: which environments to run the same scenarios in. Each entry says what a
// `handoff run` would be told (--in with its options, --kernel, --agent), so the plan is checked here with
// the same rules and every mistake is reported at its file:line:column before anything runs.

import Foundation
import Yams

/// One column of the matrix: a name and the `handoff run` options that make the environment.
public struct MatrixEnvironment: Sendable, Equatable {
    public var name: String
    /// Where the name was written, for messages about this environment.
    public var location: SourceLocation
    public var runIn: RunEnvironment?
    public var kernel: String?
    public var agent: String?
    public var agentEnvironment: [String]
    /// An environment that may be unavailable here (a kernel not fetched, a runtime not installed) without
    /// failing the matrix: it is still reported, with the reason.
    public var optional: Bool

    /// The options of `handoff run` that make this environment (after the scenario paths).
    public var runArguments: [String] {
        var arguments: [String] = []
        if let runIn {
            arguments += ["--in", runIn.name.rawValue]
            if !runIn.seccompDeny.isEmpty { arguments += ["--seccomp-deny", runIn.seccompDeny.joined(separator: ",")] }
            for capability in runIn.dropCapabilities { arguments += ["--drop-cap", capability] }
            if let nofile = runIn.nofile { arguments += ["--nofile", String(nofile)] }
        }
        if let kernel { arguments += ["--kernel", kernel] }
        if let agent { arguments += ["--agent", agent] }
        for variable in agentEnvironment { arguments.append("--agent-env=" + variable) }  // "=": a value may start with "-"
        return arguments
    }
}

/// A parsed matrix file.
public struct MatrixPlan: Sendable, Equatable {
    public var file: String
    /// Scenario files or directories; relative ones are taken from the matrix file's folder (default:
    /// `scenarios` there), so a plan means the same wherever handoff is started.
    public var scenarios: [String]
    public var filter: String?
    public var tags: [String]
    public var jobs: Int?
    public var timeout: Double?
    public var environments: [MatrixEnvironment]

    /// More columns than anyone reads, and a bound on what a hostile file can make handoff start.
    public static let maximumEnvironments = 64

    public static func load(_ path: String) throws(ScenarioError) -> MatrixPlan {
        // ReportFiles.read refuses a directory, a FIFO or a device with the reason; Foundation's reader said
        // "NSCocoaErrorDomain error 256", "You don't have permission" and, for bytes that are not UTF-8, "The
        // file isn't in the correct format".
        let bytes: [UInt8]
        do {
            bytes = try ReportFiles.read(path, what: "a matrix file (YAML)")
        } catch {
            throw ScenarioError(SourceLocation(file: path, line: 1, column: 1), error.reason)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let offset = firstInvalidUTF8(bytes) ?? 0
            throw ScenarioError(SourceLocation(file: path, offset: offset, in: bytes),
                                "the matrix file is not valid UTF-8 (byte 0x" + String(bytes[offset], radix: 16) + " at offset \(offset))")
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws(ScenarioError) -> MatrixPlan {
        let context = YAMLContext(file: file)
        guard let root = try context.compose(yaml) else {
            throw ScenarioError(SourceLocation(file: file, line: 1, column: 1),
                                "empty matrix file: expected a mapping with 'environments'")
        }
        var plan = MatrixPlan(file: file, scenarios: ["scenarios"], filter: nil, tags: [], jobs: nil, timeout: nil,
                              environments: [])
        var environmentsNode: Node?
        for (keyNode, value) in try context.mapping(root, "the matrix file") {
            switch try context.key(keyNode, in: "the matrix file") {
            case "scenarios":
                plan.scenarios = try context.sequence(value, "scenarios").map { node throws(ScenarioError) in
                    try context.string(node, "a scenario file or directory")
                }
                if plan.scenarios.isEmpty { throw context.error(value, "scenarios: expected at least one path") }
            case "filter": plan.filter = try context.string(value, "filter")
            case "tags":
                plan.tags = try context.sequence(value, "tags").map { node throws(ScenarioError) in try context.string(node, "a tag") }
            case "jobs": plan.jobs = try context.integer(value, "jobs", in: 1...256)
            case "timeout":
                let seconds: Double?
                switch context.kind(value) {
                case .int: seconds = Double(try context.integer(value, "timeout"))
                case .float: seconds = value.float
                default: seconds = nil
                }
                guard let seconds, seconds > 0, seconds <= Scenario.maximumTimeout else {  // false for NaN and infinity
                    throw context.error(value, "expected a number of seconds greater than 0 and at most "
                        + "\(Int(Scenario.maximumTimeout)) (a day) for 'timeout', found \(context.describe(value))")
                }
                plan.timeout = seconds
            case "environments": environmentsNode = value
            case let other:
                throw context.error(keyNode, "unknown key '\(other)' in the matrix file (expected scenarios, filter, tags, jobs, timeout, environments)")
            }
        }
        let folder = (file as NSString).deletingLastPathComponent
        plan.scenarios = plan.scenarios.map { path in
            path.hasPrefix("/") || folder.isEmpty ? path : (folder as NSString).appendingPathComponent(path)
        }
        guard let environmentsNode else {
            throw context.error(root, "missing required key 'environments' (a list of environments to run in)")
        }
        let entries = try context.sequence(environmentsNode, "environments")
        if entries.isEmpty { throw context.error(environmentsNode, "environments: expected at least one environment") }
        if entries.count > maximumEnvironments {
            throw context.error(environmentsNode, "environments: at most \(maximumEnvironments), not \(entries.count)")
        }
        for entry in entries {
            let environment = try parseEnvironment(entry, context)
            if let earlier = plan.environments.first(where: { $0.name == environment.name }) {
                throw ScenarioError(environment.location, "environment name '\(environment.name)' is used twice (first at line \(earlier.location.line))")
            }
            plan.environments.append(environment)
        }
        return plan
    }

    static func parseEnvironment(_ node: Node, _ context: YAMLContext) throws(ScenarioError) -> MatrixEnvironment {
        var name: String?
        var location = context.location(node)
        var runIn: String?
        var seccompDeny: [String] = [], dropCapabilities: [String] = []
        var nofile: Int?
        var environment = MatrixEnvironment(name: "", location: location, runIn: nil, kernel: nil, agent: nil,
                                            agentEnvironment: [], optional: false)
        var inNode: Node?
        func strings(_ value: Node, _ what: String) throws(ScenarioError) -> [String] {
            if case .scalar = value { return [try context.string(value, what)] }
            return try context.sequence(value, what).map { item throws(ScenarioError) in try context.string(item, what) }
        }
        for (keyNode, value) in try context.mapping(node, "an environment") {
            switch try context.key(keyNode, in: "an environment") {
            case "name":
                let text = try context.string(value, "name")
                // "." and ".." would name the matrix's own folder or its parent: the environment's reports went there.
                guard !text.isEmpty, text.count <= 64, text != ".", text != "..",
                    text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-+".contains($0)) })
                else {
                    throw context.error(value, "name: expected 1 to 64 letters, digits, '.', '_', '-' or '+', other than '.' "
                        + "and '..' (it names a report folder), not '\(text)'")
                }
                name = text
                location = context.location(value)
            case "in":
                runIn = try context.string(value, "in")
                inNode = value
            case "seccomp-deny": seccompDeny = try strings(value, "a system call name")
            case "drop-cap": dropCapabilities = try strings(value, "a capability")
            case "nofile": nofile = try context.integer(value, "nofile")
            case "kernel": environment.kernel = try context.string(value, "kernel (a version such as 6.1, or a path)")
            case "agent": environment.agent = try context.string(value, "agent")
            case "agent-env":
                environment.agentEnvironment = try strings(value, "NAME=VALUE")
                for variable in environment.agentEnvironment where !variable.contains("=") || variable.hasPrefix("=") {
                    throw context.error(value, "agent-env: expected NAME=VALUE, not '\(variable)'")
                }
            case "optional": environment.optional = try context.bool(value, "optional")
            case let other:
                throw context.error(keyNode, "unknown key '\(other)' in an environment (expected name, in, seccomp-deny, drop-cap, nofile, kernel, agent, agent-env, optional)")
            }
        }
        guard let name else { throw context.error(node, "an environment needs a 'name'") }
        environment.name = name
        environment.location = location
        if runIn == nil && (!seccompDeny.isEmpty || !dropCapabilities.isEmpty || nofile != nil) {
            throw context.error(node, "seccomp-deny, drop-cap and nofile apply to an environment with 'in'")
        }
        if let runIn, let inNode {
            if environment.kernel != nil { throw context.error(inNode, "'in' and 'kernel' cannot be combined (a kernel runs the suite in its own guest)") }
            switch RunEnvironment.parse(name: runIn, seccompDeny: seccompDeny, dropCapabilities: dropCapabilities, nofile: nofile) {
            case .success(let parsed): environment.runIn = parsed
            // The option messages name `--seccomp-deny`, `--nofile`: here they are keys.
            case .failure(let error): throw context.error(inNode, "\(error)".replacingOccurrences(of: "--", with: ""))
            }
        }
        return environment
    }
}
