import Foundation
import Testing
@testable import HandoffCore
import HandoffProtocol

/// OCI runtimes as launchers under test (`launch: {handover: inherit, preserve: N}`, tools/oci-launch.sh): the
/// model's rule (libcontainer's CloseExecFrom and reOpenDevNull), the key's validation, and real runc and crun
/// held to it - a scenario that expects what the runtime does not do fails with the finding that says so.
@Suite(.serialized, .leavesNoChildren) struct ContainerLauncherTests {
    /// `main` holds files at 3, 4 and 5 without close-on-exec and one with (6), and execs a runtime that
    /// preserves `preserve` descriptors.
    func serviceTable(preserve: Int32?) -> (model: ReferenceModel, table: [Int32: ModelDescriptor]) {
        var model = ReferenceModel(nofileLimit: 1024)
        for name in ["a", "b", "c"] {
            _ = model.apply(.open(path: name, flags: [.creat, .rdwr], mode: 0o644), by: "main")
        }
        _ = model.apply(.open(path: "private", flags: [.creat, .rdwr, .cloexec], mode: 0o644), by: "main")
        _ = model.apply(.fork(child: "peer"), by: "main")
        _ = model.apply(.launch(program: "x", arguments: [], environment: [], listen: [], acceptMode: false,
                                handover: .inherit, preserve: preserve), by: "main")
        #expect(model.apply(.attach(child: "service"), by: "main").blocks == false)
        return (model, model.table(of: "service"))
    }

    @Test func preserveKeepsZeroToTwoAndTheRangeAndClosesTheRest() {
        let (model, table) = serviceTable(preserve: 2)
        #expect(Set(table.keys) == [0, 1, 2, 3, 4], "5 is beyond --preserve-fds 2, 6 was close-on-exec")
        let peer = model.table(of: "peer")
        #expect(table[3]?.description == peer[3]?.description && table[4]?.description == peer[4]?.description)
        #expect(Set(serviceTable(preserve: 0).table.keys) == [0, 1, 2])
        #expect(Set(serviceTable(preserve: nil).table.keys) == [0, 1, 2, 3, 4, 5], "without preserve: what inherit says")
    }

    @Test func aDevNullStdinIsReopenedReadWriteInsideTheContainer() {
        let (model, table) = serviceTable(preserve: 1)
        let peer = model.table(of: "peer")
        #expect(table[0]?.description != peer[0]?.description, "reOpenDevNull: a new open file description")
        #expect(table[0].flatMap { model.descriptions[$0.description]?.accessMode } == .readWrite)
        #expect(table[1]?.description == peer[1]?.description, "the log is not /dev/null: passed as it is")
        #expect(table[2]?.description == peer[2]?.description)
    }

    @Test func preserveIsRefusedOutsideInheritAndBelowZero() {
        let cases: [(String, String)] = [
            ("handover: ucspi\n      listen: [{unix: s}]\n      preserve: 1", "'preserve' is for 'handover: inherit'"),
            ("handover: inherit\n      preserve: -1", "preserve"),
        ]
        for (keys, message) in cases {
            let yaml = "summary: x\nrequires: {programs: [x]}\nsteps:\n  - main.launch:\n      program: x\n      \(keys)\n"
            #expect(throws: ScenarioError.self, "\(keys)") { try scenario(yaml) }
            do { _ = try scenario(yaml) } catch { #expect("\(error)".contains(message), "\(error)") }
        }
    }

    // MARK: - Real runtimes

    static let launcher = packageRoot + "/tools/oci-launch.sh"

    /// The catalog's scenario with the tool's absolute path (the tests' working directory may be elsewhere).
    func load(_ relative: String, runtime: String, replacing: [(String, String)] = []) throws -> Scenario {
        let path = packageRoot + "/" + relative
        var yaml = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "tools/oci-launch.sh", with: Self.launcher)
        yaml = yaml.replacingOccurrences(of: "${runtime}", with: runtime).replacingOccurrences(of: "matrix:\n  runtime: [runc, crun]\n", with: "")
        for (old, new) in replacing {
            #expect(yaml.contains(old), "\(old) in \(relative)")
            yaml = yaml.replacingOccurrences(of: old, with: new)
        }
        return try ScenarioParser.parse(yaml: yaml, file: path, name: relative)
    }

    /// The feature scenarios require (`oci-runc`, `oci-crun`): the runtime creates a container here.
    func usable(_ runtime: String) -> Bool { SystemProbe.ociRuntimeRuns(runtime) }

    @Test(arguments: ["runc", "crun"]) func aRuntimeThatPassesTooMuchWouldBeCaught(runtime: String) throws {
        guard usable(runtime) else { return }
        let path = "scenarios/launchers/oci-preserve-fds.yaml"
        #expect(run(try load(path, runtime: runtime)).status == .pass)
        // The same run, held to a wrong expectation - that the descriptor beyond the range (the pipe's write
        // end, as a runtime leaking like CVE-2024-21626 would pass it) is in the container.
        let wrong = try load(path, runtime: runtime, replacing: [("open: {service: [0, 1, 2, kept, r]}", "open: {service: [0, 1, 2, kept, r, w]}")])
        let checked = run(wrong)
        #expect(checked.status == .fail)
        #expect(checked.findings.map(\.summary) == ["CHECK service: expected open {0, 1, 2, kept (3), r (4), w (5)}, observed open {0, 1, 2, kept (3), r (4)}"],
                "\(checked.findings.map(\.summary))")
        // A model that preserved one more than the runtime was told to (3 for --preserve-fds 2) predicts
        // the write end in the service: the runtime closed it, MISSING.
        let wider = try load(path, runtime: runtime, replacing: [("preserve: 2", "preserve: 3")])
        let result = run(wider)
        #expect(result.status == .fail)
        #expect(result.findings.map(\.summary).contains { $0.hasPrefix("MISSING service: w (5)") }, "\(result.findings.map(\.summary))")
        #expect(childProcesses().isEmpty)
    }

    /// crun 1.8.1 does not set LISTEN_FDS unless the bundle does: held to exactly that finding.
    @Test func crunWithoutLISTEN_FDSInTheBundleIsCaught() throws {
        guard usable("crun") else { return }
        let result = run(try load("divergences/launchers/crun-listen-fds.yaml", runtime: "crun"))
        #expect(result.status == .fail, "\(result.reason ?? "")")
        #expect(result.findings.map(\.summary) == ["CHECK service: expected LISTEN_FDS=1, observed LISTEN_FDS unset"],
                "\(result.findings.map(\.summary))")
        #expect(childProcesses().isEmpty)
    }
}
