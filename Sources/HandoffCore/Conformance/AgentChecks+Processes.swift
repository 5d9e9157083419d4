import Foundation
import Glibc
import HandoffProtocol

extension AgentChecks {
    /// fork or clone_files: the `channel` message with the new channel, then `ok r=PID`, then the child's hello
    /// on that channel. Returns the channel (the caller closes it) and the child's hello.
    static func spawnChild(_ c: CheckContext, _ agent: CheckedAgent, sharingTable: Bool) throws -> (Int32, Hello) {
        let keyword = sharingTable ? "clone_files" : "fork"
        let operation: WireOperation = sharingTable ? .cloneFiles(child: .new) : .fork(child: .new)
        guard agent.send(.perform(operation, hidden: [])) else { throw CheckFailure("\(keyword): the channel is closed") }
        guard case .message(let first, let passed) = agent.receive(), first.verb == ControlVerb.channel.rawValue,
            let channel = passed
        else { throw CheckFailure("\(keyword): the first message is not `channel` carrying the child's channel") }
        let answer = try c.answer(agent, agent.receive(), keyword)
        guard case .message(let message, _) = agent.receive(on: channel), case .success(let hello) = Hello.decode(message) else {
            close(channel)
            throw CheckFailure("\(keyword): no hello from the child on its channel")
        }
        try c.expect(Int64(hello.pid) == answer.result, "\(keyword): r=\(answer.result) but the child says pid=\(hello.pid)")
        try c.expect(hello.parent == agent.pid, "\(keyword): the child's ppid is \(hello.parent), not \(agent.pid)")
        return (channel, hello)
    }

    static let processes: [ProtocolCheck] = [
        ProtocolCheck(name: "fork", rule: "fork: channel message, ok r=PID, the child's hello on its own channel at the "
            + "parent's number; the child holds the same numbers") { c in
            let agent = try c.start()
            _ = try c.ok(agent, .pipe(closeOnExec: true, nonBlocking: false))
            let (channel, hello) = try spawnChild(c, agent, sharingTable: false)
            defer { close(channel) }
            try c.expect(hello.control == agent.hello!.control, "the child's channel is at \(hello.control)")
            try c.expect(c.scenarioTable(agent, of: hello.pid) == [0, 1, 2, 3, 4],
                         "the child's table: \(c.scenarioTable(agent, of: hello.pid))")
            // (Whether the copy keeps close-on-exec is the catalog's business: Go's ForkExec clears it.)
            try c.expect(c.scenarioTable(agent) == [0, 1, 2, 3, 4], "the parent kept \(c.scenarioTable(agent))")
            let childAnswer = try c.ok(agent, .dup(fd: 0), on: channel, "the child's dup")
            try c.expect(childAnswer.fds == [5], "the child's dup gave \(childAnswer.fds)")
        },
        ProtocolCheck(name: "exit and wait", rule: "exit status=N is not answered (the channel closes); the parent's "
            + "wait pid=P answers st, the raw wait status") { c in
            let agent = try c.start()
            let (channel, hello) = try spawnChild(c, agent, sharingTable: false)
            defer { close(channel) }
            _ = agent.send(.perform(.exit(status: 5), hidden: []), on: channel)
            guard case .closed = agent.receive(on: channel, timeout: 3) else {
                throw CheckFailure("exit: the child's channel did not close")
            }
            let waited = try c.ok(agent, .wait(child: ProcessHandle(pid: hello.pid)))
            try c.expect(waited.result == Int64(hello.pid) && waited.waitStatus == 5 << 8,
                         "wait gave \(waited), expected r=\(hello.pid) st=\(5 << 8)")
        },
        ProtocolCheck(name: "exec", rule: "exec args env: the same process says hello again on the same channel with "
            + "the new argv and the added environment; argument index=N answers argv[N] as r") { c in
            let agent = try c.start()
            guard agent.send(.perform(.exec(arguments: ["7", "x"], environment: [EnvironmentVariable(name: "CHECK", value: "yes")]),
                                      hidden: []))
            else { throw CheckFailure("exec: the channel is closed") }
            guard case .message(let message, _) = agent.receive(), case .success(let hello) = Hello.decode(message) else {
                throw CheckFailure("exec: no new hello on the channel")
            }
            try c.expect(hello.pid == agent.pid, "the new image says pid=\(hello.pid)")
            try c.expect(hello.arguments == ["7", "x"], "argv=\(hello.arguments)")
            try c.expect(hello.environment.contains("CHECK=yes"), "the environment lacks CHECK=yes")
            let argument = try c.answer(agent, agent.call(.argument(index: 1)), "argument")
            try c.expect(argument.result == 7, "argument index=1 gave \(argument)")
            try c.expect(c.scenarioTable(agent, channel: hello.control) == [0, 1, 2], "after exec: \(c.scenarioTable(agent, channel: hello.control))")
        },
        ProtocolCheck(name: "clone_files", rule: "clone_files: like fork, but the child shares the table; its channel "
            + "stays where it was made, and requests carry the other channels in hidden") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .cloneFiles, .unshareFiles)
            let (channel, hello) = try spawnChild(c, agent, sharingTable: true)
            defer { close(channel) }
            let parentControl = agent.hello!.control
            let dup = try c.answer(agent, agent.call(.perform(.dup(fd: 0), hidden: [parentControl]), on: channel), "the child's dup")
            try c.expect(dup.fds == [3], "the child's dup gave \(dup.fds)")
            try c.expect(agent.table()[3] != nil, "the parent does not see the child's 3: the table is not shared")
            let unshared = try c.answer(agent, agent.call(.perform(.unshareFiles, hidden: [parentControl]), on: channel), "unshare_files")
            try c.expect(unshared.result == 0, "unshare_files gave \(unshared)")
            try c.expect(agent.table(of: hello.pid)[parentControl] == nil || parentControl == hello.control,
                         "after unshare_files the child still holds the parent's channel \(parentControl)")
        },
    ]

    // MARK: - The channel

    static let channel: [ProtocolCheck] = [
        ProtocolCheck(name: "channel invisible", rule: "a request naming the channel's number fails with EBADF as if "
            + "it were free, and the channel still works") { c in
            let agent = try c.start()
            let control = agent.hello!.control
            try c.expect(try c.ok(agent, .close(fd: control)).errno == EBADF, "close of the channel did not say EBADF")
            try c.expect(try c.ok(agent, .dup(fd: control)).errno == EBADF, "dup of the channel did not say EBADF")
            try c.expect(try c.ok(agent, .dup(fd: 0)).fds == [3], "the channel does not answer after that")
        },
        ProtocolCheck(name: "dup2 onto the channel", rule: "dup2 onto the channel's number moves the channel first "
            + "(ctl=NEW in the answer); a dup2 that fails leaves nothing at that number") { c in
            let agent = try c.start()
            let control = agent.hello!.control
            let failed = try c.ok(agent, .dup2(fd: 77, target: control))
            try c.expect(failed.errno == EBADF, "dup2 of a closed number gave \(failed)")
            let afterFailure = failed.movedControl ?? control
            try c.expect(agent.table()[control] == nil || afterFailure == control,
                         "after the failed dup2, \(control) holds \(agent.table()[control] ?? "")")
            let current = afterFailure
            let moved = try c.ok(agent, .dup2(fd: 0, target: current))
            try c.expect(moved.result == Int64(current), "dup2 onto the channel gave \(moved)")
            guard let newControl = moved.movedControl else { throw CheckFailure("no ctl= in the answer of dup2 onto the channel") }
            try c.expect(agent.table()[current] == agent.table()[0], "\(current) is not descriptor 0's file")
            try c.expect(agent.table()[newControl]?.hasPrefix("socket:") == true, "the channel is not at \(newControl)")
            try c.expect(try c.ok(agent, .dup(fd: 0)).fds == [3], "the moved channel does not answer")
        },
        ProtocolCheck(name: "hidden", rule: "a number in hidden= behaves as a free number; dup2 onto it is refused "
            + "(bad)") { c in
            let agent = try c.start()
            _ = try c.ok(agent, .pipe(closeOnExec: false, nonBlocking: false))
            let closed = try c.answer(agent, agent.call(.perform(.close(fd: 4), hidden: [4])), "close of a hidden number")
            try c.expect(closed.errno == EBADF, "close of a hidden number gave \(closed)")
            _ = try c.bad(agent, "dup2 fd=0 target=4 hidden=4")
            try c.expect(agent.table()[4] != nil, "the hidden number was closed")
        },
    ]

    // MARK: - Housekeeping

    static let housekeeping: [ProtocolCheck] = [
        ProtocolCheck(name: "loop", rule: "loop count ops runs the operations count times with slots @N and answers "
            + "once: iterations, failures (errno other than xe), first, wall, hist per operation, locals") { c in
            let agent = try c.start()
            let steps = [
                LoopStep(operation: .dup(fd: .number(0)), outputs: [0]),
                LoopStep(operation: .close(fd: .slot(0))),
                LoopStep(operation: .close(fd: .number(77)), expectedErrno: EBADF),
            ]
            guard case .message(let message, _) = agent.call(.loop(count: 50, steps: steps, hidden: [])),
                case .success(let answer) = LoopAnswer.decode(message)
            else { throw CheckFailure("loop: no valid loop answer") }
            try c.expect(answer.iterations == 50 && answer.failures == 0, "loop gave \(answer.iterations) iterations, "
                + "\(answer.failures) failures (\(answer.firstFailure))")
            try c.expect(answer.histograms.count == 3, "hist has \(answer.histograms.count) operations, expected 3")
            try c.expect(answer.histograms.allSatisfy { $0.reduce(0) { $0 + $1.count } == 50 }, "a histogram does not count 50 calls")
            try c.expect(c.scenarioTable(agent) == [0, 1, 2], "after the loop: \(c.scenarioTable(agent))")
            let failing = [LoopStep(operation: .close(fd: .number(77)))]
            guard case .message(let second, _) = agent.call(.loop(count: 5, steps: failing, hidden: [])),
                case .success(let failed) = LoopAnswer.decode(second)
            else { throw CheckFailure("loop: no valid answer to a failing loop") }
            try c.expect(failed.failures == 5 && !failed.firstFailure.isEmpty, "a loop of failing closes reported "
                + "\(failed.failures) failures, first '\(failed.firstFailure)'")
        },
        ProtocolCheck(name: "release", rule: "release fds=N,M closes those numbers (channels left in a once-shared "
            + "table)") { c in
            let agent = try c.start()
            _ = try c.ok(agent, .pipe(closeOnExec: false, nonBlocking: false))
            _ = try c.answer(agent, agent.call(.release(fds: [3, 4])), "release")
            try c.expect(c.scenarioTable(agent) == [0, 1, 2], "after release: \(c.scenarioTable(agent))")
        },
    ]
}
