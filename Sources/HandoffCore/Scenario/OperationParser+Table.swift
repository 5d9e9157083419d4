// Table operations read from a step's arguments into the typed operation (OperationParser.swift
// dispatches here; the keys each accepts come from its declaration).

import Yams

extension ScenarioDecoder {
    func tableOperation(_ familyKind: TableOperationKind, _ reader: inout OperationArguments) throws(ScenarioError)
        -> (ScenarioOperation, [String?])
    {
        let operation: TableOperation<ScenarioNaming>
        switch familyKind {
        case .dup:
            operation = .dup(fd: try reader.ref("fd"))
        case .dup2:
            operation = .dup2(fd: try reader.ref("fd"), target: try reader.ref("target", allowArgument: false))
        case .dup3:
            let fd = try reader.ref("fd")
            let target = try reader.ref("target", allowArgument: false)
            let flags = try reader.rawOrNamedFlags(["cloexec": Int64(Linux.O_CLOEXEC)], in: Int(Int32.min)...Int(UInt32.max))
            operation = .dup3(fd: fd, target: target, flags: Int32(truncatingIfNeeded: flags))
        case .fcntl:
            operation = try fcntl(reader.a, sites: &reader.sites)
        case .ioctl:
            operation = try ioctl(reader.a, sites: &reader.sites)
        case .close:
            operation = .close(fd: try reader.ref("fd"))
        case .closeRange:
            let first = try context.integer(try reader.a.required("first"), reader.a.what("first"), in: 0...Int(UInt32.max))
            var last = UInt32.max
            if let node = reader.a["last"] {
                if context.kind(node) == .string, node.scalar?.string == "max" {
                    last = UInt32.max
                } else if context.kind(node) == .int {
                    let value = try context.integer(node, reader.a.what("last"))
                    // last < first is allowed: the kernel's EINVAL is worth a scenario.
                    guard value >= 0, value <= Int(UInt32.max) else {
                        throw context.error(node, "'last' must be between 0 and \(UInt32.max), found \(value)")
                    }
                    last = UInt32(value)
                } else {
                    throw context.error(node, "expected an integer or \"max\" for 'last', found \(context.describe(node))")
                }
            }
            let flags = try reader.rawOrNamedFlags(["cloexec": Int64(Linux.CLOSE_RANGE_CLOEXEC),
                                                    "unshare": Int64(Linux.CLOSE_RANGE_UNSHARE)], in: 0...Int(UInt32.max))
            operation = .closeRange(first: UInt32(first), last: last, flags: UInt32(flags))
        case .unshareFiles:
            operation = .unshareFiles
        case .dupfdQuery:
            let fd = try reader.ref("fd")
            operation = .dupfdQuery(fd: fd, other: try reader.ref("other"))
        }
        if case .fcntl(_, let command) = operation, !command.duplicates { return (.table(operation), []) }
        return (.table(operation), try reader.binds())
    }
}
