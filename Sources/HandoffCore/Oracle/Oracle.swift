import Glibc

/// Compares the observed process tree with the reference model after a step.
struct Oracle {
    var step: SourceLocation
    var operation: String
    /// Renders a descriptor for a finding: `got (4)`.
    var describe: (DescriptorKey) -> String

    /// A model description with what the comparison needs of it, computed once per comparison.
    private struct Expected {
        var description: ModelDescription
        var append: Bool
        var nonBlocking: Bool
    }

    /// A descriptor open in both the model and the kernel.
    private struct Common {
        var key: DescriptorKey
        var description: DescriptionID
        var group: Int?
    }

    /// O(N log N) in the number of descriptors: each process's model table is built once, each model
    /// description looked up once, each descriptor's identity group once; strings are built for findings only.
    func compare(model: ReferenceModel, observed: [String: [Int32: ObservedDescriptor]],
                 identity: [DescriptorKey: Int], workPath: String) -> [Finding] {
        var findings: [Finding] = []
        var common: [Common] = []
        var descriptions: [DescriptionID: Expected] = [:]
        for (process, actual) in observed.sorted(by: { $0.key < $1.key }) {
            let expected = model.table(of: process)
            var leaked: [Int32] = []
            for number in actual.keys where expected[number] == nil { leaked.append(number) }
            for number in leaked.sorted() {
                let key = DescriptorKey(process: process, number: number)
                let target = actual[number]?.target ?? "?"
                findings.append(finding(.leak, key, expected: "closed", observed: "open (\(target))"))
            }
            common.reserveCapacity(common.count + expected.count)
            for (number, modelEntry) in expected.sorted(by: { $0.key < $1.key }) {
                let key = DescriptorKey(process: process, number: number)
                let wanted: Expected
                if let known = descriptions[modelEntry.description] {
                    wanted = known
                } else {
                    let description = model.description(modelEntry.description)
                    wanted = Expected(description: description, append: description.statusFlags.contains(.append),
                                      nonBlocking: description.statusFlags.contains(.nonblock))
                    descriptions[modelEntry.description] = wanted
                }
                let modelDescription = wanted.description
                guard let seen = actual[number] else {
                    findings.append(finding(.missing, key, expected: "open (\(modelDescription.kind))", observed: "closed"))
                    continue
                }
                common.append(Common(key: key, description: modelEntry.description, group: identity[key]))
                if !matches(modelDescription.kind, seen.target, workPath: workPath) {
                    findings.append(finding(.identity, key, expected: "\(modelDescription.kind)", observed: seen.target))
                }
                if modelEntry.closeOnExec != seen.closeOnExec {
                    findings.append(finding(.cloexec, key, expected: onOff(modelEntry.closeOnExec),
                                            observed: onOff(seen.closeOnExec)))
                }
                if modelDescription.accessMode != seen.accessMode || wanted.append != (seen.flags & O_APPEND != 0)
                    || wanted.nonBlocking != (seen.flags & O_NONBLOCK != 0)
                {
                    findings.append(finding(.flags, key,
                                            expected: describeFlags(modelDescription.accessMode, modelDescription.statusFlags),
                                            observed: describeFlags(seen.accessMode, seen.statusFlags)))
                }
                // No `pos:` in fdinfo: the offset is not observable here, and not compared (an explicit
                // `check` of an offset makes the scenario undecidable instead: Execution+Checks).
                if let offset = modelDescription.offset, let position = seen.position, offset != position {
                    findings.append(finding(.offset, key, expected: String(offset), observed: String(position)))
                }
            }
        }
        findings += compareIdentity(common)
        return findings
    }

    /// The partition of descriptors into open file descriptions must be the model's. `common` is in process
    /// and number order.
    private func compareIdentity(_ common: [Common]) -> [Finding] {
        var findings: [Finding] = []
        var byModel: [DescriptionID: [Int]] = [:]
        var byObserved: [Int: [Int]] = [:]
        var observedOrder: [Int] = []
        for (index, entry) in common.enumerated() {
            byModel[entry.description, default: []].append(index)
            if let group = entry.group {
                if byObserved[group] == nil { observedOrder.append(group) }
                byObserved[group, default: []].append(index)
            }
        }
        /// Within each group, every member that differs from the group's first in `differs` is a finding.
        func report(_ groups: [[Int]], differs: (Common, Common) -> Bool, expected: String, observed: String) {
            for members in groups {
                let first = common[members[0]]
                for other in members.dropFirst().map({ common[$0] }) where differs(first, other) {
                    findings.append(Finding(kind: .identity, step: step, operation: operation, process: other.key.process,
                                            descriptor: describe(other.key),
                                            expected: "\(expected) \(first.key.process): \(describe(first.key))",
                                            observed: observed))
                }
            }
        }
        // Expected shared, observed split.
        report(byModel.keys.sorted().compactMap { byModel[$0] }, differs: { $0.group != $1.group },
               expected: "the same open file description as", observed: "a different open file description")
        // Expected distinct, observed shared (groups in the order of their first descriptor).
        report(observedOrder.compactMap { byObserved[$0] }, differs: { $0.description != $1.description },
               expected: "a different open file description from", observed: "the same open file description")
        return findings
    }

    private func finding(_ kind: FindingKind, _ key: DescriptorKey, expected: String, observed: String) -> Finding {
        Finding(kind: kind, step: step, operation: operation, process: key.process, descriptor: describe(key),
                expected: expected, observed: observed)
    }

    func matches(_ kind: ObjectKind, _ target: String, workPath: String) -> Bool {
        switch kind {
        case .file(let path), .fifo(let path):
            // target == "\(workPath)/\(path)", or that with " (deleted)", without building either string.
            var rest = target.utf8[...]
            guard rest.starts(with: workPath.utf8) else { return false }
            rest = rest.dropFirst(workPath.utf8.count)
            guard rest.first == UInt8(ascii: "/") else { return false }
            rest = rest.dropFirst()
            guard rest.starts(with: path.utf8) else { return false }
            rest = rest.dropFirst(path.utf8.count)
            return rest.isEmpty || rest.elementsEqual(" (deleted)".utf8)
        case .pipe: return target.hasPrefix("pipe:")
        case .socket: return target.hasPrefix("socket:")
        case .memfd(let name): return target.hasPrefix("/memfd:\(name)")
        case .pidfd: return target == "anon_inode:[pidfd]"
        case .eventfd: return target == "anon_inode:[eventfd]"
        case .epoll: return target == "anon_inode:[eventpoll]"
        case .anonymous(let kind): return target == kind.link
        case .inherited: return true
        }
    }
}

func onOff(_ closeOnExec: Bool) -> String { closeOnExec ? "close-on-exec" : "not close-on-exec" }

func describeFlags(_ mode: AccessMode, _ flags: Set<StatusFlag>) -> String {
    ([mode.rawValue] + StatusFlag.allCases.filter { flags.contains($0) }.map(\.rawValue)).joined(separator: "|")
}
