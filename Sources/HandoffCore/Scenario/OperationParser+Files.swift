// File operations read from a step's arguments into the typed operation (OperationParser.swift
// dispatches here; the keys each accepts come from its declaration).

import Yams

extension ScenarioDecoder {
    func filesOperation(_ familyKind: FileOperationKind, _ reader: inout OperationArguments) throws(ScenarioError)
        -> (ScenarioOperation, [String?])
    {
        let operation: FileOperation<ScenarioNaming>
        switch familyKind {
        case .open:
            let path = try scenarioPath(&reader)
            let openFlags = try reader.flags(OpenFlag.allCases.map(\.rawValue))
            let mode = try reader.a["mode"].map { (node) throws(ScenarioError) in try self.mode(node) } ?? 0o644
            operation = .open(path: path, flags: Set(openFlags.compactMap(OpenFlag.init(rawValue:))), mode: mode)
        case .mkfifo:
            let path = try scenarioPath(&reader)
            let mode = try reader.a["mode"].map { (node) throws(ScenarioError) in try self.mode(node) } ?? 0o644
            operation = .mkfifo(path: path, mode: mode)
        case .memfd:
            let memfdName = try reader.cString("name", default: "handoff")
            let memfdFlags = try reader.flags(["cloexec", "allow_sealing"])
            operation = .memfd(name: memfdName, closeOnExec: memfdFlags.contains("cloexec"),
                               allowSealing: memfdFlags.contains("allow_sealing"))
        case .lseek:
            let fd = try reader.ref("fd")
            let offset = try reader.a["offset"].map { (node) throws(ScenarioError) in Int64(try context.integer(node, reader.a.what("offset"))) } ?? 0
            operation = .lseek(fd: fd, offset: offset, whence: try reader.keywordOrRaw("whence", default: Whence.set))
        case .read:
            operation = .read(fd: try reader.ref("fd"), count: try reader.integer("count", default: 256, in: 0...maximumTransfer))
        case .pread:
            // A negative offset is the kernel's EINVAL to find, not a scenario error.
            operation = .pread(fd: try reader.ref("fd"), count: try reader.integer("count", default: 256, in: 0...maximumTransfer),
                               offset: Int64(try reader.integer("offset", default: 0, in: Int(Int64.min)...Int(Int64.max))))
        case .write:
            let fd = try reader.ref("fd")
            operation = .write(fd: fd, data: try reader.data(default: nil))
        case .pwrite:
            let fd = try reader.ref("fd")
            let data = try reader.data(default: nil)
            // A negative offset is the kernel's EINVAL to find, not a scenario error.
            operation = .pwrite(fd: fd, data: data, offset: Int64(try reader.integer("offset", default: 0, in: Int(Int64.min)...Int(Int64.max))))
        case .reopen:
            let target = try reader.name("process")
            let fd = try reader.ref("fd")
            let openFlags = try reader.flags(OpenFlag.allCases.map(\.rawValue))
            operation = .reopen(target: target, fd: fd, flags: Set(openFlags.compactMap(OpenFlag.init(rawValue:))))
        case .ftruncate:
            let fd = try reader.ref("fd")
            operation = .ftruncate(fd: fd, length: Int64(try reader.integer("length", default: 0, in: -1...maximumTransfer)))
        }
        return (.files(operation), try reader.binds())
    }

    /// A step's `path`: relative to the scenario's private directory, and naming something in it.
    private func scenarioPath(_ reader: inout OperationArguments) throws(ScenarioError) -> String {
        let pathNode = try reader.a.required("path")
        let path = try context.cString(pathNode, reader.a.what("path"))
        let components = PathComponents(path)
        if path.isEmpty || components.isAbsolute || components.hasParent {
            throw context.error(pathNode, "path \"\(path)\" must be relative to the scenario's private directory "
                + "(not empty, not starting with '/', no '..' component)")
        }
        if components.namesTheDirectory {
            // The kernel opens the directory itself (O_RDONLY), which the model has no object for: it said
            // ENOENT (found porting LTP open tests).
            throw context.error(pathNode, "path \"\(path)\" names the scenario's directory itself; directories are "
                + "not modelled (name a file in it)")
        }
        return path
    }
}
