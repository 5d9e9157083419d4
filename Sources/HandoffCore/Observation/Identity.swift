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

/// What readlink and fdinfo show of the object behind a descriptor. Descriptors of one open file
/// description always have the same key, so only descriptors with equal keys need kcmp or the probe.
struct ObjectKey: Hashable {
    var target: String
    var inode: UInt64
    var mountID: Int

    init(_ descriptor: ObservedDescriptor) {
        target = descriptor.target
        inode = descriptor.inode
        mountID = descriptor.mountID
    }
}

/// Partitions the observed descriptors of the process tree into open file descriptions, and keeps the
/// partition from one observation to the next: only the descriptors of processes read again are placed
/// again, against groups kept from processes that were not.
///
/// Descriptors are bucketed by ObjectKey, then decided within a bucket by kcmp(KCMP_FILE). kcmp orders open
/// file descriptions (0 same, 1 less, 2 greater: the kernel compares obfuscated pointers), so each bucket
/// keeps its groups in kcmp order and new descriptors are sorted and merged in: O(n log n) kcmp calls for n
/// new descriptors, and about one each when the model's expectation holds (a descriptor is first checked
/// against the group the model says it shares, and a descriptor keeps its old place in the order as the
/// first guess). Where kcmp is unavailable, the flag probe decides: toggle O_NONBLOCK through one
/// descriptor's agent and see which others change with it (status flags live in the description), then
/// restore it. Many descriptions are toggled at once under binary codes, so the probe too stays below
/// quadratic: O((n + g) log g) probes to place n descriptors among g known descriptions.
struct IdentityResolver {
    typealias Probe = (_ key: DescriptorKey, _ command: Int32, _ argument: Int32) throws(HarnessError) -> Int32
    /// kcmp(pid1, pid2, KCMP_FILE, fd1, fd2): 0, 1 or 2, or -1 with errno. Tests substitute a model of it.
    typealias Kcmp = (_ pid1: pid_t, _ pid2: pid_t, _ fd1: Int32, _ fd2: Int32) -> Int32
    /// The model's description behind each descriptor of a process (nil where the model has it closed):
    /// a hint of where to look first, never trusted.
    typealias Expectation = (_ process: String) -> (_ number: Int32) -> DescriptionID?

    var mode: IdentityMode
    /// The oracle that decided the last partition.
    private(set) var decidedBy: String = "kcmp"
    var kcmp: Kcmp = { handoff_kcmp_file($0, $1, $2, $3) }

    /// Every observed descriptor's group: one group per open file description.
    private(set) var groups: [DescriptorKey: Int] = [:]
    /// The members of each group. After stale processes are dropped, every member is current.
    private var members: [Int: [DescriptorKey]] = [:]
    /// Each group's bucket, and its place in the bucket's order.
    private var bucketOf: [Int: Int] = [:]
    private var position: [Int: Int] = [:]
    private var buckets: [Int: Bucket] = [:]
    private var bucketIDs: [ObjectKey: Int] = [:]
    /// The descriptors of each process that are in the partition.
    private var numbers: [String: [Int32]] = [:]
    private var nextGroup = 0
    private var nextBucket = 0

    private struct Bucket {
        var object: ObjectKey
        var groups: [Int] = []
        /// Whether `groups` is in kcmp order (not after the flag probe placed descriptors in it).
        var ordered = true
    }

    /// A descriptor to place: the model's description of it, and its group's old place in this bucket's
    /// order (Int.max when it had none).
    struct Item {
        var key: DescriptorKey
        var expected: DescriptionID?
        var rank: Int

        /// The first guess at kcmp order: old places first, then descriptor order.
        static func precedes(_ a: Item, _ b: Item) -> Bool { a.rank != b.rank ? a.rank < b.rank : a.key < b.key }
    }

    /// One group of a bucket after placement: an existing group (nil for a new one) and its new members.
    struct Placement {
        var group: Int?
        var added: [DescriptorKey]
    }

    private enum KcmpFailure: Error {
        /// EPERM, EACCES or ENOSYS: kcmp is denied or missing (seccomp, gVisor, ptrace rules).
        case denied(Int32)
        /// An answer other than 0, 1 and 2: equality is known, order is not.
        case unordered
        case failed(HarnessError)
    }

    private enum Order { case less, equal, greater }

    init(mode: IdentityMode) {
        self.mode = mode
        decidedBy = mode == .probe ? "flag-probe" : "kcmp"
    }

    /// Drops the descriptors of `stale` processes (ended, busy, or read again), then places those of
    /// `fresh` processes (read again or new). `tables` is the whole observation, kept and fresh, and `pids`
    /// its processes. The descriptors kept are trusted to be what they were: a kept process changes only
    /// through its own agent, and the caller reads again every process that can have. After a throw the
    /// partition is incomplete (the run stops there).
    mutating func update(dropping stale: Set<String>, placing fresh: [String], tables: [String: [Int32: ObservedDescriptor]],
                         pids: [String: pid_t], expected: Expectation, probe: Probe) throws(HarnessError) {
        // Forget the stale descriptors, remembering where each stood in its bucket's order.
        let staleList = Array(stale)
        var hints: [String: [Int32: (bucket: Int, rank: Int)]] = [:]
        var touched: Set<Int> = []
        for process in staleList {
            guard let list = numbers.removeValue(forKey: process) else { continue }
            var processHints: [Int32: (bucket: Int, rank: Int)] = [:]
            processHints.reserveCapacity(list.count)
            for number in list {
                guard let group = groups.removeValue(forKey: DescriptorKey(process: process, number: number)) else { continue }
                touched.insert(group)
                guard let bucket = bucketOf[group], let rank = position[group] else {
                    throw .inconsistent("the identity partition lost the place of \(process).\(number)'s group")
                }
                if buckets[bucket]?.ordered == true { processHints[number] = (bucket, rank) }
            }
            hints[process] = processHints
        }
        var emptied: Set<Int> = []
        for group in touched {
            members[group]?.removeAll { staleList.contains($0.process) }
            if members[group]?.isEmpty ?? true {
                members[group] = nil
                position[group] = nil
                if let bucket = bucketOf.removeValue(forKey: group) { emptied.insert(bucket) }
            }
        }
        // (Positions stay increasing along a bucket's order when groups leave it: still valid as ranks. A
        // bucket left empty stays until the fresh descriptors are placed, for the ranks its old groups gave.)
        for bucket in emptied { buckets[bucket]?.groups.removeAll { members[$0] == nil } }
        defer {
            for bucket in emptied {
                guard let emptiedBucket = buckets[bucket], emptiedBucket.groups.isEmpty else { continue }
                bucketIDs[emptiedBucket.object] = nil
                buckets[bucket] = nil
            }
        }
        // Place the fresh descriptors, bucket by bucket.
        var incoming: [Int: [Item]] = [:]
        for process in fresh {
            guard let table = tables[process] else { continue }
            numbers[process] = Array(table.keys)
            let model = expected(process)
            let processHints = hints[process] ?? [:]
            for (number, descriptor) in table {
                let object = ObjectKey(descriptor)
                let bucket: Int
                if let known = bucketIDs[object] {
                    bucket = known
                } else {
                    bucket = nextBucket
                    nextBucket += 1
                    bucketIDs[object] = bucket
                    buckets[bucket] = Bucket(object: object)
                }
                var rank = Int.max
                if let hint = processHints[number], hint.bucket == bucket { rank = hint.rank }
                incoming[bucket, default: []].append(Item(key: DescriptorKey(process: process, number: number),
                                                          expected: model(number), rank: rank))
            }
        }
        var lookups: [String: (Int32) -> DescriptionID?] = [:]
        for process in pids.keys { lookups[process] = expected(process) }
        let expectedOf = { (key: DescriptorKey) -> DescriptionID? in lookups[key.process]?(key.number) }
        for (bucket, items) in incoming {
            try place(items, bucket: bucket, tables: tables, pids: pids, expectedOf: expectedOf, probe: probe)
        }
    }

    private mutating func place(_ items: [Item], bucket: Int, tables: [String: [Int32: ObservedDescriptor]],
                                pids: [String: pid_t], expectedOf: (DescriptorKey) -> DescriptionID?,
                                probe: Probe) throws(HarnessError) {
        guard let current = buckets[bucket] else {
            throw .inconsistent("the identity partition lost bucket \(bucket) while placing \(items.count) descriptors")
        }
        let existing = current.groups
        if existing.isEmpty && items.count == 1 {
            commit([Placement(group: nil, added: [items[0].key])], bucket: bucket, ordered: true)
            return
        }
        var deniedErrno: Int32 = 0
        if mode != .probe {
            do throws(KcmpFailure) {
                let placements = try placeByKcmp(items, existing: existing, ordered: current.ordered,
                                                 pids: pids, expectedOf: expectedOf)
                commit(placements, bucket: bucket, ordered: true)
                return
            } catch {
                switch error {
                case .denied(let code): deniedErrno = code
                case .failed(let failure): throw failure
                case .unordered:
                    let placements = try placeByEquality(items.map(\.key), existing: existing, pids: pids)
                    commit(placements, bucket: bucket, ordered: false)
                    return
                }
            }
            if mode == .kcmp { throw .system(call: "kcmp(KCMP_FILE)", errno: deniedErrno) }
        }
        decidedBy = "flag-probe"
        let placements = try placeByProbe(items, existing: existing, tables: tables, expectedOf: expectedOf, probe: probe)
        commit(placements, bucket: bucket, ordered: false)
    }

    private mutating func commit(_ placements: [Placement], bucket: Int, ordered: Bool) {
        var order: [Int] = []
        order.reserveCapacity(placements.count)
        for (index, placement) in placements.enumerated() {
            let group: Int
            if let existing = placement.group {
                group = existing
            } else {
                group = nextGroup
                nextGroup += 1
                bucketOf[group] = bucket
            }
            if !placement.added.isEmpty {
                members[group, default: []].append(contentsOf: placement.added)
                for key in placement.added { groups[key] = group }
            }
            if position[group] != index { position[group] = index }
            order.append(group)
        }
        buckets[bucket]?.groups = order
        buckets[bucket]?.ordered = ordered
    }

    /// A current member of `group`. Every group in a bucket's order has one (a group left empty leaves its
    /// bucket first); were that broken, the placeholder names no process, and `pid(of:)` reports it as an error
    /// instead of the runner trapping.
    func representative(_ group: Int) -> DescriptorKey {
        members[group]?.first ?? DescriptorKey(process: "", number: -1)
    }

    /// The pid of a process in the partition; every such process is in `pids` (the caller's observation).
    private func pid(of key: DescriptorKey, in pids: [String: pid_t]) throws(HarnessError) -> pid_t {
        guard let pid = pids[key.process] else {
            throw .inconsistent("the identity partition holds \(key), of a process the observation does not have")
        }
        return pid
    }

    // MARK: - kcmp

    private func compare(_ a: DescriptorKey, _ b: DescriptorKey, pids: [String: pid_t]) throws(KcmpFailure) -> Order {
        let first: pid_t, second: pid_t
        do throws(HarnessError) {
            (first, second) = (try pid(of: a, in: pids), try pid(of: b, in: pids))
        } catch {
            throw .failed(error)
        }
        let answer = kcmp(first, second, a.number, b.number)
        switch answer {
        case 0: return .equal
        case 1: return .less
        case 2: return .greater
        default:
            if answer >= 0 { throw .unordered }
            let code = errno
            if code == EPERM || code == EACCES || code == ENOSYS { throw .denied(code) }
            throw .failed(.system(call: "kcmp(\(a), \(b))", errno: code))
        }
    }

    /// The new descriptors of one bucket placed among its existing groups, in kcmp order.
    private func placeByKcmp(_ items: [Item], existing: [Int], ordered: Bool, pids: [String: pid_t],
                             expectedOf: (DescriptorKey) -> DescriptionID?) throws(KcmpFailure) -> [Placement] {
        func order(_ a: DescriptorKey, _ b: DescriptorKey) throws(KcmpFailure) -> Order { try compare(a, b, pids: pids) }
        // The existing groups in kcmp order, each by a current member.
        var sequence = existing
        if !ordered && sequence.count > 1 {
            let sortedRuns = try runs(of: sequence.map(representative), order)
            var groupOf: [DescriptorKey: Int] = [:]
            for group in sequence { groupOf[representative(group)] = group }
            sequence = sortedRuns.flatMap { run in run.compactMap { groupOf[$0] } }
        }
        // 1. Each descriptor against the group the model says it shares: one kcmp when the model is right.
        var byModel: [DescriptionID: Int] = [:]
        for (index, group) in sequence.enumerated() {
            if let id = expectedOf(representative(group)), byModel[id] == nil { byModel[id] = index }
        }
        var joined: [Int: [DescriptorKey]] = [:]
        var rest: [Item] = []
        for item in items {
            if let id = item.expected, let index = byModel[id], try order(item.key, representative(sequence[index])) == .equal {
                joined[index, default: []].append(item.key)
            } else {
                rest.append(item)
            }
        }
        // 2. Among the rest, one leader per model description (the one with the best first guess); the
        //    others are checked against it.
        var candidates: [Item] = []
        var followers: [DescriptorKey: [DescriptorKey]] = [:]
        var byDescription: [DescriptionID: [Item]] = [:]
        for item in rest {
            if let id = item.expected { byDescription[id, default: []].append(item) } else { candidates.append(item) }
        }
        for sharing in byDescription.values {
            var leader = sharing[0]
            for item in sharing.dropFirst() where Item.precedes(item, leader) { leader = item }
            candidates.append(leader)
            for other in sharing where other.key != leader.key {
                if try order(other.key, leader.key) == .equal {
                    followers[leader.key, default: []].append(other.key)
                } else {
                    candidates.append(other)
                }
            }
        }
        // 3. The candidates in kcmp order, their old places as the first guess.
        candidates.sort(by: Item.precedes)
        let candidateRuns = try runs(of: candidates.map(\.key), order)
        // 4. Merged into the existing order.
        var placements: [Placement] = []
        placements.reserveCapacity(sequence.count + candidateRuns.count)
        var next = 0
        for run in candidateRuns {
            let (position, equal) = try locate(run[0], in: sequence, from: next, order)
            for index in next..<position { placements.append(Placement(group: sequence[index], added: joined[index] ?? [])) }
            var added: [DescriptorKey] = []
            for key in run {
                added.append(key)
                added += followers[key] ?? []
            }
            if equal {
                placements.append(Placement(group: sequence[position], added: (joined[position] ?? []) + added))
                next = position + 1
            } else {
                placements.append(Placement(group: nil, added: added))
                next = position
            }
        }
        for index in next..<sequence.count { placements.append(Placement(group: sequence[index], added: joined[index] ?? [])) }
        return placements
    }

    /// `items` sorted in kcmp order, as runs of the same description. A sequence already in order costs
    /// one kcmp per item; otherwise a sort (Swift's sort is adaptive: runs already in order stay cheap).
    private func runs(of items: [DescriptorKey],
                      _ order: (DescriptorKey, DescriptorKey) throws(KcmpFailure) -> Order)
        throws(KcmpFailure) -> [[DescriptorKey]]
    {
        guard let first = items.first else { return [] }
        var result: [[DescriptorKey]] = [[first]]
        var inOrder = true
        for index in items.indices.dropFirst() {
            switch try order(items[index - 1], items[index]) {
            case .less: result.append([items[index]])
            case .equal: result[result.count - 1].append(items[index])
            case .greater: inOrder = false
            }
            if !inOrder { break }
        }
        if inOrder { return result }
        var failure: KcmpFailure?
        let sorted = items.sorted { a, b in
            if failure != nil { return false }
            do throws(KcmpFailure) { return try order(a, b) == .less } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        result = [[sorted[0]]]
        for index in sorted.indices.dropFirst() {
            if try order(sorted[index - 1], sorted[index]) == .equal {
                result[result.count - 1].append(sorted[index])
            } else {
                result.append([sorted[index]])
            }
        }
        return result
    }

    /// The first position at or after `start` whose group is not below `key` in kcmp order, and whether
    /// it is `key`'s description. Galloping, then binary search: O(log distance) kcmp calls.
    private func locate(_ key: DescriptorKey, in sequence: [Int], from start: Int,
                        _ order: (DescriptorKey, DescriptorKey) throws(KcmpFailure) -> Order) throws(KcmpFailure) -> (Int, Bool) {
        var known: [Int: Order] = [:]
        var low = start
        var high = sequence.count
        var step = 0
        while start + step < sequence.count {
            let index = start + step
            let relation = try order(key, representative(sequence[index]))
            known[index] = relation
            if relation != .greater {
                high = index
                break
            }
            low = index + 1
            step = step * 2 + 1
        }
        while low < high {
            let middle = (low + high) / 2
            let relation = try order(key, representative(sequence[middle]))
            known[middle] = relation
            if relation == .greater { low = middle + 1 } else { high = middle }
        }
        return (low, low < sequence.count && known[low] == .equal)
    }

    /// kcmp that tells only equality: pairwise against one member of each group.
    private func placeByEquality(_ keys: [DescriptorKey], existing: [Int],
                                 pids: [String: pid_t]) throws(HarnessError) -> [Placement] {
        var placements = existing.map { Placement(group: $0, added: []) }
        var heads = existing.map(representative)
        for key in keys {
            var placed = false
            for index in heads.indices {
                let answer = kcmp(try pid(of: heads[index], in: pids), try pid(of: key, in: pids), heads[index].number, key.number)
                if answer < 0 { throw .system(call: "kcmp(\(heads[index]), \(key))", errno: errno) }
                if answer == 0 {
                    placements[index].added.append(key)
                    placed = true
                    break
                }
            }
            if !placed {
                placements.append(Placement(group: nil, added: [key]))
                heads.append(key)
            }
        }
        return placements
    }
}
