// Turns a `run --kernel` command line into what the guest needs: the scenario files laid out so that the
// inner run gives every scenario the name the host would, and the inner `handoff run` arguments.

import Foundation

public enum GuestPlan {
    /// Scenario files to carry and the paths the inner run is given. The i-th path argument becomes
    /// /scenarios/<i> (a directory: its files keep their place below it, so that names relative to it are
    /// the host's) or /scenarios/<i>/<file name> (a file: named by its base name, as on the host). Only files
    /// that hold a selected scenario are carried; the inner run applies the same selection again.
    public static func scenarioLayout(paths: [String], selectedFiles: Set<String>) throws(ScenarioError)
        -> (files: [(source: String, guestPath: String)], innerPaths: [String])
    {
        var files: [(source: String, guestPath: String)] = []
        var innerPaths: [String] = []
        for (index, path) in paths.enumerated() {
            let base = "/scenarios/\(index)"
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                innerPaths.append(base)
                for found in try ScenarioDiscovery.find([path]) where selectedFiles.contains(found.path) {
                    var relative = String(found.path.dropFirst(path.count))
                    while relative.hasPrefix("/") { relative.removeFirst() }
                    files.append((found.path, base + "/" + relative))
                }
            } else {
                let name = path.split(separator: "/").last.map(String.init) ?? path
                innerPaths.append(base + "/" + name)
                files.append((path, base + "/" + name))
            }
        }
        return (files, innerPaths)
    }

    /// What the inner run is told besides its paths: the same selection and execution options as the
    /// outer one. `--report` is the guest's /out (InitScript adds it).
    public static func innerArguments(paths: [String], filter: String?, tags: [String], jobs: Int, timeout: Double,
                                      identity: String, format: String, shard: String?, allowEmpty: Bool,
                                      agent: String? = nil) -> [String] {
        var arguments = paths
        if let filter { arguments.append("--filter=" + filter) }  // "=": a value may start with "-"
        for tag in tags { arguments.append("--tag=" + tag) }
        arguments += ["--jobs", String(jobs), "--timeout", String(timeout), "--identity", identity, "--format", format]
        if let shard { arguments += ["--shard", shard] }
        if allowEmpty { arguments.append("--allow-empty") }
        if let agent { arguments += ["--agent", agent] }
        return arguments
    }
}
