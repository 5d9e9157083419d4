import Foundation
import Testing
@testable import HandoffCore

@Suite struct ScenarioDiscoveryCaseTests {
    @Test func scenarioFilesAreFoundWhateverTheCaseOfTheirSuffix() throws {
        let directory = NSTemporaryDirectory() + "handoff-suffix-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["A.YAML", "b.Yml", "c.yaml", "d.txt", "e.yaml.bak"] {
            try "summary: s\nsteps:\n  - main.exit:\n".write(toFile: directory + "/" + name, atomically: false, encoding: .utf8)
        }
        let found = try ScenarioDiscovery.find([directory])
        #expect(found.map { ($0.path as NSString).lastPathComponent } == ["A.YAML", "b.Yml", "c.yaml"])
        let load = Suite.load([directory])
        #expect(load.errors.isEmpty)
        #expect(load.scenarios.map(\.name) == ["A", "b", "c"])
    }
}
