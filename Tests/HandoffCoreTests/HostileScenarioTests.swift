import Foundation
import Testing
@testable import HandoffCore

/// Hostile and careless scenario files: each is refused with a location (line and column past 0) and a reason,
/// quickly, without crashing or allocating without bound.
struct HostileScenarioTests {
    static let pipe = "  - main.pipe: {as: [r, w]}\n"

    /// (what it is, the file, words the message must contain)
    static let cases: [(String, String, String)] = [
        ("empty file", "", "summary"),
        ("only a comment", "# nothing\n", "summary"),
        ("a list at the top", "- a\n- b\n", "mapping"),
        ("binary garbage", "\u{01}\u{02}\u{03}: [\u{04}\n", "YAML"),
        ("a tab for indentation", "summary: x\nsteps:\n\t- main.exit: {}\n", "YAML"),
        ("nesting 5000 deep", "summary: x\nsteps:\n" + pipe + "x: " + String(repeating: "[", count: 5000)
            + String(repeating: "]", count: 5000) + "\n", "nested more than 1000 deep (expected at most 1000 levels)"),
        ("mappings nested 5000 deep", "summary: x\nsteps:\n" + pipe + "x: " + String(repeating: "{a: ", count: 5000)
            + String(repeating: "}", count: 5000) + "\n", "nested more than 1000 deep"),
        ("an unknown top-level key", "summary: x\nsudo: true\nsteps:\n" + pipe, "unknown top-level key"),
        ("an unknown operation", "summary: x\nsteps:\n  - main.rm_rf: {path: /}\n", "rm_rf"),
        ("an absolute path", "summary: x\nsteps:\n  - main.open: {path: /etc/passwd, as: f}\n", "relative"),
        ("a path out of the directory", "summary: x\nsteps:\n  - main.open: {path: ../../x, as: f}\n", ".."),
        ("a timeout of .nan", "summary: x\ntimeout: .nan\nsteps:\n" + pipe, "timeout"),
        ("a timeout of 1e308", "summary: x\ntimeout: 1e308\nsteps:\n" + pipe, "86400"),
        ("a count past what fits", "summary: x\nsteps:\n" + pipe + "  - main.read: {fd: r, count: 3000000000}\n", "count"),
        ("a matrix of 10^8 cases", "summary: x\nmatrix: {a: [1,2,3,4,5,6,7,8,9,10], b: [1,2,3,4,5,6,7,8,9,10], "
            + "c: [1,2,3,4,5,6,7,8,9,10], d: [1,2,3,4,5,6,7,8,9,10], e: [1,2,3,4,5,6,7,8,9,10], "
            + "f: [1,2,3,4,5,6,7,8,9,10], g: [1,2,3,4,5,6,7,8,9,10], h: [1,2,3,4,5,6,7,8,9,10]}\nsteps:\n" + pipe, "1024"),
        ("a repeat of 10^12", "summary: x\nsteps:\n" + pipe + "  - repeat: {count: 1000000000000, steps: [main.close: {fd: 99}]}\n", "count"),
        ("200 KB of data", "summary: x\nsteps:\n" + pipe + "  - main.write: {fd: w, data: \"" + String(repeating: "a", count: 200_000)
            + "\"}\n", "65536"),
        ("a name never bound", "summary: x\nsteps:\n  - main.close: {fd: ghost}\n", "ghost"),
        ("a process that does not exist", "summary: x\nsteps:\n  - nobody.exit: {}\n", "nobody"),
        ("a duplicate key", "summary: x\nsummary: y\nsteps:\n" + pipe, "duplicate key"),
        ("a list where a name goes", "summary: x\nsteps:\n  - main.pipe: {as: [[r], w]}\n", "name"),
        // 9^9 strings once expanded: refused before Yams composes it.
        ("an alias bomb", (["summary: x", "steps:", pipe.dropLast().description,
                            "  - main.exec:", "      args: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
            + (1...8).flatMap { ["  - main.exec:", "      args: &a\($0) [" + Array(repeating: "*a\($0 - 1)", count: 9).joined(separator: ",") + "]"] })
            .joined(separator: "\n") + "\n", "aliases"),
        // Yams hashes every mapping key to find duplicates: this key alone kept it busy for minutes.
        ("an alias bomb as a mapping key", "summary: x\nsteps:\n" + pipe + "x:\n  a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
            + (1...9).map { "  a\($0): &a\($0) [" + Array(repeating: "*a\($0 - 1)", count: 9).joined(separator: ",") + "]\n" }.joined()
            + "  ? *a9\n  : 1\n", "aliases expand the document past 1000000 nodes"),
        // No aliases, but 1.4 million nodes in 2.8 MB: Yams composed a 14 MB file like it into 950 MB.
        ("1.4 million nodes without an alias", "summary: x\nsteps:\n" + pipe + "x:\n"
            + String(repeating: "- [a,b,c,d,e,f]\n", count: 200_000), "more than 1000000 nodes"),
        // Yams's base-60 arithmetic traps on overflow (SIGILL); 60^11 does not fit an Int.
        ("a base-60 timeout past Int", "summary: x\ntimeout: 1:0:0:0:0:0:0:0:0:0:0:0\nsteps:\n" + pipe, "out of range"),
        ("a base-60 descriptor past Int", "summary: x\nsteps:\n  - main.close: {fd: -999999999999999999:59}\n", "out of range"),
        ("100,000 exec arguments", "summary: x\nsteps:\n  - main.exec: {args: [" + Array(repeating: "x", count: 100_000).joined(separator: ",")
            + "]}\n", "fit one step"),
        ("100,000 descriptors in one send", "summary: x\nsteps:\n  - main.pipe: {as: [r, w]}\n  - main.socketpair: {as: [a, b]}\n"
            + "  - main.send: {socket: a, fds: [" + Array(repeating: "r", count: 100_000).joined(separator: ",") + "]}\n",
         "at most 4096"),
        ("an empty program name", "summary: x\nrequires: {programs: [\"\"]}\nsteps:\n" + pipe, "empty string"),
        ("a NUL in a path", "summary: x\nsteps:\n  - main.open: {path: \"a\\0b\", flags: [creat], as: f}\n", "NUL"),
        // A check reads a table, where no number is negative: it was judged against the kernel.
        ("a negative number in a check", "summary: x\nsteps:\n" + pipe + "  - check: {same: [main.-1, main.r]}\n", "from 0"),
    ]

    /// A UTF-8 byte order mark, as some editors write: YAML allows it (Yams said "did not find expected
    /// <document start>").
    @Test func aByteOrderMarkIsAccepted() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-bom-\(getpid()).yaml").path
        defer { unlink(path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data([0xEF, 0xBB, 0xBF] + Array("summary: bom\nsteps:\n\(Self.pipe)".utf8))))
        #expect(try ScenarioParser.load(path: path, root: nil).summary == "bom")
    }

    /// Reports key cases by name: a file given twice runs once; two files of one name, or a matrix value given
    /// twice, are refused (the report they made was refused by merge and compare).
    @Test func aCaseIsNamedOnceInARun() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-hostile-names-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for folder in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + folder, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: directory + "/\(folder)/ok.yaml", contents: Data("summary: x\nsteps:\n\(Self.pipe)".utf8)))
        }
        let once = Suite.load([directory + "/a/ok.yaml", directory + "/a/ok.yaml"])
        #expect(once.scenarios.count == 1 && once.errors.isEmpty)
        let twoFiles = Suite.load([directory + "/a/ok.yaml", directory + "/b/ok.yaml"])
        #expect(twoFiles.errors.map(\.message) == ["case 'ok' twice in this run: the same name as \(directory)/a/ok.yaml (run them from a folder both are under)"])
        #expect(Suite.load([directory]).errors.isEmpty, "under one root they are a/ok and b/ok")
        #expect(FileManager.default.createFile(atPath: directory + "/m.yaml", contents: Data("summary: x\nmatrix: {a: [w, w]}\nsteps:\n\(Self.pipe)".utf8)))
        #expect(Suite.load([directory + "/m.yaml"]).errors.first?.message.contains("a matrix value that repeats") == true)
    }

    /// Exec's texts travel in one control packet: past 64 KiB they are refused at the text that crosses, and
    /// up to it they parse (the run's packet has room for what placeholders expand to).
    @Test func execTextsAreBoundedByOnePacket() throws {
        let argument = "\"" + String(repeating: "y", count: 999) + "\""
        let fits = "summary: x\nsteps:\n  - main.exec: {args: [" + Array(repeating: argument, count: 65).joined(separator: ",") + "]}\n"
        #expect(try ScenarioParser.parse(yaml: fits, file: "t.yaml", name: "t").steps.count == 1)
        let tooMuch = "summary: x\nsteps:\n  - main.exec: {args: [a], env: {A: \"" + String(repeating: "e", count: 65_536) + "\"}}\n"
        #expect {
            _ = try ScenarioParser.parse(yaml: tooMuch, file: "t.yaml", name: "t")
        } throws: { error in
            "\(error)".hasPrefix("t.yaml:3:37: error: the arguments and environment of exec come to more than 65536 bytes")
        }
    }

    /// A message quotes the file, and a scalar may be a megabyte: the message keeps its start and its end
    /// (what was expected) and says how much it left out, instead of printing a 1 MB line.
    @Test func aMegabyteValueMakesAMessageOfAThousandCharacters() {
        let yaml = "summary: x\nsteps:\n  - main.pipe: {as: [\"" + String(repeating: "%", count: 1_000_000) + "\", w]}\n"
        #expect {
            _ = try ScenarioParser.parse(yaml: yaml, file: "t.yaml", name: "t")
        } throws: { error in
            guard let error = error as? ScenarioError else { return false }
            return error.location == SourceLocation(file: "t.yaml", line: 3, column: 22) && error.message.count < 1100
                && error.message.hasPrefix("invalid name \"%%%") && error.message.contains("characters left out")
                && error.message.hasSuffix("for an element of 'as' (a name starts with a letter or '_' and continues with letters, "
                    + "digits, '_' or '-')")
        }
    }

    @Test(arguments: 0..<cases.count)
    func isRefusedWithALocation(_ index: Int) {
        let (what, yaml, words) = Self.cases[index]
        let started = Date()
        do {
            let scenarios = try ScenarioParser.parseAll(yaml: yaml, file: "hostile.yaml", name: "hostile")
            Issue.record("\(what): accepted (\(scenarios.count) scenarios)")
        } catch {
            #expect(error.location.line >= 1 && error.location.column >= 1, "\(what): \(error)")
            #expect(error.message.lowercased().contains(words.lowercased()), "\(what): \(error)")
        }
        #expect(Date().timeIntervalSince(started) < 2, "\(what) took \(Date().timeIntervalSince(started)) s")
    }
}
