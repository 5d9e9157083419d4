import Foundation
import Testing
@testable import HandoffCore
import HandoffProtocol

/// s6's fd-holding daemon as a launcher (`launch: {handover: retrieve, stored: N}`): the model's rule (the
/// stored description back at 0, N closed), the keys' validation, and s6-fdholder held to it.
@Suite(.serialized, .leavesNoChildren) struct FDHolderLauncherTests {
    @Test func theStoredDescriptionComesBackAtZeroAndItsNumberIsClosed() {
        var model = ReferenceModel(nofileLimit: 1024)
        _ = model.apply(.open(path: "kept", flags: [.creat, .rdwr], mode: 0o644), by: "main")
        _ = model.apply(.open(path: "other", flags: [.creat, .rdwr], mode: 0o644), by: "main")
        _ = model.apply(.fork(child: "peer"), by: "main")
        _ = model.apply(.launch(program: "x", arguments: [], environment: [], listen: [], acceptMode: false,
                                handover: .retrieve, stored: 3), by: "main")
        #expect(model.apply(.attach(child: "service"), by: "main").blocks == false)
        let service = model.table(of: "service"), peer = model.table(of: "peer")
        #expect(Set(service.keys) == [0, 1, 2, 4], "3 stored and closed, 4 inherited as with inherit")
        #expect(service[0]?.description == peer[3]?.description, "the same open file description, not a copy")
        #expect(service[4]?.description == peer[4]?.description)
    }

    @Test func storedBelongsToRetrieveAndRetrieveNeedsIt() {
        let cases: [(String, String)] = [
            ("handover: inherit\n      stored: 3", "'stored' is for 'handover: retrieve'"),
            ("handover: retrieve", "missing required key 'stored'"),
            ("handover: retrieve\n      stored: 3\n      listen: [{unix: s}]", "has no 'listen' sockets of its own"),
        ]
        for (keys, message) in cases {
            let yaml = "summary: x\nrequires: {programs: [x]}\nsteps:\n  - main.launch:\n      program: x\n      \(keys)\n"
            #expect(throws: ScenarioError.self, "\(keys)") { try scenario(yaml) }
            do { _ = try scenario(yaml) } catch { #expect("\(error)".contains(message), "\(error)") }
        }
    }

    /// The catalog's scenario passes; held as plain `inherit` (no retrieval modelled) it fails: the service's
    /// 0 is not the runner's /dev/null but the stored file, and 3 is gone.
    @Test func s6FdholderIsHeldToTheRetrievedDescription() throws {
        for program in ["s6-fdholder-daemon", "s6-fdholder-store", "s6-fdholder-retrieve"] {
            guard SystemProbe.program(named: program) != nil else { return }
        }
        let path = packageRoot + "/scenarios/launchers/s6-fdholder.yaml"
        let yaml = try String(contentsOfFile: path, encoding: .utf8)
        #expect(run(try ScenarioParser.parse(yaml: yaml, file: path, name: "s6-fdholder")).status == .pass)
        #expect(yaml.contains("handover: retrieve\n      stored: kept\n"))
        let wrong = yaml.replacingOccurrences(of: "handover: retrieve\n      stored: kept\n", with: "handover: inherit\n")
        let result = run(try ScenarioParser.parse(yaml: wrong, file: path, name: "s6-fdholder-as-inherit"))
        #expect(result.status == .fail)
        let summaries = result.findings.map(\.summary)
        #expect(summaries.contains { $0.hasPrefix("MISSING service: kept (3)") }, "\(summaries)")
        #expect(childProcesses().isEmpty, "the daemon is gone too")
    }
}
