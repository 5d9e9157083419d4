import Foundation
import Glibc
import HandoffProtocol

/// `handoff agent-check`: conformance of an agent to docs/protocol.md, separate from the kernel's. Each check
/// starts a fresh agent the way the runner does and holds its answers, and its table as /proc shows it, to
/// the contract: start-up and hello, malformed requests, errors, every verb, the channel's invisibility,
/// loops. Someone writing an agent in another language runs this until it is clean, then the catalog.
public struct AgentCheckResult: Codable, Sendable {
    public var name: String
    /// What the contract says, in one line.
    public var rule: String
    /// nil: skipped (the agent declares the operation unsupported).
    public var passed: Bool?
    public var detail: String
}

public struct AgentCheckReport: Codable, Sendable {
    public var agent: String
    public var implementation: String?
    public var results: [AgentCheckResult] = [] {
        didSet {
            passed = results.filter { $0.passed == true }.count
            failed = results.filter { $0.passed == false }.count
            skipped = results.count - passed - failed
        }
    }
    /// Follow from `results`.
    public private(set) var passed = 0
    public private(set) var failed = 0
    public private(set) var skipped = 0

    init(agent: String) { self.agent = agent }
}

/// A check's verdict, from inside it.
struct CheckFailure: Error {
    var detail: String
    init(_ detail: String) { self.detail = detail }
}

struct CheckSkip: Error {
    var reason: String
}

/// The agent under test gave no hello at all (it hung or exited): every other check would wait for it again.
struct NoHello: Error {
    var detail: String
}

public enum AgentCheck {
    /// Runs every check against the agent at `path`; `filter` keeps the checks whose name contains it.
    public static func run(agentPath path: String, environment: [String] = [], filter: String? = nil) -> AgentCheckReport {
        let base = ScenarioDirectory.base(nil)
        StaleRuns.sweepOnce(base: base)
        var report = AgentCheckReport(agent: path)
        guard let directory = StaleRuns.makeFolder(in: base, label: "agent-check") else {
            report.results = [AgentCheckResult(name: "setup", rule: "the checks' folder can be made", passed: false,
                                               detail: "cannot create a folder in \(base): \(Errno.name(of: errno))")]
            return report
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var silent: String?
        for check in AgentChecks.all where filter.map({ check.name.contains($0) }) ?? true {
            var result = AgentCheckResult(name: check.name, rule: check.rule, passed: true, detail: "")
            // An agent that never says hello fails once, not once per check at 5 s each (30 checks: 150 s).
            if let silent {
                result.passed = nil
                result.detail = "not run: the agent gave no hello in \(silent)"
                report.results.append(result)
                continue
            }
            do {
                let context = CheckContext(path: path, directory: directory, environment: environment)
                try check.body(context)
                if report.implementation == nil { report.implementation = context.implementation }
            } catch let failure as CheckFailure {
                result.passed = false
                result.detail = failure.detail
            } catch let failure as NoHello {
                result.passed = false
                result.detail = failure.detail
                silent = check.name
            } catch let skip as CheckSkip {
                result.passed = nil
                result.detail = skip.reason
            } catch {
                result.passed = false
                result.detail = "\(error)"
            }
            report.results.append(result)
        }
        return report
    }

    public static func text(_ report: AgentCheckReport) -> String {
        var lines: [String] = []
        for result in report.results {
            let status = result.passed == true ? "PASS" : result.passed == false ? "FAIL" : "SKIP"
            lines.append("\(status)    \(result.name): \(result.rule)")
            if !result.detail.isEmpty { lines.append("        \(result.detail)") }
        }
        lines.append("agent-check \(report.agent) (\(report.implementation ?? "no hello")): \(report.passed) passed, "
            + "\(report.failed) failed, \(report.skipped) skipped")
        return lines.joined(separator: "\n")
    }
}

/// What a check works with: a way to start the agent under test, and assertions that say what was expected.
final class CheckContext {
    let path: String
    let directory: String
    let environment: [String]
    var implementation: String?
    private var agents: [CheckedAgent] = []

    init(path: String, directory: String, environment: [String]) {
        self.path = path
        self.directory = directory
        self.environment = environment
    }

    /// A fresh agent, its hello read (a failure of the check when there is none).
    func start() throws -> CheckedAgent {
        let agent = try CheckedAgent(path: path, directory: directory, extraEnvironment: environment)
        agents.append(agent)
        guard let hello = agent.hello else { throw NoHello(detail: agent.startProblem ?? "no hello") }
        implementation = hello.implementation
        return agent
    }

    /// Skips the check when the agent declares `kind` unsupported.
    func requireSupport(_ agent: CheckedAgent, _ kinds: OperationKind...) throws {
        for kind in kinds where agent.hello?.unsupported.contains(kind) == true {
            throw CheckSkip(reason: "the agent declares \(kind.keyword) unsupported")
        }
    }

    /// The `ok` answer to `request`, decoded; anything else fails the check with what came instead.
    @discardableResult
    func ok(_ agent: CheckedAgent, _ operation: WireOperation, on descriptor: Int32? = nil,
            _ what: String? = nil) throws -> Answer {
        try answer(agent, agent.call(.perform(operation, hidden: []), on: descriptor), what ?? operation.kind.keyword)
    }

    func answer(_ agent: CheckedAgent, _ received: CheckedAgent.Received, _ what: String) throws -> Answer {
        switch received {
        case .message(let message, let passed):
            if let passed { close(passed) }
            switch Answer.decode(message) {
            case .success(let answer): return answer
            case .failure(let error): throw CheckFailure("\(what): \(error) (\(message.text))")
            }
        case .closed: throw CheckFailure("\(what): the channel closed (\(agent.endDescription()))")
        case .timedOut: throw CheckFailure("\(what): no answer within 5 s")
        case .unparsable: throw CheckFailure("\(what): the answer is not a message")
        }
    }

    /// A `bad` answer with a reason; anything else fails the check.
    func bad(_ agent: CheckedAgent, _ text: String) throws -> String {
        switch agent.call(text) {
        case .message(let message, let passed):
            if let passed { close(passed) }
            guard message.verb == ControlVerb.bad.rawValue else {
                throw CheckFailure("'\(text)' was answered \(message.text), not bad")
            }
            guard let reason = message.bytes("reason"), !reason.isEmpty else {
                throw CheckFailure("'\(text)': bad without a hex reason (\(message.text))")
            }
            return String(decoding: reason, as: UTF8.self)
        case .closed: throw CheckFailure("'\(text)' closed the channel (\(agent.endDescription())): a malformed request must be answered bad")
        case .timedOut: throw CheckFailure("'\(text)' was not answered within 5 s")
        case .unparsable: throw CheckFailure("'\(text)': the answer is not a message")
        }
    }

    func expect(_ condition: Bool, _ detail: @autoclosure () -> String) throws {
        if !condition { throw CheckFailure(detail()) }
    }

    /// The scenario's part of the agent's table: everything but its channel.
    func scenarioTable(_ agent: CheckedAgent, channel: Int32? = nil, of process: pid_t? = nil) -> [Int32] {
        let control = channel ?? agent.hello?.control ?? -1
        return agent.table(of: process).keys.filter { $0 != control }.sorted()
    }
}

/// An operation as it travels (numbers and pids).
typealias WireOperation = HandoffProtocol.Operation<WireNaming>
