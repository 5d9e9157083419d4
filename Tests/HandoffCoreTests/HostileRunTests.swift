import Foundation
import Testing
@testable import HandoffCore

/// Hostile launchers run for real: whatever they try outside their scenario's directory fails in the
/// sandbox, nothing they start survives, and the run ends with its documented status and message.
extension CommandLineTests {
    static let sandboxWorks: Bool = {
        if case .success(let resolved) = LauncherSandbox.resolve(.auto) { return resolved.sandbox != nil }
        return false
    }()

    /// A launcher (sh) that writes outside its directory, deletes a file outside it, and leaves daemons in a
    /// new session, then exits without starting a service: `attach` is an ERROR that says so.
    func hostileScenario(mark: String, victim: String) -> String {
        """
        summary: a launcher that escapes
        requires: {programs: [sh, setsid, sleep]}
        steps:
          - main.launch:
              program: sh
              args: ["-c", "echo escaped > /var/tmp/handoff-escape-\(mark); rm -f \(victim); setsid sleep 400 \(mark) & (sleep 401 \(mark) &) ; exit 0"]
              handover: inherit
          - main.attach: {as: service}
        """
    }

    @Test(.enabled(if: sandboxWorks, "bubblewrap cannot make a sandbox here"), arguments: ["on", "off"])
    func aHostileLauncherIsContainedAndSandboxed(mode: String) throws {
        let mark = "m" + UUID().uuidString.prefix(8).lowercased()
        let victim = NSTemporaryDirectory() + "handoff-victim-\(mark)"
        try "keep me".write(toFile: victim, atomically: true, encoding: .utf8)
        let escape = "/var/tmp/handoff-escape-\(mark)"
        defer {
            try? FileManager.default.removeItem(atPath: victim)
            try? FileManager.default.removeItem(atPath: escape)
        }
        let directory = try temporaryDirectory(["hostile.yaml": hostileScenario(mark: mark, victim: victim)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", directory, "--report", directory + "/out", "--sandbox", mode])
        #expect(result.status == 1, "\(result.output)\(result.error)")
        #expect(result.output.contains("ERROR   hostile"))
        #expect(result.output.contains("the launcher exited with status 0 and no agent called back"), "\(result.output)")
        let survivors = ProcessStatus.all().filter { status in
            ((try? String(contentsOfFile: "/proc/\(status.pid)/cmdline", encoding: .utf8)) ?? "").contains(mark)
        }
        #expect(survivors.isEmpty, "\(mode): daemons survived: \(survivors.map(\.pid))")
        let report = try RunReport.load(directory + "/out/report.json")
        if mode == "on" {
            #expect(!FileManager.default.fileExists(atPath: escape), "the sandbox's file system is read-only")
            #expect(FileManager.default.fileExists(atPath: victim), "and nothing outside can be deleted")
            #expect(report.environment.launcherSandbox?.hasPrefix("on:") == true)
        } else {
            // Without the sandbox the same launcher does what it says: what the test above relies on is the sandbox.
            #expect(FileManager.default.fileExists(atPath: escape))
            #expect(!FileManager.default.fileExists(atPath: victim))
            #expect(report.environment.launcherSandbox == "off (--sandbox off)")
        }
    }
}
