import Glibc

/// Compares the observed process tree with the reference model after a step.
struct Oracle {
    var step: SourceLocation
    var operation: String
    /// Renders a descriptor for a finding: `got (4)`.
    var describe: (DescriptorKey) -> String

    func compare(model: ReferenceModel, observed: [String: [Int32: ObservedDescriptor]],
                 identity: [DescriptorKey: Int], workPath: String) -> [Finding] {
        var findings: [Finding] = []
        var common: [DescriptorKey] = []
        for process in observed.keys.sorted() {
            let actual = observed[process]!
            let expected = model.table(of: process)
            for number in actual.keys.sorted() where expected[number] == nil {
                let key = DescriptorKey(process: process, number: number)
                findings.append(finding(.leak, key, expected: "closed", observed: "open (\(actual[number]!.target))"))
            }
            for number in expected.keys.sorted() {
                let key = DescriptorKey(process: process, number: number)
                let modelEntry = expected[number]!
                let modelDescription = model.description(modelEntry.description)
                guard let seen = actual[number] else {
                    findings.append(finding(.missing, key, expected: "open (\(modelDescription.kind))", observed: "closed"))
                    continue
                }
                common.append(key)
                if !matches(modelDescription.kind, seen.target, workPath: workPath) {
                    findings.append(finding(.identity, key, expected: "\(modelDescription.kind)", observed: seen.target))
                }
                if modelEntry.closeOnExec != seen.closeOnExec {
                    findings.append(finding(.cloexec, key, expected: onOff(modelEntry.closeOnExec),
                                            observed: onOff(seen.closeOnExec)))
                }
                if modelDescription.accessMode != seen.accessMode || modelDescription.statusFlags != seen.statusFlags {
                    findings.append(finding(.flags, key,
                                            expected: describeFlags(modelDescription.accessMode, modelDescription.statusFlags),
                                            observed: describeFlags(seen.accessMode, seen.statusFlags)))
                }
                if let offset = modelDescription.offset, offset != seen.position {
                    findings.append(finding(.offset, key, expected: String(offset), observed: String(seen.position)))
                }
            }
        }
        findings += compareIdentity(common: common, model: model, identity: identity)
        return findings
    }

    /// The partition of descriptors into open file descriptions must be the model's.
    private func compareIdentity(common: [DescriptorKey], model: ReferenceModel, identity: [DescriptorKey: Int])
        -> [Finding]
    {
        var findings: [Finding] = []
        var byModel: [DescriptionID: [DescriptorKey]] = [:]
        var byObserved: [Int: [DescriptorKey]] = [:]
        // Each process's model table once (the model builds a fresh view per call).
        var tables: [String: [Int32: ModelDescriptor]] = [:]
        func modelDescription(_ key: DescriptorKey) -> DescriptionID {
            if tables[key.process] == nil { tables[key.process] = model.table(of: key.process) }
            return tables[key.process]![key.number]!.description
        }
        for key in common {
            byModel[modelDescription(key), default: []].append(key)
            if let group = identity[key] { byObserved[group, default: []].append(key) }
        }
        // Expected shared, observed split.
        for id in byModel.keys.sorted() {
            let members = byModel[id]!.sorted()
            guard let first = members.first else { continue }
            for other in members.dropFirst() where identity[other] != identity[first] {
                findings.append(Finding(kind: .identity, step: step, operation: operation, process: other.process,
                                        descriptor: describe(other),
                                        expected: "the same open file description as \(first.process): \(describe(first))",
                                        observed: "a different open file description"))
            }
        }
        // Expected distinct, observed shared.
        for group in byObserved.keys.sorted() {
            let members = byObserved[group]!.sorted()
            guard let first = members.first else { continue }
            let firstID = modelDescription(first)
            for other in members.dropFirst() where modelDescription(other) != firstID {
                findings.append(Finding(kind: .identity, step: step, operation: operation, process: other.process,
                                        descriptor: describe(other),
                                        expected: "a different open file description from \(first.process): \(describe(first))",
                                        observed: "the same open file description"))
            }
        }
        return findings
    }

    private func finding(_ kind: FindingKind, _ key: DescriptorKey, expected: String, observed: String) -> Finding {
        Finding(kind: kind, step: step, operation: operation, process: key.process, descriptor: describe(key),
                expected: expected, observed: observed)
    }

    func matches(_ kind: ObjectKind, _ target: String, workPath: String) -> Bool {
        switch kind {
        case .file(let path): return target == workPath + "/" + path || target == workPath + "/" + path + " (deleted)"
        case .pipe: return target.hasPrefix("pipe:")
        case .socket: return target.hasPrefix("socket:")
        case .memfd(let name): return target.hasPrefix("/memfd:\(name)")
        case .pidfd: return target == "anon_inode:[pidfd]"
        case .eventfd: return target == "anon_inode:[eventfd]"
        case .epoll: return target == "anon_inode:[eventpoll]"
        case .inherited: return true
        }
    }
}

func onOff(_ closeOnExec: Bool) -> String { closeOnExec ? "close-on-exec" : "not close-on-exec" }

func describeFlags(_ mode: AccessMode, _ flags: Set<StatusFlag>) -> String {
    ([mode.rawValue] + StatusFlag.allCases.filter { flags.contains($0) }.map(\.rawValue)).joined(separator: "|")
}
