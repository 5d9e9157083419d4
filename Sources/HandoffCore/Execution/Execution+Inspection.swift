// Checks that look inside one descriptor rather than at the table: its inode (fstat through
// /proc/PID/fd/N), its seals (F_GET_SEALS on a copy opened through /proc/PID/fd/N: seals are the inode's, so
// the copy sees them) and the text of its /proc/PID/fdinfo/N fields. Each is asked of the kernel when the
// check runs; a wrong expectation is a CHECK finding that says what the kernel had instead.

import CHandoff
import Foundation
import Glibc
import HandoffProtocol

extension ScenarioExecution {
    /// The findings of `same_inode`, `seals` and `fdinfo`; `resolve` finds an open descriptor (and has
    /// already reported one that is not).
    func inspect(_ check: Check, at location: SourceLocation,
                 resolve: (QualifiedDescriptor) -> DescriptorKey?) -> [Finding] {
        var findings: [Finding] = []
        func fail(_ key: DescriptorKey, _ expected: String, _ actual: String) {
            findings.append(Finding(kind: .check, step: location, operation: "check", process: key.process,
                                    descriptor: describe(key), expected: expected, observed: actual))
        }
        if !check.sameInode.isEmpty {
            let resolved = check.sameInode.compactMap(resolve)
            if let first = resolved.first {
                let reference = inode(first)
                for other in resolved.dropFirst() {
                    let mine = inode(other)
                    if mine == nil || mine?.text != reference?.text {
                        fail(other, "the inode of \(first.process): \(describe(first))"
                             + (reference.map { " (\($0.text))" } ?? ""), mine.map { "inode \($0.text)" } ?? "no inode (fstat failed)")
                    }
                }
            }
        }
        for (qualified, expected) in check.seals.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            guard let key = resolve(qualified) else { continue }
            switch seals(key) {
            case .success(let actual) where actual == expected:
                break
            case .success(let actual):
                fail(key, "seals " + MemfdSeal.names(expected), "seals " + MemfdSeal.names(actual))
            case .failure(let problem):
                fail(key, "seals " + MemfdSeal.names(expected), "no seals (\(problem))")
            }
        }
        for (qualified, fields) in check.fdinfo.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            guard let key = resolve(qualified) else { continue }
            let actual = fdinfoFields(key)
            for (name, expected) in fields.sorted(by: { $0.key < $1.key }) {
                let found = actual[name]
                if found != expected.trimmingCharacters(in: .whitespaces) {
                    fail(key, "fdinfo \(name): \(expected)", found.map { "fdinfo \(name): \($0)" } ?? "no fdinfo field \(name)")
                }
            }
        }
        return findings
    }

    /// /proc/PID/fd/N of a scenario process.
    private func procLink(_ key: DescriptorKey) -> String {
        "/proc/\(tree[key.process]?.pid ?? 0)/fd/\(key.number)"
    }

    /// st_dev and st_ino of what the descriptor refers to (stat follows the magic link).
    private func inode(_ key: DescriptorKey) -> (device: UInt64, inode: UInt64, text: String)? {
        var info = stat()
        guard stat(procLink(key), &info) == 0 else { return nil }
        let device = UInt64(info.st_dev)
        let number = UInt64(info.st_ino)
        return (device, number, "\(number) on device \(device)")
    }

    /// F_GET_SEALS of the inode, through a read-only copy the runner opens and closes at once.
    private func seals(_ key: DescriptorKey) -> Result<Set<MemfdSeal>, InspectionProblem> {
        let copy = open(procLink(key), O_RDONLY | O_CLOEXEC)
        guard copy >= 0 else { return .failure(InspectionProblem("open of /proc/PID/fd/N: " + Errno.name(of: errno))) }
        defer { close(copy) }
        let raw = handoff_fcntl_int(copy, Linux.F_GET_SEALS, 0)
        guard raw >= 0 else { return .failure(InspectionProblem("F_GET_SEALS: " + Errno.name(of: errno))) }
        return .success(MemfdSeal.set(fromLinux: UInt32(raw)))
    }

    /// The `name: value` lines of /proc/PID/fdinfo/N, values trimmed.
    private func fdinfoFields(_ key: DescriptorKey) -> [String: String] {
        let text = Observer.readSmallFile("/proc/\(tree[key.process]?.pid ?? 0)/fdinfo/\(key.number)") ?? ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            if fields[name] == nil { fields[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }
}

/// Why a descriptor could not be inspected (the observed side of a finding).
struct InspectionProblem: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
