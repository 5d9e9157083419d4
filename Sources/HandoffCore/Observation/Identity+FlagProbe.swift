// The flag probe: where kcmp is unavailable (or --identity probe), two descriptors share an open file
// description exactly when toggling O_NONBLOCK through one shows through the other (IdentityResolver).

import CHandoff
import Glibc

extension IdentityResolver {
    func placeByProbe(_ items: [Item], existing: [Int], tables: [String: [Int32: ObservedDescriptor]],
                              expectedOf: (DescriptorKey) -> DescriptionID?, probe: Probe) throws(HarnessError) -> [Placement] {
        let heads = existing.map(representative)
        // F_SETFL fails on O_PATH descriptors, so the probe cannot tell their descriptions apart.
        for key in items.map(\.key) + heads where (tables[key.process]?[key.number]?.flags ?? 0) & Linux.O_PATH != 0 {
            throw .undecidable("identity of O_PATH descriptors (\(key)) cannot be decided here: kcmp is "
                + "\(mode == .probe ? "not used (--identity probe)" : "unavailable") and the flag probe cannot "
                + "change an O_PATH descriptor's flags")
        }
        var placements = existing.map { Placement(group: $0, added: []) }
        // 1. Each descriptor against the group the model says it shares: one toggle per group.
        var byModel: [DescriptionID: Int] = [:]
        for (index, head) in heads.enumerated() {
            if let id = expectedOf(head), byModel[id] == nil { byModel[id] = index }
        }
        var expectedIn: [Int: [DescriptorKey]] = [:]
        var rest: [Item] = []
        for item in items {
            if let id = item.expected, let index = byModel[id] {
                expectedIn[index, default: []].append(item.key)
            } else {
                rest.append(item)
            }
        }
        for (index, watched) in expectedIn.sorted(by: { $0.key < $1.key }) {
            let changed = try toggle([heads[index]], watching: watched, probe: probe)
            for (key, moved) in zip(watched, changed) {
                if moved {
                    placements[index].added.append(key)
                } else {
                    rest.append(Item(key: key, expected: nil, rank: Int.max))
                }
            }
        }
        // 2. Among the rest, one leader per model description; the others are checked against it.
        var candidates: [DescriptorKey] = []
        var followers: [DescriptorKey: [DescriptorKey]] = [:]
        var byDescription: [DescriptionID: [DescriptorKey]] = [:]
        for item in rest {
            if let id = item.expected { byDescription[id, default: []].append(item.key) } else { candidates.append(item.key) }
        }
        for (_, unsorted) in byDescription.sorted(by: { $0.key < $1.key }) {
            let sharing = unsorted.sorted()
            let leader = sharing[0]
            candidates.append(leader)
            let others = Array(sharing.dropFirst())
            if others.isEmpty { continue }
            let changed = try toggle([leader], watching: others, probe: probe)
            for (key, moved) in zip(others, changed) {
                if moved { followers[leader, default: []].append(key) } else { candidates.append(key) }
            }
        }
        // 3. The candidates against the existing groups, then among themselves.
        candidates.sort()
        let matches = try classify(candidates, against: heads, probe: probe)
        var unmatched: [DescriptorKey] = []
        for (key, match) in zip(candidates, matches) {
            if let match { placements[match].added += [key] + (followers[key] ?? []) } else { unmatched.append(key) }
        }
        // Usually each is its own description (the model's leaders): verified in O(k log k) probes.
        let split = try distinct(unmatched, probe: probe) ? unmatched.map { [$0] } : try resolve(unmatched, probe: probe)
        for group in split {
            placements.append(Placement(group: nil, added: group.flatMap { [$0] + (followers[$0] ?? []) }))
        }
        return placements
    }

    /// Whether `keys` are of pairwise different descriptions. In round j the keys whose index has bit j set
    /// are toggled, and each key must change exactly when it was toggled itself: two keys of one
    /// description differ in some bit, and in that round at least one of them does not behave so.
    func distinct(_ keys: [DescriptorKey], probe: Probe) throws(HarnessError) -> Bool {
        if keys.count < 2 { return true }
        let width = Int.bitWidth - (keys.count - 1).leadingZeroBitCount
        for bit in 0..<width {
            let selected = keys.indices.filter { $0 >> bit & 1 == 1 }.map { keys[$0] }
            for (index, moved) in try toggle(selected, watching: keys, probe: probe).enumerated()
            where moved != (index >> bit & 1 == 1) {
                return false
            }
        }
        return true
    }

    /// Toggles O_NONBLOCK through each of `toggled`, reads which of `watching` changed with them, and
    /// restores the flags (in reverse order, which restores them even where two toggled descriptors share a
    /// description).
    func toggle(_ toggled: [DescriptorKey], watching: [DescriptorKey], probe: Probe) throws(HarnessError) -> [Bool] {
        var before: [Int32] = []
        before.reserveCapacity(watching.count)
        for key in watching { before.append(try probe(key, F_GETFL, 0)) }
        var originals: [Int32] = []
        for key in toggled {
            let original = try probe(key, F_GETFL, 0)
            originals.append(original)
            _ = try probe(key, F_SETFL, original ^ O_NONBLOCK)
        }
        var changed: [Bool] = []
        changed.reserveCapacity(watching.count)
        for (index, key) in watching.enumerated() {
            let after = try probe(key, F_GETFL, 0)
            changed.append((after ^ before[index]) & O_NONBLOCK != 0)
        }
        for (index, key) in toggled.enumerated().reversed() { _ = try probe(key, F_SETFL, originals[index]) }
        return changed
    }

    /// For each candidate, the index of the head (of pairwise different descriptions) whose description it
    /// shares, or nil. Either each candidate is toggled and the heads watched (few candidates), or the
    /// heads are toggled in rounds by the bits of their index and the candidates watched: the bits a
    /// candidate changed with spell its head.
    func classify(_ candidates: [DescriptorKey], against heads: [DescriptorKey],
                          probe: Probe) throws(HarnessError) -> [Int?] {
        if heads.isEmpty || candidates.isEmpty { return candidates.map { _ in nil } }
        let width = Int.bitWidth - heads.count.leadingZeroBitCount  // codes 1...heads.count
        if candidates.count * (heads.count + 3) <= (heads.count * 2 + candidates.count * 2) * width {
            var result: [Int?] = []
            for candidate in candidates {
                result.append(try toggle([candidate], watching: heads, probe: probe).firstIndex(of: true))
            }
            return result
        }
        var codes = [Int](repeating: 0, count: candidates.count)
        for bit in 0..<width {
            let selected = heads.indices.filter { ($0 + 1) >> bit & 1 == 1 }.map { heads[$0] }
            for (index, moved) in try toggle(selected, watching: candidates, probe: probe).enumerated() where moved {
                codes[index] |= 1 << bit
            }
        }
        return codes.map { $0 == 0 || $0 > heads.count ? nil : $0 - 1 }
    }

    /// Descriptors split into descriptions with no group known beforehand: halves, the second classified
    /// against the first's groups. O(n log² n) probes; pairwise below a handful.
    func resolve(_ keys: [DescriptorKey], probe: Probe) throws(HarnessError) -> [[DescriptorKey]] {
        if keys.count <= 8 { return try splitByProbe(keys, probe: probe) }
        let half = keys.count / 2
        var result = try resolve(Array(keys[..<half]), probe: probe)
        let right = Array(keys[half...])
        var unmatched: [DescriptorKey] = []
        for (key, match) in zip(right, try classify(right, against: result.map { $0[0] }, probe: probe)) {
            if let match { result[match].append(key) } else { unmatched.append(key) }
        }
        return result + (try resolve(unmatched, probe: probe))
    }

    func splitByProbe(_ members: [DescriptorKey], probe: Probe) throws(HarnessError) -> [[DescriptorKey]] {
        var remaining = members
        var groups: [[DescriptorKey]] = []
        while let representative = remaining.first {
            remaining.removeFirst()
            var group = [representative]
            var others: [DescriptorKey] = []
            if !remaining.isEmpty {
                for (key, moved) in zip(remaining, try toggle([representative], watching: remaining, probe: probe)) {
                    if moved { group.append(key) } else { others.append(key) }
                }
            }
            groups.append(group)
            remaining = others
        }
        return groups
    }
}
