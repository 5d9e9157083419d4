import CHandoff
import Foundation
import Glibc
import HandoffProtocol
import Testing
@testable import HandoffCore

/// The Swift agent spoken to directly over its control channel, without a runner: what any agent must do
/// with malformed and refused requests. Serialized: spawns processes.
@Suite(.serialized, .leavesNoChildren) struct AgentProtocolTests {
    /// An agent on a fresh channel; its hello already read.
    final class DirectAgent {
        let channel: Int32
        let pid: pid_t
        let hello: Hello

        init() throws {
            var ends: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Linux.SOCK_SEQPACKET | Linux.SOCK_CLOEXEC, 0, &ends) == 0 else { throw SystemErrno(errno) }
            let log = open("/dev/null", O_WRONLY | O_CLOEXEC)
            var pid: pid_t = 0
            let spawned = withCStrings([agentPath]) { argv in
                withCStrings(["\(AgentEnvironment.controlDescriptor)=3", "\(AgentEnvironment.expectedParent)=\(getpid())"]) { envp in
                    handoff_spawn_clean(agentPath, argv, envp, ends[1], log, "/", &pid)
                }
            }
            close(ends[1])
            close(log)
            guard spawned == 0 else { close(ends[0]); throw SystemErrno(spawned) }
            channel = ends[0]
            self.pid = pid
            var decoded: Hello?
            if let message = DirectAgent.receive(channel), case .success(let value) = Hello.decode(message) { decoded = value }
            guard let decoded else { throw ProtocolError("no hello") }
            hello = decoded
        }

        deinit {
            close(channel)  // the agent sees end-of-file and exits
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }

        static func receive(_ channel: Int32) -> WireMessage? {
            var buffer = [UInt8](repeating: 0, count: maximumPacketSize)
            let count = recv(channel, &buffer, buffer.count, 0)
            return count > 0 ? WireMessage.decode(buffer[0..<count]) : nil
        }

        func call(_ text: String) -> WireMessage? {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { send(channel, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            return DirectAgent.receive(channel)
        }
    }

    @Test func helloSaysVersionImplementationAndNothingUnsupported() throws {
        let agent = try DirectAgent()
        #expect(agent.hello.version == protocolVersion)
        #expect(agent.hello.implementation == "swift")
        #expect(agent.hello.unsupported.isEmpty)
        #expect(agent.hello.control == preferredControlDescriptor)
    }

    @Test func malformedAndRefusedRequestsAreAnsweredBadAndTheAgentGoesOn() throws {
        let agent = try DirectAgent()
        func reason(_ message: WireMessage?) -> String? {
            guard let message, message.verb == ControlVerb.bad.rawValue, let bytes = message.bytes("reason") else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(reason(agent.call("frobnicate fd=3")) == "unknown verb frobnicate")
        #expect(reason(agent.call("dup")) == "dup: missing field 'fd'")
        #expect(reason(agent.call("read fd=0 count=99999999")) == "read: malformed field 'count'")
        #expect(reason(agent.call("hello pid=1")) == "hello is sent by agents, not to them")
        // A dup2 onto another agent's (hidden) channel would disturb that agent: refused, not performed.
        #expect(reason(agent.call("dup2 fd=0 target=500 hidden=500")) == "dup2 onto another agent's control channel is not supported")
        // The channel is as good as before: a real request is answered.
        let answer = try #require(agent.call(String(decoding: AgentRequest.perform(.dup(fd: 0), hidden: []).encoded().encoded(), as: UTF8.self)))
        guard case .success(let decoded) = Answer.decode(answer) else { Issue.record("\(answer)"); return }
        #expect(decoded.errno == 0 && decoded.fds == [3])
        // An operation naming the agent's own channel behaves as a free number.
        let onChannel = try #require(agent.call("close fd=\(agent.hello.control)"))
        #expect(Answer.decode(onChannel) == .success(Answer(result: -1, errno: EBADF)))
    }
}
