import Foundation
import Testing

@testable import HandoffCore

/// What the validator refuses after parsing (processes, names, references), with its location.
@Suite struct ScenarioValidationTests {
    // MARK: Validation

    @Test func rejectsStepsInUnknownProcesses() {
        expectError(stepFailure("  - mian.open: {path: x, as: f}\n"), 3, 5, "unknown process 'mian' in 'mian.open'", "known processes: main")
        expectError(stepFailure("  - main.fork: {as: peer}\n  - per.exit:\n"), 4, 5, "unknown process 'per'", "known processes: main, peer")
    }

    /// `credentials: {pid: nobody}` validated, and the run then reported the kernel (a CHECK finding) for the typo.
    @Test func rejectsCredentialsOfAnUnknownProcess() {
        let pair = "  - main.socketpair: {type: dgram, as: [a, b]}\n  - main.setsockopt: {socket: b, option: passcred}\n"
            + "  - main.send: {socket: a, data: x}\n"
        expectError(stepFailure(pair + "  - main.recv: {socket: b, credentials: {uid: 0, pid: nobody}}\n"), 6, 55,
                    "unknown process 'nobody' in 'credentials'", "known processes: main")
        expectError(stepFailure("  - main.socketpair: {as: [a, b]}\n  - main.getsockopt: {socket: a, option: peercred, credentials: {pid: mian}}\n"),
                    4, 71, "unknown process 'mian'")
        #expect(stepFailure(pair + "  - main.recv: {socket: b, credentials: {pid: main}}\n") == nil)
        #expect(stepFailure(pair + "  - main.recv: {socket: b, credentials: {pid: 0}}\n") == nil)
    }

    @Test func rejectsStepsInEndedProcesses() {
        expectError(stepFailure("  - main.fork: {as: peer}\n  - peer.exit:\n  - peer.close: {fd: 0}\n"), 5, 5,
                    "process 'peer' cannot run 'close': it exited at line 4")
        expectError(stepFailure("  - main.fork: {as: peer}\n  - peer.exit:\n  - main.wait: {child: peer}\n  - peer.close: {fd: 0}\n"),
                    6, 5, "it exited at line 4 and was reaped at line 5")
    }

    @Test func exitKillsEveryDescendant() {
        let lines = """
              - main.fork: {as: a}
              - a.fork: {as: b}
              - b.fork: {as: c}
              - a.exit:
              - c.close: {fd: 0}

            """
        expectError(stepFailure(lines), 7, 5, "process 'c' cannot run 'close': it was killed at line 6 when 'a' ended")
        #expect(stepFailure("  - main.fork: {as: a}\n  - a.fork: {as: b}\n  - a.exit:\n  - main.close: {fd: 0}\n") == nil)
    }

    @Test func rejectsForkOfAnExistingName() {
        expectError(stepFailure("  - main.fork: {as: main}\n"), 3, 21, "process 'main' already exists (the root process)")
        expectError(stepFailure("  - main.fork: {as: p}\n  - main.fork: {as: p}\n"), 4, 21, "process 'p' already exists (created at line 3)")
        // A reaped process's name stays taken.
        expectError(stepFailure("  - main.fork: {as: p}\n  - p.exit:\n  - main.wait: {child: p}\n  - main.fork: {as: p}\n"),
                    6, 21, "already exists")
    }

    @Test func validatesWait() {
        expectError(stepFailure("  - main.wait: {child: ghost}\n"), 3, 24, "unknown process 'ghost'")
        expectError(stepFailure("  - main.fork: {as: p}\n  - main.wait: {child: p}\n"), 4, 24,
                    "'p' is still running", "waiting for a running process would block forever")
        expectError(stepFailure("  - main.fork: {as: p}\n  - p.fork: {as: q}\n  - q.exit:\n  - main.wait: {child: q}\n"), 6, 24,
                    "'q' is not a child of 'main' (its parent is 'p')")
        expectError(stepFailure("  - main.fork: {as: p}\n  - p.wait: {child: main}\n"), 4, 21, "'main' is not a child of 'p'",
                    "it is the root process")
        expectError(stepFailure("  - main.fork: {as: p}\n  - p.exit:\n  - main.wait: {child: p}\n  - main.wait: {child: p}\n"), 6, 24,
                    "'p' was already waited for at line 5")
    }

    @Test func validatesDescriptorNames() {
        expectError(stepFailure("  - main.open: {path: x, as: b}\n  - main.open: {path: y, as: a}\n  - main.close: {fd: x}\n"), 5, 22,
                    "unknown descriptor 'x' in process 'main' (known: a, b)")
        expectError(stepFailure("  - main.close: {fd: x}\n"), 3, 22, "unknown descriptor 'x' in process 'main' (known: none)")
        // Names are per process: a name bound after the fork is not the child's.
        expectError(stepFailure("  - main.fork: {as: p}\n  - main.open: {path: x, as: f}\n  - p.close: {fd: f}\n"), 5, 19,
                    "unknown descriptor 'f' in process 'p'")
        // The child inherits the names bound before the fork; rebinding is allowed.
        #expect(stepFailure("""
              - main.open: {path: x, as: f}
              - main.fork: {as: p}
              - p.close: {fd: f}
              - p.open: {path: y, as: f}
              - main.dup2: {fd: f, target: 9, as: nine}
              - main.close: {fd: nine}

            """) == nil)
    }

    @Test func validatesReferencesInEveryField() {
        expectError(stepFailure("  - main.pipe: {as: [r, w]}\n  - main.dup2: {fd: r, target: t}\n"), 4, 32, "unknown descriptor 't'")
        expectError(stepFailure("  - main.socketpair: {as: [a, b]}\n  - main.send: {socket: a, fds: [0, zz]}\n"), 4, 37,
                    "unknown descriptor 'zz'")
        expectError(stepFailure("  - main.recv: {socket: s}\n"), 3, 25, "unknown descriptor 's'")
        expectError(stepFailure("  - main.fcntl: {fd: q, cmd: getfd}\n"), 3, 22, "unknown descriptor 'q'")
        expectError(stepFailure("  - main.exec: {args: [ok, \"{nope}\"]}\n"), 3, 28, "unknown descriptor 'nope' in process 'main'")
        // recv binds its names; dup's `as` binds after the reference is resolved.
        expectError(stepFailure("  - main.dup: {fd: d, as: d}\n"), 3, 20, "unknown descriptor 'd'")
    }

    @Test func validatesArgumentReferences() {
        expectError(stepFailure("  - main.close: {fd: {argv: 1}}\n"), 3, 22, "{argv: 1} is not available in process 'main'",
                    "not exec'd with arguments")
        expectError(stepFailure("  - main.exec: {args: [a]}\n  - main.close: {fd: {argv: 2}}\n"), 4, 22,
                    "exec'd with 1 argument")
        // The count follows fork and changes with every exec.
        #expect(stepFailure("  - main.exec: {args: [a, b]}\n  - main.fork: {as: p}\n  - p.close: {fd: {argv: 2}}\n") == nil)
        expectError(stepFailure("  - main.exec: {args: [a, b]}\n  - main.exec:\n  - main.close: {fd: {argv: 1}}\n"), 5, 22,
                    "not exec'd with arguments")
    }

    @Test func validatesPidfdTargets() {
        expectError(stepFailure("  - main.pidfd_open: {process: peer, as: p}\n"), 3, 32, "unknown process 'peer'", "known processes: main")
        expectError(stepFailure("  - main.fork: {as: peer}\n  - main.pidfd_getfd: {process: peer, fd: secret, as: s}\n"), 4, 43,
                    "unknown descriptor 'secret' in process 'peer'")
        // The target may have exited; its names are resolved in the target, not in the caller.
        #expect(stepFailure("""
              - main.fork: {as: peer}
              - peer.open: {path: x, as: secret}
              - peer.exit:
              - main.pidfd_open: {process: peer, as: p}
              - main.pidfd_getfd: {process: peer, fd: secret, as: s, error: ESRCH}
              - main.close: {fd: s}

            """) == nil)
    }

    /// A pidfd named as pidfd_open bound it refers to that process: a kill or term through it that is expected
    /// to succeed ends the process (and its descendants) for the validator, as the model ends it, so that it
    /// may be waited for in the foreground (which found a waitpid reporting a signal as an exit status).
    @Test func aSignalThroughAPidfdFromPidfdOpenEndsItsProcess() {
        let killed = "  - main.fork: {as: p}\n  - p.fork: {as: q}\n  - main.pidfd_open: {process: p, as: h}\n"
            + "  - main.pidfd_send_signal: {pidfd: h, signal: kill}\n"
        #expect(stepFailure(killed + "  - main.wait: {child: p, status: {signal: kill}}\n") == nil)
        expectError(stepFailure(killed + "  - p.close: {fd: 0}\n"), 7, 5, "process 'p' cannot run 'close': 'main' killed it "
            + "at line 6 through a pidfd")
        expectError(stepFailure(killed + "  - q.close: {fd: 0}\n"), 7, 5, "it was killed at line 6 when 'p' ended")
        // Signal 0 and a step that expects an error end nothing: the wait still meets a running child.
        for step in ["{pidfd: h, signal: zero}", "{pidfd: h, signal: kill, error: EPERM}"] {
            let text = "  - main.fork: {as: p}\n  - main.pidfd_open: {process: p, as: h}\n  - main.pidfd_send_signal: \(step)\n"
                + "  - main.wait: {child: p}\n"
            expectError(stepFailure(text), 6, 24, "'p' is still running")
        }
        // A signal is never sent in the background (the operation does not take the key).
        expectError(stepFailure("  - main.fork: {as: p}\n  - main.pidfd_open: {process: p, as: h}\n"
            + "  - main.pidfd_send_signal: {pidfd: h, signal: kill, background: true}\n"), 5, 54,
                    "unknown key 'background' in pidfd_send_signal")
        // A pidfd that arrived over SCM_RIGHTS (or was duplicated) is followed at run time only: the old hint stays.
        let passed = """
              - main.fork: {as: p}
              - main.pidfd_open: {process: p, as: h}
              - main.dup: {fd: h, as: copy}
              - main.pidfd_send_signal: {pidfd: copy, signal: kill}
              - main.wait: {child: p}

            """
        expectError(stepFailure(passed), 7, 24, "'p' is still running", "if pidfd_send_signal at line 6 ended it",
                    "reap it with waitid on its pidfd instead")
        // A process killed while asleep in a background call may still be awaited: the await judges nothing.
        #expect(stepFailure("""
              - main.pipe: {as: [r, w]}
              - main.fork: {as: kid}
              - main.pidfd_open: {process: kid, as: pf}
              - kid.read: {fd: r, background: true}
              - main.pidfd_send_signal: {pidfd: pf, signal: kill}
              - kid.await:
              - main.waitid: {pidfd: pf, status: {signal: kill}}

            """) == nil)
        // One rule for every end: that await may also be left out, and a sleeper killed with its parent may be
        // awaited too (before, the first was "never awaited" and the second "cannot run 'await'"); once only.
        let pidfdKilled = """
              - main.pipe: {as: [r, w]}
              - main.fork: {as: kid}
              - main.pidfd_open: {process: kid, as: pf}
              - kid.read: {fd: r, background: true}
              - main.pidfd_send_signal: {pidfd: pf, signal: kill}

            """
        #expect(stepFailure(pidfdKilled) == nil)
        let parentExited = """
              - main.pipe: {as: [r, w]}
              - main.fork: {as: p1}
              - p1.fork: {as: p2}
              - p2.read: {fd: r, background: true}
              - p1.exit:
              - p2.await:

            """
        #expect(stepFailure(parentExited) == nil)
        expectError(stepFailure(parentExited + "  - p2.await:\n"), 9, 5,
                    "process 'p2' cannot run 'await': it was killed at line 7 when 'p1' ended")
    }

    @Test func validatesCheckReferences() {
        expectError(stepFailure("  - check: {same: [main.0, ghost.0]}\n"), 3, 28, "unknown process 'ghost' in 'ghost.0'")
        expectError(stepFailure("  - check: {offset: {main.f: 0}}\n"), 3, 22, "unknown descriptor 'f' in process 'main'")
        expectError(stepFailure("  - main.fork: {as: p}\n  - p.exit:\n  - check: {number: {p.0: 0}}\n"), 5, 22,
                    "process 'p' cannot be checked: it exited at line 4")
        expectError(stepFailure("  - check: {open: {main: [0, f]}}\n"), 3, 30, "unknown descriptor 'f' in process 'main'")
        expectError(stepFailure("  - check: {open: {peer: [0]}}\n"), 3, 20, "unknown process 'peer'")
    }

    @Test func checkErrorsFollowDocumentOrder() {
        // `open` comes first in the file, so its unknown process is reported before the unknown name in `same`.
        expectError(stepFailure("  - check: {open: {ghost: []}, same: [main.x, main.y]}\n"), 3, 20, "unknown process 'ghost'")
        expectError(stepFailure("  - check: {same: [main.x, main.y], open: {ghost: []}}\n"), 3, 20, "unknown descriptor 'x'")
    }
}

/// Loading scenario files, and the errno names they use.
@Suite struct ScenarioFileTests {
    // MARK: Files

    @Test func loadNamesScenariosRelativeToTheRoot() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-parser-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let nested = directory.appendingPathComponent("scm-rights")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        let content = document("  - main.exit:\n")
        for name in ["scm-rights/basic.yaml", "scm-rights/a.yml", "top.yaml", "notes.txt", ".hidden.yaml"] {
            try content.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let root = directory.path
        // top.yaml named again on its own is the same file: run once, under the root it was first found in.
        let found = try ScenarioDiscovery.find([root, root + "/top.yaml"])
        #expect(found.map(\.path) == [root + "/scm-rights/a.yml", root + "/scm-rights/basic.yaml", root + "/top.yaml"])
        #expect(found.map(\.root) == [root, root, root])
        #expect(try ScenarioDiscovery.find([root + "/top.yaml"]).map(\.root) == [nil])

        #expect(try ScenarioParser.load(path: root + "/scm-rights/basic.yaml", root: root).name == "scm-rights/basic")
        #expect(try ScenarioParser.load(path: root + "/scm-rights/a.yml", root: root + "/").name == "scm-rights/a")
        #expect(try ScenarioParser.load(path: root + "/scm-rights/basic.yaml", root: nil).name == "basic")
        #expect(try ScenarioParser.load(path: root + "/top.yaml", root: "/elsewhere").name == "top")
        #expect(try ScenarioParser.load(path: root + "/top.yaml", root: nil).file == root + "/top.yaml")
    }

    /// A FIFO, a device or a directory given as a scenario file is refused with what it is; a FIFO without a
    /// writer is not waited on (it was reported as "permission denied or unreadable").
    @Test func aScenarioPathThatIsNotARegularFileIsRefusedWithWhatItIs() throws {
        let directory = scratchDirectory("not-a-file")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        let fifo = directory + "/fifo.yaml"
        #expect(mkfifo(fifo, 0o600) == 0)
        for (path, expected) in [(fifo, "is not a regular file (a FIFO, socket or device)"), ("/dev/zero", "is not a regular file"),
                                 (directory, "is a directory")] {
            do {
                _ = try ScenarioParser.load(path: path, root: nil)
                Issue.record("loaded \(path)")
            } catch {
                #expect(error.location.file == path)
                #expect(error.message.contains("cannot read scenario file '\(path)': \(expected)"), "\(error.message)")
            }
        }
    }

    @Test func missingFilesAreErrorsNamingTheFile() {
        do {
            _ = try ScenarioParser.load(path: "/nonexistent/x.yaml", root: nil)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.location.file == "/nonexistent/x.yaml")
            #expect(error.message.contains("/nonexistent/x.yaml"))
            #expect(error.message.contains("no such file"))
        }
        do {
            _ = try ScenarioDiscovery.find(["/nonexistent/dir"])
            Issue.record("found a missing directory")
        } catch {
            #expect(error.location.file == "/nonexistent/dir")
            #expect(error.message.contains("no such scenario file or directory"))
        }
    }

    // MARK: Errno

    @Test func errnoTableMatchesGlibc() {
        let expected: [(String, Int32)] = [
            ("EPERM", EPERM), ("ENOENT", ENOENT), ("EBADF", EBADF), ("EAGAIN", EAGAIN), ("EINVAL", EINVAL),
            ("EMFILE", EMFILE), ("ENFILE", ENFILE), ("EPIPE", EPIPE), ("ESPIPE", ESPIPE), ("ENOSYS", ENOSYS),
            ("ESRCH", ESRCH), ("ECHILD", ECHILD), ("EPERM", EPERM), ("ENOTSOCK", ENOTSOCK), ("EOPNOTSUPP", EOPNOTSUPP),
            ("ETOOMANYREFS", ETOOMANYREFS), ("EMSGSIZE", EMSGSIZE), ("ENOTCONN", ENOTCONN), ("EHWPOISON", EHWPOISON),
        ]
        for (name, value) in expected {
            #expect(Errno.value(named: name) == value, "\(name)")
            #expect(Errno.name(of: value) == name)
        }
        #expect(Errno.value(named: "EWOULDBLOCK") == EAGAIN)
        #expect(Errno.value(named: "ENOTSUP") == EOPNOTSUPP)
        #expect(Errno.value(named: "EBOGUS") == nil)
        #expect(Errno.name(of: 4242) == "errno 4242")
        for entry in Errno.table {
            #expect(Errno.value(named: entry.name) == entry.value)
            #expect(Errno.name(of: entry.value) == entry.name)
        }
    }
}

/// Hostile input named where it is: a duplicate key at its second occurrence, a byte that is not UTF-8 at its
/// own line and column.
struct HostileInputLocationTests {
    @Test func aDuplicateKeyIsNamedWhereItRepeats() throws {
        let top = try #require(failure("summary: a\nsummary: b\nsteps:\n  - main.pipe: {as: [r, w]}\n"))
        #expect(top.location.line == 2 && top.location.column == 1)
        #expect(top.message.contains("first at line 1, column 1"))
        let inner = try #require(failure(document("  - main.pipe: {as: [a, b], as: [c, d]}\n")))
        #expect(inner.location.line == 3 && inner.location.column == 29, "\(inner)")
    }

    @Test func aByteThatIsNotUTF8IsLocated() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-utf8-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bad.yaml"
        try Data("summary: ok\nsteps:\n  - main.pipe: {as: [r, \u{00e9}".utf8 + [0xFF] + "]}\n".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ScenarioParser.load(path: path, root: directory)
            Issue.record("a file with an invalid byte was read")
        } catch {
            #expect(error.location.line == 3 && error.location.column == 27, "\(error)")
            #expect(error.message.contains("byte 0xff"))
        }
        #expect(firstInvalidUTF8(Array("héllo".utf8)) == nil)
        #expect(firstInvalidUTF8([0x61, 0xC0, 0x80]) == 1)  // overlong
        #expect(firstInvalidUTF8([0xED, 0xA0, 0x80]) == 0)  // a surrogate
        #expect(firstInvalidUTF8([0xE2, 0x82]) == 0)  // cut short
    }
}
