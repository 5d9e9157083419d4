import CHandoff
import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// Agents that end unexpectedly are reported at once, with how they ended. Serialized: spawns agents.
@Suite(.serialized, .leavesNoChildren) struct AgentEndingTests {
    @Test func anAgentThatExitsAtStartUpIsAnErrorAtOnceWithItsStatus() throws {
        let directory = NSTemporaryDirectory() + "handoff-fake-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fake = directory + "/agent"
        try "#!/bin/sh\necho cannot start >&2\nexit 3\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let options = ExecutionOptions(timeout: 10, agentPath: fake)
        let result = Suite.run([try scenario("summary: s\nsteps:\n  - main.pipe: {as: [r, w]}\n")], options: options)[0]
        #expect(result.status == .error)
        #expect(result.reason == "process 'main' is gone: the agent exited with status 3 at start-up, before its hello")
        #expect(result.durationSeconds < 2, "not the whole timeout")
        #expect(result.agentLog?.contains("cannot start") == true)
        #expect(childProcesses().isEmpty)
    }

    @Test func killingTheRootAgentDuringAStepReportsTheSignal() throws {
        // main's read blocks for real (the child drained the pipe behind the model's back); then main is
        // killed from outside while the runner waits for its answer.
        let killer = DispatchWorkItem {
            for process in ProcessStatus.all() where process.parent == getpid() && process.isAgent && !process.isZombie {
                kill(process.pid, SIGKILL)
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 1, execute: killer)
        let result = run(try scenario("""
            summary: killed
            steps:
              - main.pipe: {as: [r, w]}
              - main.fork: {as: child}
              - main.write: {fd: w, data: "ab"}
              - main.read: {fd: r, count: 2}
            """), timeout: 10, injections: [Injection(afterStep: 3, process: "child", fault: .operation(.read(fd: 3, count: 2)))])
        killer.wait()
        #expect(result.status == .error)
        // The reason names the step it was waiting on, as a finding names its line.
        #expect(result.reason == "inline.yaml:6:5 (main.read): process 'main' is gone: killed by signal 9 (Killed)",
                "\(result.reason ?? "")")
        #expect(result.durationSeconds < 5)
        #expect(agentProcesses().isEmpty)
    }

    @Test(.enabled(if: SystemProbe.program(named: "systemd-socket-activate") != nil, "needs systemd-socket-activate"))
    func aLauncherThatEndsWithoutStartingAnAgentIsAnErrorAtOnce() throws {
        // The service the launcher execs on the first connection is /bin/false, not an agent.
        let result = run(try scenario("""
            summary: no agent
            requires: {programs: [systemd-socket-activate]}
            steps:
              - main.fork: {as: client}
              - main.launch:
                  program: systemd-socket-activate
                  args: ["--listen={@dir}/svc.sock", "/bin/false"]
                  listen: [{unix: svc.sock}]
              - client.connect: {address: {unix: svc.sock}, as: conn}
              - main.attach: {as: service}
            """), timeout: 10)
        #expect(result.status == .error)
        // Whichever end the runner notices first - the launcher's, or its child's (killed with it) - the reason
        // says the launcher exited with status 1.
        let launcherEnd = "process 'main' is gone: the launcher exited with status 1 and no agent called back"
        let childEnd = "process 'client' is gone: killed by signal 9 (Killed) (its parent 'main' exited with status 1)"
        #expect(result.reason.map { $0.hasSuffix(launcherEnd) || $0.hasSuffix(childEnd) } == true, "\(result.reason ?? "")")
        #expect(result.reason?.hasPrefix("inline.yaml:") == true, "it names the step: \(result.reason ?? "")")
        #expect(result.durationSeconds < 4, "not the whole timeout")
        #expect(agentProcesses().isEmpty)
    }
}

/// Suite workers keep to one CPU each (Suite.run): the C helper pins the calling thread to the n-th CPU it
/// may use (modulo their count), and leaves other threads alone.
@Suite struct WorkerPinningTests {
    /// The calling thread's CPUs, from Cpus_allowed_list in /proc/thread-self/status ("0-1,4").
    static func cpus() -> [Int32] {
        guard let status = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return [] }
        return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
            .split(separator: ",").flatMap { range -> [Int32] in
                let ends = range.split(separator: "-").compactMap { Int32($0) }
                guard let first = ends.first else { return [] }
                return Array(first...(ends.last ?? first))
            }
    }

    @Test func aPinnedThreadRunsOnOneCPUOfItsMask() throws {
        let allowed = Self.cpus()
        try #require(!allowed.isEmpty)
        final class Seen: @unchecked Sendable { var cpus: [Int32] = [] }  // written before `done`, read after
        let pinned = Seen()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            _ = handoff_pin_thread_to_nth_cpu(Int32(allowed.count + 1))
            pinned.cpus = Self.cpus()
            done.signal()
        }
        thread.start()
        done.wait()
        // n modulo the count: for n = count + 1 the second CPU of the mask (the only one where there is one).
        #expect(pinned.cpus == [allowed[allowed.count > 1 ? 1 : 0]])
        #expect(Self.cpus() == allowed)
    }
}
