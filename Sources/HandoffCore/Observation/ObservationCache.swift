import Foundation
import Glibc

/// The latest observation of the process tree, kept between steps so that a step reads from /proc only
/// the tables it can have changed.
///
/// A table changes only through its own process's system calls: the model's (applied for every step), or
/// the kernel's where it departs from the model, which only the step's own processes can meet, or an
/// injected fault. So after a step a process is read again when
/// - the model says its descriptors may look different (`ReferenceModel.processesChanged(since:)`: its table
///   entries changed, or a description it holds changed offset, flags or object);
/// - it is one the caller names as touched: the step's acting processes and those sharing their table
///   (CLONE_FILES), and the targets of injected faults;
/// - it is new, its pid changed, or the control channels hidden from its table changed;
/// and otherwise its last table is reused. Processes no longer observed (ended, launched, inside a
/// background step) are dropped. Identity groups span processes, so the partition is updated in place
/// (IdentityResolver.update): the kept processes' descriptors keep their groups and serve as the
/// representatives the fresh ones are compared with.
struct ObservationCache {
    /// A live process to observe.
    struct Process {
        var name: String
        var pid: pid_t
        /// Control channels in its table, excluded from observation.
        var hidden: Set<Int32>
        var hasExited: () -> Bool
        var endReason: () -> String
        /// Whether it is ending or has ended (begun to exit, though perhaps not yet a zombie; an exited one
        /// included), waiting a moment for its exit: asked when something of it vanished under the runner.
        var hasEnded: () -> Bool
    }

    struct Observation {
        var tables: [String: [Int32: ObservedDescriptor]]
        var groups: [DescriptorKey: Int]
    }

    private struct Source: Equatable {
        var pid: pid_t
        var hidden: Set<Int32>
    }

    /// The latest table of every observed process.
    private(set) var tables: [String: [Int32: ObservedDescriptor]] = [:]
    private var sources: [String: Source] = [:]
    /// The model's descriptor state at the latest observation.
    private var model: ReferenceModel.DescriptorState?
    /// Reads one table from /proc (tests substitute it).
    var read: (_ pid: pid_t, _ hidden: Set<Int32>) throws(HarnessError) -> [Int32: ObservedDescriptor]? =
        Observer.table(of:excluding:)

    /// Test hook: the names of the processes whose tables are read, while a test has it on.
    static let readLog = TableReadLog()

    init() {}

    /// Which of `processes` must be read again (in their order); see the type's description.
    func processesToRead(_ processes: [Process], model: ReferenceModel, touched: Set<String>) -> [String] {
        let changed = self.model.map { model.processesChanged(since: $0) }
        return processes.filter { process in
            guard let changed, let source = sources[process.name] else { return true }
            return changed.contains(process.name) || touched.contains(process.name)
                || source != Source(pid: process.pid, hidden: process.hidden)
        }.map(\.name)
    }

    /// Observes `processes` (every live, observable one, in the model's order) after a step: reads the
    /// tables that must be read, reuses the others, and brings the identity partition up to date.
    mutating func observe(_ processes: [Process], model: ReferenceModel, touched: Set<String>,
                          identity: inout IdentityResolver,
                          probe: IdentityResolver.Probe) throws(HarnessError) -> Observation {
        let fresh = processesToRead(processes, model: model, touched: touched)
        let reading = Set(fresh)
        var pids: [String: pid_t] = [:]
        for process in processes {
            pids[process.name] = process.pid
            if reading.contains(process.name) {
                guard let table = try read(process.pid, process.hidden), !process.hasExited() else {
                    throw Self.vanished(process)
                }
                Self.readLog.record(process.name)
                tables[process.name] = table
                sources[process.name] = Source(pid: process.pid, hidden: process.hidden)
            } else if process.hasExited() {
                throw .agentGone(process: process.name, reason: process.endReason())
            }
        }
        var stale = reading
        for name in tables.keys where pids[name] == nil { stale.insert(name) }
        for name in stale where pids[name] == nil {
            tables[name] = nil
            sources[name] = nil
        }
        do {
            try identity.update(dropping: stale, placing: fresh, tables: tables, pids: pids,
                                expected: { model.descriptionLookup(of: $0) }, probe: probe)
        } catch {
            // kcmp names descriptors of live processes: EBADF or ESRCH when one of them ended after its table
            // was read (it releases its table well before a pidfd says it has exited). That end is what
            // happened, whichever call met it first; the call's own failure only when no process is ending.
            if case .agentGone = error { throw error }
            if let ended = processes.first(where: { $0.hasEnded() }) {
                throw .agentGone(process: ended.name, reason: ended.endReason())
            }
            throw error
        }
        self.model = model.descriptorState
        return Observation(tables: tables, groups: identity.groups)
    }

    /// A table that could not be read whole (nil from `read`: the process's /proc entry, its control
    /// channel or a descriptor vanished during the read), or whose process has exited: the process's end
    /// when it is ending. Otherwise its table changed while it was read, which a quiescent agent's cannot: a
    /// harness failure either way, never a table with descriptors missing compared with the model.
    static func vanished(_ process: Process) -> HarnessError {
        if process.hasEnded() { return .agentGone(process: process.name, reason: process.endReason()) }
        return .protocolViolation(process: process.name, detail: "its descriptor table changed while the runner read it")
    }
}

/// Records which tables are read, for tests (integration tests run serialized). Off unless started.
final class TableReadLog: @unchecked Sendable {
    private let lock = NSLock()
    private var names: [String]?

    func start() { lock.withLock { names = [] } }

    /// The names recorded since start, in order; recording stops.
    func stop() -> [String] {
        lock.withLock {
            defer { names = nil }
            return names ?? []
        }
    }

    func record(_ name: String) {
        lock.withLock { names?.append(name) }
    }
}
