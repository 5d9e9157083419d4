import Foundation
import Glibc
import HandoffProtocol

/// Answers the kernel gave because of the machine, not the scenario: a name or port that another program
/// holds, a work directory whose file system is full. The model predicts from the scenario alone, so such
/// an answer would be a finding against the kernel; it is the harness's environment, and an ERROR naming it.
extension ScenarioExecution {
    /// Why the observed answer is the machine's doing, when it is.
    func machineCause(of operation: Operation, by process: String, predicted: Outcome, observed: Outcome) -> String? {
        if observed.errno == EADDRINUSE && predicted.errno != EADDRINUSE {
            switch operation {
            case .sockets(.listen(let address, _, _, _, _)), .sockets(.bind(_, let address)):
                return foreignHolder(of: address, seenBy: process)
            default: return nil
            }
        }
        let requested: Int
        switch operation {
        case .files(.write(_, let data)), .files(.pwrite(_, let data, _)): requested = data.count
        case .files(.ftruncate(_, let length)): requested = Int(clamping: length)
        default: return nil
        }
        let short = observed.errno == 0 && predicted.errno == 0 && (observed.result ?? 0) < (predicted.result ?? 0)
        guard short || [ENOSPC, EDQUOT].contains(observed.errno) && observed.errno != predicted.errno,
            let free = SystemProbe.freeBytes(workPath), free < UInt64(max(requested, 1)) + 64 * 1024
        else { return nil }
        return "the work directory's file system (\(workPath)) has \(free) bytes free, too few for the \(requested) "
            + "bytes this step writes: the machine's limit, not the kernel's answer (give --workdir a larger one)"
    }

    /// The program outside this scenario that holds an abstract name or a TCP port, found in the agent's
    /// network namespace's tables (/proc/PID/net/unix, tcp, tcp6) and the owners' descriptor tables. A holder
    /// no visible process owns (another pid namespace's, a connection in TIME_WAIT) counts as foreign only
    /// when the scenario never used the address before: else it may be the scenario's own socket in flight or
    /// closing, which the model should have known.
    func foreignHolder(of address: SocketAddress, seenBy process: String) -> String? {
        let scenarioPids = Set(model.processNames.compactMap { tree[$0]?.pid })
        // The tables of the acting process's network namespace (another process may have unshared its own).
        guard let viewer = tree[process]?.pid else { return nil }
        var inodes: Set<UInt64> = []
        var held = false
        switch address {
        case .unix: return nil  // a path in the scenario's own folder
        case .abstract(let name):
            // unix_seq_show prints the leading NUL and any other NUL byte of the name as '@'.
            let shown = "@" + String(decoding: name.utf8.map { $0 == 0 ? UInt8(ascii: "@") : $0 }, as: UTF8.self)
            for line in (Observer.readSmallFile("/proc/\(viewer)/net/unix") ?? "").split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", maxSplits: 7)
                guard fields.count == 8, fields[7] == shown else { continue }
                held = true
                if let inode = UInt64(fields[6]), inode != 0 { inodes.insert(inode) }
            }
        case .tcp(let port):
            let wanted = ":" + String(format: "%04X", port)
            for table in ["tcp", "tcp6"] {
                for line in (Observer.readSmallFile("/proc/\(viewer)/net/\(table)") ?? "").split(separator: "\n").dropFirst() {
                    let fields = line.split(separator: " ")
                    guard fields.count > 9, fields[1].hasSuffix(wanted) else { continue }
                    held = true
                    if let inode = UInt64(fields[9]), inode != 0 { inodes.insert(inode) }
                }
            }
        }
        guard held else { return nil }
        let links = Set(inodes.map { "socket:[\($0)]" })
        var outsider: ProcessStatus?
        if !links.isEmpty {
            for process in ProcessStatus.all() {
                let directory = "/proc/\(process.pid)/fd"
                guard let names = directoryNames(directory),
                    names.contains(where: { Observer.readLink(directory + "/" + $0).map(links.contains) == true })
                else { continue }
                if isInScenario(process.pid, scenarioPids) { return nil }
                outsider = outsider ?? process
            }
        }
        let advice = "the machine's, not the kernel's answer (a name of the scenario's own: {@unique}, or {tcp: 0})"
        if let outsider {
            return "\(address) is held by pid \(outsider.pid) (\(outsider.command)), which is not this scenario's: " + advice
        }
        guard !scenarioUsedAddressBefore(address) else { return nil }
        return "\(address) is held by a socket this scenario did not make (no process visible here owns it: another "
            + "namespace's, or a connection closing): " + advice
    }

    /// Whether `pid` is one of the scenario's processes or descends from one.
    func isInScenario(_ pid: pid_t, _ scenarioPids: Set<pid_t>) -> Bool {
        var current = pid
        for _ in 0..<64 {
            if scenarioPids.contains(current) { return true }
            guard current > 1, let parent = ProcessStatus.read(current)?.parent else { return false }
            current = parent
        }
        return false
    }

    /// Whether a step before this one names `address` as written (a fixed name or port).
    func scenarioUsedAddressBefore(_ address: SocketAddress) -> Bool {
        scenario.steps.prefix(max(0, currentStep - 1)).contains { step in
            var names = false
            _ = step.operation?.map(descriptor: { (value: DescriptorRef, _: DescriptorField<String>) in value },
                                    process: { $0 }, address: { (written: AddressSpec) in
                switch (written, address) {
                case (.abstract(let a), .abstract(let b)): names = names || a == b
                case (.tcpPort(let a), .tcp(let b)): names = names || a == b
                default: break
                }
                return written
            }, text: { $0 }) as ScenarioOperation?
            return names
        }
    }
}

extension ScenarioExecution {
    /// An answer the agent's own control channel shapes: a number below RLIMIT_NOFILE that a process of the
    /// scenario's own would have free, but the channel holds (at 1023 when the limit is above it). The model
    /// predicts what the agent meets - EMFILE, or the next number up - which is not what Linux gives the
    /// program the scenario describes; and a descriptor placed on the channel's number when no other
    /// number is free leaves the agent nowhere to move its channel. Both are past what handoff can
    /// reproduce, an ERROR saying so (found by porting LTP's fill-the-table tests).
    /// Called after every prediction, on every step and every simulated iteration of a loop: nothing to look
    /// at unless the answer is EMFILE or gives descriptors.
    func harnessShapedAnswer(_ predicted: Outcome, of operation: Operation, process: String) -> String? {
        guard predicted.errno == EMFILE || (predicted.errno == 0 && !predicted.fds.isEmpty) else { return nil }
        let limit = model.nofileLimit(of: process)
        // Set by the prediction just made (predict, trialPredict): not computed again on every step.
        let channels = (model.harnessNumbers[process] ?? []).filter { $0 < limit }
        guard !channels.isEmpty else { return nil }
        let table = model[tableOf: process]
        // Where the kernel starts looking (F_DUPFD's minimum; 0 for every other allocation).
        var minimum: Int32 = 0
        if case .table(.fcntl(_, .dupfd(let from))) = operation { minimum = max(0, from) }
        if case .table(.fcntl(_, .dupfdCloexec(let from))) = operation { minimum = max(0, from) }
        for channel in channels.sorted() where channel >= minimum {
            let belowTaken = (minimum..<channel).allSatisfy { table[$0] != nil || channels.contains($0) }
            // (The walk for a free number only when a descriptor lands on the channel's own.)
            let shaped = predicted.errno == EMFILE && belowTaken
                || (predicted.errno == 0 && belowTaken && predicted.fds.contains { $0 > channel } && table[channel] == nil)
                || (predicted.fds.contains(channel) && !(0..<limit).contains { table[$0] == nil && !channels.contains($0) })
            if shaped {
                return "the agent's control channel holds \(channel), below RLIMIT_NOFILE (\(limit)), which the process "
                    + "the scenario describes would have free: lower the limit under \(channel) with setrlimit, or use "
                    + "fewer descriptors"
            }
        }
        return nil
    }
}
