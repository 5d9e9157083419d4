import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// The reading of a sleeping agent's system call (the end to end case, a read that blocks where the model says it
/// returns: IntegrationTests.aStepThatHangsIsJudgedAtTheTimeoutAndTheTreeIsKilled). Serialized: spawns agents.
@Suite(.serialized, .leavesNoChildren) struct BlockedCallTests {
    @Test func aCallAsleepOnAnotherDescriptorIsNotTheSteps() {
        let text = "0 0x3 0x7ffd1000 0x2 0x0 0x0 0x0 0x7ffd0ff8 0x7f00deadbeef\n"
        let call = BlockedCall.parse(text)
        #expect(call?.number == 0)
        #expect(call?.firstArgument == 3)
        #expect(BlockedCall.parse("running\n") == nil)
        #expect(BlockedCall.parse("-1 0x7ffd0ff8 0x7f00deadbeef\n") == nil)
        // Our own process is asleep in no call on a descriptor 999 names.
        #expect(BlockedCall.find(in: getpid(), where: { $0.firstArgument == 999 }) == nil)
    }

    @Test func aThreadAsleepInAReadIsFoundByItsDescriptor() throws {
        // A thread of this process reads an empty pipe: find must see that read on that descriptor (and say
        // so by name on x86_64), and stop seeing it once the read returned.
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let reader = ends[0]
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var byte: UInt8 = 0
            _ = read(reader, &byte, 1)
            finished.signal()
        }
        let deadline = Deadline(secondsFromNow: 5)
        var call: BlockedCall?
        while call == nil && !deadline.expired {
            call = BlockedCall.find(in: getpid(), where: { $0.firstArgument == UInt64(reader) })
            if call == nil { usleep(1000) }
        }
        let found = try #require(call, "the reading thread was never seen asleep in its read")
        #if arch(x86_64)
        #expect(found.name == "read")
        #expect(found.description.hasPrefix("read(\(reader), ...)"))
        #endif
        var byte: UInt8 = 1
        #expect(write(ends[1], &byte, 1) == 1)
        #expect(finished.wait(timeout: .now() + 5) == .success)
        #expect(BlockedCall.find(in: getpid(), where: { $0.firstArgument == UInt64(reader) }) == nil)
    }
}

/// An answer the machine caused - a name or port another program holds - is an ERROR naming the holder,
/// never a finding against the kernel. Serialized: spawns agents.
@Suite(.serialized, .leavesNoChildren) struct MachineCauseTests {
    @Test func anAbstractNameHeldOutsideTheScenarioIsAnErrorNamingTheHolder() throws {
        let name = "handoff-test-held-\(getpid())"
        let holder = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #expect(holder >= 0)
        defer { close(holder) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) }
        }
        #expect(bound == 0)
        let result = run(try scenario("""
            summary: a fixed abstract name someone else holds
            steps:
              - main.listen: {address: {abstract: \(name)}, as: l}
            """))
        #expect(result.status == .error)
        #expect(result.findings.isEmpty)
        #expect(result.reason?.contains("is held by pid \(getpid())") == true, "\(result.reason ?? "")")
    }

    @Test func aTCPPortHeldOutsideTheScenarioIsAnErrorNamingTheHolder() throws {
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) } }
        #expect(listen(holder, 1) == 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        let result = run(try scenario("""
            summary: a fixed port someone else holds
            steps:
              - main.listen: {address: {tcp: \(port)}, as: l}
            """))
        #expect(result.status == .error)
        #expect(result.findings.isEmpty)
        #expect(result.reason?.contains("is held by pid \(getpid())") == true, "\(result.reason ?? "")")
    }
}
