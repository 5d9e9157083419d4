import Testing
@testable import HandoffCore

@Suite struct StressTests {
    func sample(_ round: Int, fds: Int = 5, agents: Int = 0, children: Int = 0, handles: Int = 400, sockets: Int = 10,
                rss: Int = 30000) -> ResourceSample {
        ResourceSample(seconds: Double(round), round: round, runnerDescriptors: fds, runnerResidentKiB: rss, agents: agents,
                       runnerChildren: children, fileHandles: handles, unixSockets: sockets)
    }

    @Test func flatResourcesAreClean() {
        #expect(Stress.leaks(in: (0...10).map { sample($0) }).isEmpty)
        // System-wide counts move with the rest of the machine: a transient bump that comes back is fine.
        #expect(Stress.leaks(in: (0...9).map { sample($0, handles: $0 == 4 ? 2000 : 400) }).isEmpty)
    }

    @Test func anyGrowthOfTheRunnersOwnResourcesIsALeak() {
        let leaks = Stress.leaks(in: [sample(0), sample(1), sample(2, fds: 6, agents: 1, children: 1), sample(3)])
        #expect(leaks.count == 3)
        #expect(leaks[0] == "runner descriptors: 5 at the start, 6 after round 2")
        #expect(leaks[1].hasPrefix("agent processes: 0 at the start, 1 alive after round 2"))
        #expect(leaks[2].hasPrefix("unreaped children"))
    }

    @Test func systemWideGrowthThatStaysIsALeak() {
        let samples = (0...9).map { sample($0, handles: 400 + $0 * 100, sockets: 10 + $0 * 20) }
        let leaks = Stress.leaks(in: samples)
        #expect(leaks.contains { $0.hasPrefix("system file handles: 400 at the start, never below") })
        #expect(leaks.contains { $0.hasPrefix("unix sockets: 10 at the start") })
    }

    @Test func aClimbingRSSIsALeak() {
        let samples = (0...9).map { sample($0, rss: 30000 + $0 * 8000) }
        #expect(Stress.leaks(in: samples).contains { $0.hasPrefix("runner RSS") })
    }

    @Test func theOrderDependsOnlyOnTheSeed() {
        var one = SeededGenerator(seed: 42), two = SeededGenerator(seed: 42), other = SeededGenerator(seed: 43)
        let items = Array(0..<50)
        #expect(items.shuffled(using: &one) == items.shuffled(using: &two))
        #expect(items.shuffled(using: &one) != items.shuffled(using: &other))
    }
}
