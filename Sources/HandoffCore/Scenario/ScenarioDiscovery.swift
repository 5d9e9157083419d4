// Turns the paths given on the command line into scenario files.

import Foundation

public enum ScenarioDiscovery {
    /// Expands files and directories (recursively, *.yaml and *.yml in any case, sorted) into scenario file paths.
    /// Returns (path, root) pairs, root being the directory argument the file was found under (nil for a file argument).
    public static func find(_ paths: [String]) throws(ScenarioError) -> [(path: String, root: String?)] {
        var result: [(path: String, root: String?)] = []
        let manager = FileManager.default
        for argument in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                throw ScenarioError(SourceLocation(file: argument, line: 0, column: 0),
                                    "no such scenario file or directory: '\(argument)'")
            }
            guard isDirectory.boolValue else {
                result.append((argument, nil))
                continue
            }
            guard let enumerator = manager.enumerator(atPath: argument) else {
                throw ScenarioError(SourceLocation(file: argument, line: 0, column: 0),
                                    "cannot list the directory '\(argument)'")
            }
            var relatives: [String] = []
            while let relative = enumerator.nextObject() as? String {
                let components = relative.split(separator: "/")
                // Hidden files and directories (editor backups, .git) are not scenarios.
                if components.contains(where: { $0.hasPrefix(".") }) { continue }
                guard isScenarioFile(relative) else { continue }
                let full = join(argument, relative)
                var entryIsDirectory: ObjCBool = false
                if manager.fileExists(atPath: full, isDirectory: &entryIsDirectory), !entryIsDirectory.boolValue {
                    relatives.append(relative)
                }
            }
            for relative in relatives.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                result.append((join(argument, relative), argument))
            }
        }
        return result
    }

    /// `.yaml` or `.yml`, in any case (`X.YAML` is a scenario too).
    static func isScenarioFile(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".yaml") || lower.hasSuffix(".yml")
    }

    private static func join(_ directory: String, _ relative: String) -> String {
        directory.hasSuffix("/") ? directory + relative : directory + "/" + relative
    }
}
