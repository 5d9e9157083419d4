import Foundation
import Testing
@testable import HandoffCore
import HandoffProtocol

/// The hand-over protocols of launchers under test: the model's prediction of a service's table per
/// protocol (no kernel), and real launchers - the ones that keep their protocol pass, the ones that do not
/// are caught with the finding that names the leak.
@Suite(.serialized, .leavesNoChildren) struct LauncherHandoverTests {
    /// The model alone: `main` holds a file without close-on-exec and one with, execs a launcher listening on
    /// a unix socket, a client connects, the launcher starts a service.
    func serviceTable(_ handover: LauncherHandover) -> [Int32: (description: DescriptionID, closeOnExec: Bool)] {
        var model = ReferenceModel(nofileLimit: 1024)
        _ = model.apply(.open(path: "kept", flags: [.creat, .rdwr], mode: 0o644), by: "main")
        _ = model.apply(.open(path: "private", flags: [.creat, .rdwr, .cloexec], mode: 0o644), by: "main")
        _ = model.apply(.fork(child: "client"), by: "main")
        let listen = handover == .inherit ? [] : [ListeningSocket(address: SocketAddress.unix(path: "svc.sock"), type: .stream)]
        _ = model.apply(.launch(program: "x", arguments: [], environment: [], listen: listen,
                                acceptMode: handover != .listenFDs && handover != .inherit, handover: handover), by: "main")
        if handover != .inherit {
            _ = model.apply(.connect(address: .unix(path: "svc.sock"), type: .stream, closeOnExec: false, nonBlocking: false),
                            by: "client")
        }
        #expect(model.apply(.attach(child: "service"), by: "main").blocks == false)
        return model.table(of: "service").mapValues { ($0.description, $0.closeOnExec) }
    }

    @Test func ucspiHandsTheConnectionAtZeroAndOneAndKeepsWhatTheLauncherInherited() {
        let table = serviceTable(.ucspi)
        #expect(Set(table.keys) == [0, 1, 2, 3], "0 and 1 the connection, 2 the launcher's, 3 the inherited file")
        #expect(table[0]?.description == table[1]?.description)
        #expect(table[2]?.description != table[0]?.description)
        #expect(table.values.allSatisfy { !$0.closeOnExec })
    }

    @Test func inetdHandsTheConnectionAtZeroOneAndTwo() {
        let table = serviceTable(.inetd)
        #expect(Set(table.keys) == [0, 1, 2, 3])
        #expect(table[0]?.description == table[1]?.description && table[1]?.description == table[2]?.description)
    }

    @Test func inheritPassesExactlyWhatWasNotCloseOnExec() {
        let table = serviceTable(.inherit)
        #expect(Set(table.keys) == [0, 1, 2, 3], "the close-on-exec file (4) is gone, nothing is added")
    }

    @Test func listenFDsClosesWhatTheLauncherInherited() {
        let table = serviceTable(.listenFDs)
        #expect(Set(table.keys) == [0, 1, 2, 3], "0-2 and the listening socket at 3: the inherited file is closed")
        // The inherited file was at 3 in the launcher: here 3 is the listener, another description.
        let inherit = serviceTable(.inherit)
        #expect(table[3]?.description != inherit[3]?.description)
    }

    @Test func aHandoverThatDoesNotFitIsRefusedWithItsLocation() {
        let cases: [(String, String)] = [
            ("handover: inherit\n      listen: [{unix: s}]", "has no 'listen' sockets of its own"),
            ("handover: ucspi\n      listen: [{unix: s}]\n      accept: true", "'accept' is for 'handover: listen-fds'"),
            ("handover: ucspi\n      listen: [{unix: s}, {unix: t}]", "listens on exactly one socket"),
            ("handover: ucspi", "missing required key 'listen'"),
            ("handover: systemd\n      listen: [{unix: s}]", "listen-fds, ucspi, inetd, inherit"),
        ]
        for (keys, message) in cases {
            let yaml = "summary: x\nrequires: {programs: [x]}\nsteps:\n  - main.launch:\n      program: x\n      \(keys)\n"
            #expect(throws: ScenarioError.self, "\(keys)") { try scenario(yaml) }
            do { _ = try scenario(yaml) } catch { #expect("\(error)".contains(message), "\(error)") }
        }
    }

    // MARK: - Real launchers

    func installed(_ program: String) -> Bool { SystemProbe.program(named: program) != nil }

    @Test func launchersThatKeepTheirProtocolPass() throws {
        let directory = packageRoot + "/scenarios/launchers"
        let load = Suite.load([directory], selection: SelectionOptions())
        #expect(load.errors.isEmpty)
        #expect(load.scenarios.count >= 5)
        for result in Suite.run(load.scenarios, options: ExecutionOptions(timeout: 10, agentPath: agentPath)) {
            #expect(result.status == .pass || result.status == .skip, "\(result.name): \(result.reason ?? "") \(result.findings.map(\.summary))")
        }
        #expect(childProcesses().isEmpty, "whatever the launchers started is gone")
    }

    /// The launchers that leak are caught, each with the findings its summary documents.
    /// Skipped (and said so), not passed, where the launchers are not installed.
    @Test(.enabled(if: SystemProbe.program(named: "unixserver") != nil && SystemProbe.program(named: "socat") != nil,
                   "needs unixserver (ucspi-unix) and socat"),
          arguments: [("unixserver-listener", "unixserver", [Int32(3)]), ("socat-exec-nofork", "socat", [3, 4])])
    func aLauncherThatLeaksIsCaught(file: String, program: String, leaked: [Int32]) throws {
        #expect(installed(program))
        let path = packageRoot + "/divergences/launchers/\(file).yaml"
        let loaded = try ScenarioParser.parse(yaml: String(contentsOfFile: path, encoding: .utf8), file: path, name: file)
        let result = run(loaded)
        #expect(result.status == .fail)
        let leaks = result.findings.filter { $0.kind == .leak }.map(\.summary)
        #expect(leaks.count == leaked.count, "\(result.findings.map(\.summary))")
        for number in leaked {
            #expect(leaks.contains { $0.hasPrefix("LEAK service: \(number): expected closed, observed open (socket:[") }, "\(leaks)")
        }
        #expect(childProcesses().isEmpty)
    }
}
