// Decoding of check steps: qualified descriptors, same/different, offsets, flags, open sets, environment.

import Yams

extension ScenarioDecoder {
    // MARK: check

    func qualified(_ node: Node, _ what: String) throws(ScenarioError) -> QualifiedDescriptor {
        let expected = "a descriptor as PROCESS.NAME or PROCESS.NUMBER (e.g. main.file, peer.3)"
        guard context.kind(node) == .string, let text = node.scalar?.string, let dot = text.firstIndex(of: ".") else {
            throw context.error(node, "expected \(expected) in \(what), found \(context.describe(node))")
        }
        let process = String(text[..<dot])
        let rest = String(text[text.index(after: dot)...])
        guard Self.isIdentifier(process) else {
            throw context.error(node, "invalid process name '\(process)' in \"\(text)\" (expected \(expected))")
        }
        if let number = Int32(rest) {
            // A check looks at a table, where no number is negative: it would be reported against the kernel.
            guard number >= 0 else {
                throw context.error(node, "invalid descriptor number \(number) in \"\(text)\": a table holds numbers from 0")
            }
            return QualifiedDescriptor(process: process, descriptor: .number(number))
        }
        guard Self.isIdentifier(rest) else {
            throw context.error(node, "invalid descriptor '\(rest)' in \"\(text)\" (expected \(expected))")
        }
        return QualifiedDescriptor(process: process, descriptor: .name(rest))
    }

    func check(_ a: StepArguments, sites: inout StepSites) throws(ScenarioError) -> Check {
        try a.accept(Self.checkKeys)
        guard !a.entries.isEmpty else {
            throw context.error(a.keyNode, "check needs at least one of: \(Self.checkKeys.joined(separator: ", "))")
        }
        var check = Check()
        func list(_ key: String) throws(ScenarioError) -> [QualifiedDescriptor] {
            guard let node = a[key] else { return [] }
            let items = try context.sequence(node, a.what(key))
            guard items.count >= 2 else {
                throw context.error(node, "\(a.what(key)) needs a list of at least 2 descriptors, found \(items.count)")
            }
            var result: [QualifiedDescriptor] = []
            for item in items {
                let descriptor = try qualified(item, a.what(key))
                sites.checked.append(.descriptor(descriptor, context.location(item)))
                result.append(descriptor)
            }
            return result
        }
        func map(_ key: String) throws(ScenarioError) -> [(QualifiedDescriptor, Node)] {
            guard let node = a[key] else { return [] }
            var result: [(QualifiedDescriptor, Node)] = []
            for pair in try nonEmptyMapping(node, a.what(key), naming: "a descriptor") {
                let descriptor = try qualified(pair.key, a.what(key))
                sites.checked.append(.descriptor(descriptor, context.location(pair.key)))
                result.append((descriptor, pair.value))
            }
            return result
        }
        // Keys are decoded in document order so that the first error is the first in the file.
        for entry in a.entries {
            switch entry.key {
            case "same": check.same = try list("same")
            case "different": check.different = try list("different")
            case "offset":
                for (descriptor, value) in try map("offset") {
                    check.offsets[descriptor] = Int64(try context.integer(value, "the offset of \(descriptor)"))
                }
            case "cloexec":
                for (descriptor, value) in try map("cloexec") {
                    check.closeOnExec[descriptor] = try context.bool(value, "the close-on-exec flag of \(descriptor)")
                }
            case "flags":
                for (descriptor, value) in try map("flags") {
                    let words = try context.keywords(value, "the flags of \(descriptor)", allowed: StatusFlag.allCases.map(\.rawValue))
                    check.flags[descriptor] = Set(words.compactMap(StatusFlag.init(rawValue:)))
                }
            case "same_inode": check.sameInode = try list("same_inode")
            case "seals":
                for (descriptor, value) in try map("seals") {
                    let words = try context.keywords(value, "the seals of \(descriptor)", allowed: MemfdSeal.allCases.map(\.rawValue))
                    check.seals[descriptor] = Set(words.compactMap(MemfdSeal.init(rawValue:)))
                }
            case "fdinfo":
                for (descriptor, value) in try map("fdinfo") {
                    var fields: [String: String] = [:]
                    for field in try nonEmptyMapping(value, "the fdinfo fields of \(descriptor)", naming: "a field") {
                        let name = try context.string(field.key, "an fdinfo field name")
                        guard let text = field.value.scalar?.string, context.kind(field.value) != .null else {
                            throw context.error(field.value, "expected the text of fdinfo field '\(name)' of \(descriptor), "
                                + "found \(context.describe(field.value))")
                        }
                        fields[name] = text
                    }
                    check.fdinfo[descriptor] = fields
                }
            case "number":
                for (descriptor, value) in try map("number") {
                    check.numbers[descriptor] = Int32(try context.integer(value, "the number of \(descriptor)", in: 0...Int(Int32.max)))
                }
            case "env":
                for pair in try nonEmptyMapping(entry.value, a.what("env"), naming: "a process") {
                    let process = try context.identifier(pair.key, "a process in 'env'")
                    sites.checked.append(.process(process, context.location(pair.key)))
                    var variables: [(name: String, value: [ArgumentPart]?)] = []
                    for variable in try nonEmptyMapping(pair.value, "the environment of '\(process)'", naming: "a variable") {
                        let name = try context.string(variable.key, "an environment variable name")
                        let value = context.kind(variable.value) == .null ? nil : try argument(variable.value)
                        variables.append((name, value))
                    }
                    check.environment[process] = variables
                }
            default: // open
                for pair in try nonEmptyMapping(entry.value, a.what("open"), naming: "a process") {
                    let process = try context.identifier(pair.key, "a process in 'open'")
                    sites.checked.append(.process(process, context.location(pair.key)))
                    var refs: [DescriptorRef] = []
                    for item in try context.sequence(pair.value, "the open descriptors of '\(process)'") {
                        let descriptor = try context.descriptor(item, "an element of the open descriptors of '\(process)'")
                        refs.append(descriptor)
                        sites.checked.append(.descriptor(QualifiedDescriptor(process: process, descriptor: descriptor),
                                                         context.location(item)))
                    }
                    check.open[process] = refs
                }
            }
        }
        return check
    }

    /// A mapping of what a check compares, which must name something: an empty one (`number: {}`) was
    /// accepted and asserted nothing, so a check could pass having checked nothing at all. (An empty *list*
    /// of open descriptors or of flags is an assertion - none - and stays allowed.)
    private func nonEmptyMapping(_ node: Node, _ what: String, naming item: String) throws(ScenarioError) -> [(key: Node, value: Node)] {
        let pairs = try context.mapping(node, what)
        guard !pairs.isEmpty else { throw context.error(node, "\(what) is empty, so it checks nothing (name at least \(item))") }
        return pairs
    }
}
