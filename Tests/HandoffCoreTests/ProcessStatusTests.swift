import Glibc
import Testing
@testable import HandoffCore

@Suite struct ProcessStatusTests {
    @Test func readsThisProcess() throws {
        let me = try #require(ProcessStatus.read(getpid()))
        #expect(me.pid == getpid())
        #expect(me.parent == getppid())
        #expect(!me.isZombie && !me.isAgent)
        #expect(!me.command.isEmpty)
        #expect(ProcessStatus.all().contains { $0.pid == getpid() })
        #expect(ProcessStatus.read(-1) == nil)
    }
}
