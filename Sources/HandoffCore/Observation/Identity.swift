import CHandoff
import Glibc

/// How descriptor identity (same open file description) is decided.
public enum IdentityMode: String, Sendable, CaseIterable {
    /// kcmp(KCMP_FILE), falling back to the flag probe where kcmp is denied or missing.
    case auto
    /// kcmp only; a kcmp failure is a harness error.
    case kcmp
    /// The flag probe only (as under gVisor or a seccomp profile that denies kcmp).
    case probe
}

/// A descriptor somewhere in the process tree.
struct DescriptorKey: Hashable, Comparable, CustomStringConvertible {
    var process: String
    var number: Int32

    static func < (lhs: DescriptorKey, rhs: DescriptorKey) -> Bool {
        (lhs.process, lhs.number) < (rhs.process, rhs.number)
    }

    var description: String { "\(process).\(number)" }
}

/// Partitions observed descriptors into open file descriptions.
///
/// Candidates are first bucketed by what readlink and fdinfo show (same description implies same target
/// and inode), then split within each bucket by kcmp(KCMP_FILE). Where kcmp is unavailable, the flag probe
/// decides: toggle O_NONBLOCK through one descriptor's agent and see which others change with it (status
/// flags live in the description), then restore it.
struct IdentityResolver {
    typealias Probe = (_ key: DescriptorKey, _ command: Int32, _ argument: Int32) throws(HarnessError) -> Int32

    var mode: IdentityMode
    /// The oracle that decided the last partition.
    private(set) var decidedBy: String = "kcmp"

    init(mode: IdentityMode) {
        self.mode = mode
        decidedBy = mode == .probe ? "flag-probe" : "kcmp"
    }

    mutating func partition(_ observed: [DescriptorKey: ObservedDescriptor], pids: [String: pid_t],
                            probe: Probe) throws(HarnessError) -> [DescriptorKey: Int] {
        var buckets: [String: [DescriptorKey]] = [:]
        for (key, descriptor) in observed {
            buckets["\(descriptor.target)#\(descriptor.inode)", default: []].append(key)
        }
        var groups: [DescriptorKey: Int] = [:]
        var nextGroup = 0
        for bucketKey in buckets.keys.sorted() {
            let members = buckets[bucketKey]!.sorted()
            if members.count == 1 {
                groups[members[0]] = nextGroup
                nextGroup += 1
                continue
            }
            let split: [[DescriptorKey]]
            if mode != .probe, let byKcmp = try splitByKcmp(members, pids: pids) {
                split = byKcmp
            } else {
                if mode == .kcmp { throw .system(call: "kcmp(KCMP_FILE)", errno: errno) }
                decidedBy = "flag-probe"
                // F_SETFL fails on O_PATH descriptors, so the probe cannot tell their descriptions apart.
                if let pathOnly = members.first(where: { observed[$0]!.flags & Linux.O_PATH != 0 }) {
                    throw .undecidable("identity of O_PATH descriptors (\(pathOnly)) cannot be decided here: kcmp is "
                        + "\(mode == .probe ? "not used (--identity probe)" : "unavailable") and the flag probe cannot "
                        + "change an O_PATH descriptor's flags")
                }
                split = try splitByProbe(members, probe: probe)
            }
            for group in split {
                for key in group { groups[key] = nextGroup }
                nextGroup += 1
            }
        }
        return groups
    }

    /// nil when kcmp is denied or missing.
    private func splitByKcmp(_ members: [DescriptorKey], pids: [String: pid_t]) throws(HarnessError) -> [[DescriptorKey]]? {
        var groups: [[DescriptorKey]] = []
        for key in members {
            var placed = false
            for index in groups.indices {
                let representative = groups[index][0]
                let answer = handoff_kcmp_file(pids[representative.process]!, pids[key.process]!,
                                               representative.number, key.number)
                if answer < 0 {
                    if errno == EPERM || errno == ENOSYS || errno == EACCES { return nil }
                    throw .system(call: "kcmp(\(representative), \(key))", errno: errno)
                }
                if answer == 0 {
                    groups[index].append(key)
                    placed = true
                    break
                }
            }
            if !placed { groups.append([key]) }
        }
        return groups
    }

    private func splitByProbe(_ members: [DescriptorKey], probe: Probe) throws(HarnessError) -> [[DescriptorKey]] {
        var remaining = members
        var groups: [[DescriptorKey]] = []
        while let representative = remaining.first {
            remaining.removeFirst()
            var before: [DescriptorKey: Int32] = [:]
            for key in remaining { before[key] = try probe(key, F_GETFL, 0) }
            let original = try probe(representative, F_GETFL, 0)
            _ = try probe(representative, F_SETFL, original ^ O_NONBLOCK)
            var group = [representative]
            var others: [DescriptorKey] = []
            for key in remaining {
                let after = try probe(key, F_GETFL, 0)
                if (after ^ before[key]!) & O_NONBLOCK != 0 { group.append(key) } else { others.append(key) }
            }
            _ = try probe(representative, F_SETFL, original)
            groups.append(group)
            remaining = others
        }
        return groups
    }
}
