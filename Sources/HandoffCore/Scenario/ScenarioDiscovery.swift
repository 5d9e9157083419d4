// Turns the paths given on the command line into scenario files.

import Foundation

public enum ScenarioDiscovery {
    /// Expands files and directories (recursively, *.yaml and *.yml in any case, sorted) into scenario file paths.
    /// Returns (path, root) pairs, root being the directory argument the file was found under (nil for a file argument).
    public static func find(_ paths: [String]) throws(ScenarioError) -> [(path: String, root: String?)] {
        var result: [(path: String, root: String?)] = []
        // A file named twice on the command line (or under two arguments) is run once.
        var seen: Set<String> = []
        func add(_ path: String, _ root: String?) {
            let real = Observer.realPath(path) ?? path
            if seen.insert(real).inserted { result.append((path, root)) }
        }
        let manager = FileManager.default
        for argument in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                throw ScenarioError(SourceLocation(file: argument, line: 0, column: 0),
                                    "no such scenario file or directory: '\(argument)'")
            }
            guard isDirectory.boolValue else {
                add(argument, nil)
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
                } else if relative.contains("\u{FFFD}") {
                    // A name that is not UTF-8 comes back with U+FFFD in it and then names nothing: the file was
                    // left out without a word, and a run was green without it.
                    throw ScenarioError(SourceLocation(file: full, line: 0, column: 0),
                                        "a scenario file whose name is not valid UTF-8 (shown with U+FFFD); rename it")
                }
            }
            for relative in relatives.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                add(join(argument, relative), argument)
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
