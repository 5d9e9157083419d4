import Foundation
import Testing

@testable import HandoffCore
import HandoffProtocol

@Suite struct ScenarioParserTests {
    // MARK: Document

    @Test func dataAndExpectTakeAnyBytesAsHex() throws {
        let step = try lastStep("  - main.write: {fd: 4, data: {hex: \"fe ff:00_7f\"}, result: 4}\n")
        guard case .files(.write(_, let data)) = step.operation else { Issue.record("not a write"); return }
        #expect(data == [0xFE, 0xFF, 0x00, 0x7F])
        let read = try lastStep("  - main.read: {fd: 3, count: 2, expect: {hex: \"80ff\"}}\n")
        #expect(read.expect.data == [0x80, 0xFF])
        // A YAML escape above 0x7F is a character: two bytes in UTF-8, as before.
        guard case .files(.write(_, let escaped)) = try lastStep("  - main.write: {fd: 4, data: \"\\xff\"}\n").operation else { return }
        #expect(escaped == [0xC3, 0xBF])
        #expect(failure(document("  - main.write: {fd: 4, data: {hex: \"abc\"}}\n"))?.description
            == "t.yaml:3:37: error: 'data' in hex has an odd number of digits (3): two per byte")
        #expect(failure(document("  - main.write: {fd: 4, data: {hex: \"zz\"}}\n"))?.description
            == "t.yaml:3:37: error: 'data' in hex holds 'z', not a hex digit (0-9, a-f; spaces, ':' and '_' may separate bytes)")
        #expect(failure(document("  - main.write: {fd: 4, data: {bytes: \"00\"}}\n")) != nil)
    }

    @Test func parsesTheExampleScenario() throws {
        let yaml = """
            summary: A file passed with SCM_RIGHTS shares its open file description and offset with the sender.
            tags: [scm-rights, offset]
            requires:
              kernel: "5.6"
              syscalls: [pidfd_getfd, kcmp]
              capabilities: [CAP_SYS_PTRACE]
            timeout: 5
            steps:
              - main.open: {path: data, flags: [rdwr, creat], as: file}
              - main.socketpair: {type: stream, as: [left, right]}
              - main.fork: {as: peer}
              - main.send: {socket: left, fds: [file], data: "x"}
              - peer.recv: {socket: right, as: [got]}
              - peer.write: {fd: got, data: "hello"}
              - check: {same: [main.file, peer.got], offset: {main.file: 5}}
            """
        let scenario = try ScenarioParser.parse(yaml: yaml, file: "scenarios/x.yaml", name: "x")
        #expect(scenario.name == "x")
        #expect(scenario.file == "scenarios/x.yaml")
        #expect(scenario.summary.hasPrefix("A file passed"))
        #expect(scenario.tags == ["scm-rights", "offset"])
        #expect(scenario.requires == Requirements(minimumKernel: KernelVersion(5, 6), syscalls: ["pidfd_getfd", "kcmp"],
                                                  capabilities: ["CAP_SYS_PTRACE"]))
        #expect(scenario.timeout == 5)
        #expect(scenario.steps.count == 7)
        #expect(scenario.steps[0].location == SourceLocation(file: "scenarios/x.yaml", line: 9, column: 5))
        #expect(scenario.steps[0].process == "main")
        #expect(scenario.steps[4].process == "peer")
        #expect(scenario.steps[6].process == nil)
        guard case .check(let check) = scenario.steps[6].action else {
            Issue.record("not a check")
            return
        }
        let file = QualifiedDescriptor(process: "main", descriptor: .name("file"))
        #expect(check.same == [file, QualifiedDescriptor(process: "peer", descriptor: .name("got"))])
        #expect(check.offsets == [file: 5])
    }

    @Test func defaultsOfTheDocument() throws {
        let scenario = try parse(document("  - main.exit:\n"))
        #expect(scenario.tags == [])
        #expect(scenario.requires == Requirements())
        #expect(scenario.timeout == nil)
    }

    @Test func kernelAndTimeoutAcceptNumbers() throws {
        let scenario = try parse("summary: s\nrequires: {kernel: 5.10}\ntimeout: 0.5\nsteps: [main.exit: {}]\n")
        #expect(scenario.requires.minimumKernel == KernelVersion(5, 10))
        #expect(scenario.timeout == 0.5)
        let patch = try parse("summary: s\nrequires: {kernel: \"6.1.2\"}\nsteps: [main.exit: {}]\n")
        #expect(patch.requires.minimumKernel == KernelVersion(6, 1, 2))
    }

    @Test func rejectsUnknownTopLevelKey() {
        expectError(failure("summary: s\nstep: []\n"), 2, 1, "unknown top-level key 'step'", "summary, tags, requires, timeout, matrix, steps")
    }

    @Test func rejectsMissingSummaryAndSteps() {
        expectError(failure("steps: [main.exit: {}]\n"), 1, 1, "missing required top-level key 'summary'")
        expectError(failure("summary: s\n"), 1, 1, "missing required top-level key 'steps'")
        expectError(failure("summary: s\nsteps: []\n"), 2, 8, "'steps' is empty")
        expectError(failure("- a\n- b\n"), 1, 1, "expected a mapping", "found a list")
        expectError(failure(""), 1, 1, "empty scenario file")
    }

    @Test func rejectsWrongTopLevelTypes() {
        expectError(failure("summary: [a]\nsteps: [main.exit: {}]\n"), 1, 10, "expected a string for 'summary'", "found a list")
        expectError(failure("summary: s\ntags: scm\nsteps: [main.exit: {}]\n"), 2, 7, "expected a list for 'tags'")
        expectError(failure("summary: s\ntimeout: 0\nsteps: [main.exit: {}]\n"), 2, 10, "greater than 0 and at most 86400 (a day) for 'timeout'")
        expectError(failure("summary: s\ntimeout: soon\nsteps: [main.exit: {}]\n"), 2, 10, "'timeout'", "\"soon\"")
    }

    @Test func rejectsBadRequirements() {
        expectError(failure("summary: s\nrequires: {kernel: \"5\"}\nsteps: [main.exit: {}]\n"), 2, 20,
                    "expected a kernel release X.Y or X.Y.Z for 'kernel'")
        expectError(failure("summary: s\nrequires: {syscalls: [kcmp, fork]}\nsteps: [main.exit: {}]\n"), 2, 29,
                    "unknown value 'fork'", "kcmp, pidfd_open, pidfd_getfd, close_range, memfd_create")
        expectError(failure("summary: s\nrequires: {capabilities: [SYS_PTRACE]}\nsteps: [main.exit: {}]\n"), 2, 27,
                    "unknown capability 'SYS_PTRACE'", "CAP_NAME")
        expectError(failure("summary: s\nrequires: {root: true}\nsteps: [main.exit: {}]\n"), 2, 12,
                    "unknown key 'root' in requires", "kernel, syscalls, capabilities")
    }

    @Test func reportsMalformedYAMLWithItsLocation() {
        let error = failure("summary: s\nsteps:\n  - main.open: {path: x, as: [a\n")
        #expect(error != nil)
        #expect(error?.message.hasPrefix("malformed YAML") == true)
        #expect(error?.location.line == 4)
        expectError(failure("summary: s\nsummary: t\nsteps: [main.exit: {}]\n"), 2, 1, "duplicate key 'summary'")
    }

    @Test func malformedYAMLNamesTheParserPosition() {
        expectError(failure("summary: s\nsteps:\n\t- x\n"), 3, 1, "malformed YAML", "cannot start any token")
        expectError(failure("summary: s\nsteps:\n  - main.open: {path: x, as: f\n  - main.exit:\n"), 4, 14,
                    "malformed YAML", "flow mapping at line 3, column 16")
    }

    @Test func errorDescriptionNamesFileLineAndColumn() {
        let error = stepFailure("  - main.dup: {fdd: 3}\n")
        #expect(error?.description == "t.yaml:3:16: error: unknown key 'fdd' in dup (expected one of: fd, as, error, result, background)")
    }

    // MARK: Step shape

    @Test func rejectsStepsWithoutExactlyOneKey() {
        expectError(stepFailure("  - main.open:\n    path: x\n"), 4, 5, "exactly one key", "'main.open', 'path'", "indented")
        expectError(stepFailure("  - main.exit\n"), 3, 5, "expected a step", "\"main.exit\"")
        expectError(stepFailure("  - {}\n"), 3, 5, "empty step")
    }

    @Test func rejectsUnknownOperationsAndStepKeys() {
        expectError(stepFailure("  - main.opn: {path: x, as: f}\n"), 3, 5, "unknown operation 'opn' in 'main.opn'", "open, memfd, lseek")
        expectError(stepFailure("  - open: {path: x, as: f}\n"), 3, 5, "unknown step 'open'", "did you mean 'main.open'")
        expectError(stepFailure("  - main.check: {same: [main.a, main.b]}\n"), 3, 5, "check takes no process prefix")
        expectError(stepFailure("  - 9lives.exit:\n"), 3, 5, "invalid process name '9lives'")
    }

    @Test func rejectsArgumentsThatAreNotAMapping() {
        expectError(stepFailure("  - main.close: 3\n"), 3, 17, "expected a mapping of arguments for close", "found 3")
    }

    @Test func stepsWithoutArgumentsMayBeNullOrEmpty() throws {
        let parsed = try steps("  - main.exec:\n  - main.exec: {}\n  - main.exit:\n")
        guard case .processes(.exec(let arguments, _)) = parsed[0].operation, case .processes(.exec(let more, _)) = parsed[1].operation,
              case .processes(.exit(let status)) = parsed[2].operation else {
            Issue.record("wrong actions")
            return
        }
        #expect(arguments.isEmpty && more.isEmpty && status == 0)
    }

    @Test func rejectsUnknownAndMissingKeys() {
        expectError(stepFailure("  - main.dup: {fdd: 3}\n"), 3, 16, "unknown key 'fdd' in dup (expected one of: fd, as, error, result, background)")
        expectError(stepFailure("  - main.dup: {as: x}\n"), 3, 5, "missing required key 'fd' in dup")
        expectError(stepFailure("  - main.read: {fd: 0, status: 1}\n"), 3, 24, "unknown key 'status' in read",
                    "fd, count, error, result, expect")
    }

    @Test func rejectsWrongTypes() {
        expectError(stepFailure("  - main.read: {fd: 0, count: abc}\n"), 3, 31, "expected an integer for 'count', found \"abc\"")
        expectError(stepFailure("  - main.read: {fd: 0, count: -1}\n"), 3, 31, "'count' must be between 0 and 65536, found -1")
        expectError(stepFailure("  - main.write: {fd: 1, data: 12}\n"), 3, 31, "expected a string for 'data', found 12", "quote it")
        expectError(stepFailure("  - main.close: {fd: [1]}\n"), 3, 22, "expected a descriptor for 'fd'", "found a list")
        expectError(stepFailure("  - main.close: {fd: \"3x\"}\n"), 3, 22, "expected a descriptor for 'fd'", "\"3x\"")
        expectError(stepFailure("  - main.close: {fd: {argv: 0}}\n"), 3, 29, "'argv' must be at least 1")
        expectError(stepFailure("  - main.close: {fd: {arg: 1}}\n"), 3, 22, "other than {argv: N}")
    }

    // MARK: Operations

    @Test func parsesOpen() throws {
        let step = try lastStep("  - main.open: {path: dir/data, flags: [rdwr, creat, cloexec], mode: 0o600, as: file}\n")
        guard case .files(.open(let path, let flags, let mode)) = step.operation else {
            Issue.record("not open")
            return
        }
        #expect(path == "dir/data")
        #expect(flags == [.rdwr, .creat, .cloexec])
        #expect(mode == 0o600)
        #expect(step.binds == ["file"])
    }

    @Test func openDefaultsAndModeSpellings() throws {
        guard case .files(.open(_, let flags, let mode)) = try lastStep("  - main.open: {path: data, as: f}\n").operation else {
            Issue.record("not open")
            return
        }
        #expect(flags.isEmpty && mode == 0o644)
        for (spelling, expected) in [("\"0640\"", 0o640), ("\"0o600\"", 0o600), ("\"755\"", 0o755), ("0644", 0o644), ("420", 420)] {
            guard case .files(.open(_, _, let mode)) = try lastStep("  - main.open: {path: data, mode: \(spelling), as: f}\n").operation else {
                Issue.record("not open")
                return
            }
            #expect(mode == UInt32(expected), "\(spelling)")
        }
    }

    @Test func rejectsBadOpenArguments() {
        expectError(stepFailure("  - main.open: {path: /etc/passwd, as: f}\n"), 3, 23, "must be relative")
        expectError(stepFailure("  - main.open: {path: a/../../x, as: f}\n"), 3, 23, "no '..' component")
        // The directory itself: the kernel opens it, the model has no directory (it said ENOENT).
        expectError(stepFailure("  - main.open: {path: ., as: f}\n"), 3, 23, "names the scenario's directory itself; directories are not modelled")
        expectError(stepFailure("  - main.open: {path: ./., as: f}\n"), 3, 23, "names the scenario's directory itself")
        expectError(stepFailure("  - main.bind: {socket: s, address: {unix: ./}}\n"), 3, 44, "names the scenario's directory itself")
        let long = String(repeating: "a", count: 81)
        expectError(stepFailure("  - main.bind: {socket: s, address: {abstract: \(long)}}\n"), 3, 48, "abstract name of 81 bytes: at most 80")
        expectError(stepFailure("  - main.open: {path: x, flags: [rdwr, sync], as: f}\n"), 3, 40, "unknown value 'sync'",
                    "rdonly, wronly, rdwr, creat, excl, trunc, append, nonblock, cloexec")
        expectError(stepFailure("  - main.open: {path: x, mode: \"rw\", as: f}\n"), 3, 32, "expected an octal mode")
        expectError(stepFailure("  - main.open: {path: x, mode: 0o17777, as: f}\n"), 3, 32, "between 0 and 0o7777")
        expectError(stepFailure("  - main.open: {path: x, as: 3f}\n"), 3, 30, "invalid name", "'as'")
    }

    @Test func nameIsOptionalWhereAStepMayFail() throws {
        let parsed = try steps("""
              - main.open: {path: missing, error: ENOENT}
              - main.pidfd_getfd: {process: main, fd: 9, error: EBADF}
            """)
        guard case .files(.open) = parsed[0].operation else { Issue.record("not open"); return }
        #expect(parsed[0].boundName == nil)
        guard case .processes(.pidfdGetfd) = parsed[1].operation else { Issue.record("not getfd"); return }
        #expect(parsed[1].boundName == nil)
    }

    @Test func parsesPipeAndSocketpair() throws {
        let parsed = try steps("""
              - main.pipe: {as: [r, w]}
              - main.pipe: {flags: [cloexec, nonblock], as: [r2, w2]}
              - main.socketpair: {as: [a, b]}
              - main.socketpair: {type: seqpacket, flags: [cloexec], as: [c, d]}

            """)
        guard case .events(.pipe(let c0, let n0)) = parsed[0].operation, case .events(.pipe(let c1, let n1)) = parsed[1].operation,
              case .sockets(.socketpair(let t2, let c2, let n2)) = parsed[2].operation,
              case .sockets(.socketpair(let t3, let c3, let n3)) = parsed[3].operation else {
            Issue.record("wrong actions")
            return
        }
        #expect(!c0 && !n0 && parsed[0].binds == ["r", "w"])
        #expect(c1 && n1 && parsed[1].binds == ["r2", "w2"])
        #expect(t2 == .stream && !c2 && !n2 && parsed[2].binds == ["a", "b"])
        #expect(t3 == .seqpacket && c3 && !n3 && parsed[3].binds == ["c", "d"])
    }

    @Test func rejectsBadPipeAndSocketpairArguments() {
        expectError(stepFailure("  - main.pipe: {as: [r]}\n"), 3, 21, "exactly 2 names for 'as', found 1")
        expectError(stepFailure("  - main.pipe: {as: [r, r]}\n"), 3, 25, "name 'r' appears twice")
        expectError(stepFailure("  - main.pipe: {as: r}\n"), 3, 21, "expected a list for 'as'")
        expectError(stepFailure("  - main.pipe: {flags: [direct], as: [r, w]}\n"), 3, 25, "unknown value 'direct'", "cloexec, nonblock")
        expectError(stepFailure("  - main.socketpair: {type: raw, as: [a, b]}\n"), 3, 29, "unknown value 'raw' for 'type'",
                    "stream, dgram, seqpacket")
    }

    @Test func parsesMemfd() throws {
        let step = try lastStep("  - main.memfd: {as: m}\n")
        guard case .files(.memfd(let name, let cloexec, let sealing)) = step.operation,
              case .files(.memfd(let name2, let cloexec2, let sealing2)) = try lastStep(
                "  - main.memfd: {name: shm, flags: [cloexec, allow_sealing], as: m}\n").operation else {
            Issue.record("not memfd")
            return
        }
        #expect(name == "handoff" && !cloexec && !sealing && step.binds == ["m"])
        #expect(name2 == "shm" && cloexec2 && sealing2)
        expectError(stepFailure("  - main.memfd: {flags: [nonblock], as: m}\n"), 3, 26, "unknown value 'nonblock'", "cloexec")
    }

    @Test func parsesDupFamily() throws {
        let parsed = try steps("""
              - main.open: {path: data, as: f}
              - main.dup: {fd: f}
              - main.dup: {fd: 0, as: copy}
              - main.dup2: {fd: f, target: 3, as: three}
              - main.dup3: {fd: f, target: three, flags: [cloexec]}
              - main.dup3: {fd: f, target: 9, flags: 12345, error: EINVAL}

            """)
        guard case .table(.dup(let fd1)) = parsed[1].operation, case .table(.dup(let fd2)) = parsed[2].operation,
              case .table(.dup2(let fd3, let target3)) = parsed[3].operation,
              case .table(.dup3(let fd4, let target4, let flags4)) = parsed[4].operation,
              case .table(.dup3(_, let target5, let flags5)) = parsed[5].operation else {
            Issue.record("wrong actions")
            return
        }
        #expect(fd1 == .name("f") && parsed[1].boundName == nil)
        #expect(fd2 == .number(0) && parsed[2].binds == ["copy"])
        #expect(fd3 == .name("f") && target3 == .number(3) && parsed[3].binds == ["three"])
        #expect(fd4 == .name("f") && target4 == .name("three") && flags4 == Linux.O_CLOEXEC
                    && parsed[4].boundName == nil)
        #expect(target5 == .number(9) && flags5 & Linux.O_CLOEXEC == 0 && flags5 == 12345)
        #expect(parsed[5].expect == Expectation(error: "EINVAL"))
    }

    @Test func rejectsBadDupArguments() {
        expectError(stepFailure("  - main.dup2: {fd: 0, target: {argv: 1}}\n"), 3, 32, "{argv: N} is not allowed for 'target'", "expected a number, a name or {limit: OFFSET}")
        expectError(stepFailure("  - main.dup3: {fd: 0, target: 5, flags: [nonblock]}\n"), 3, 43, "unknown value 'nonblock'")
        expectError(stepFailure("  - main.dup3: {fd: 0, target: 5, flags: yes}\n"), 3, 42, "[cloexec]", "raw integer")
    }

    @Test func parsesFcntl() throws {
        let parsed = try steps("""
              - main.fcntl: {fd: 0, cmd: dupfd, as: low}
              - main.fcntl: {fd: 0, cmd: dupfd_cloexec, min: 10, as: high}
              - main.fcntl: {fd: 0, cmd: getfd, result: 1}
              - main.fcntl: {fd: 0, cmd: setfd, cloexec: true}
              - main.fcntl: {fd: 0, cmd: getfl}
              - main.fcntl: {fd: 0, cmd: setfl, flags: [append, nonblock]}
              - main.fcntl: {fd: 0, cmd: setfl}

            """)
        let expected: [(FcntlCommand, String?)] = [
            (.dupfd(minimum: 0), "low"), (.dupfdCloexec(minimum: 10), "high"), (.getfd, nil),
            (.setfd(closeOnExec: true), nil), (.getfl, nil), (.setfl([.append, .nonblock]), nil), (.setfl([]), nil),
        ]
        for (step, (command, name)) in zip(parsed, expected) {
            guard case .table(.fcntl(let fd, let actual)) = step.operation else {
                Issue.record("not fcntl")
                continue
            }
            #expect(fd == .number(0) && actual == command && step.boundName == name)
        }
        #expect(parsed[2].expect.result == 1)
    }

    @Test func rejectsFcntlKeysOfAnotherCommand() {
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: getfd, min: 3}\n"), 3, 37, "key 'min' does not apply to fcntl cmd getfd",
                    "fd, cmd, background, error, result")
        // fcntl is declared to run in the background, whatever its command (the key list once left it out).
        #expect(stepFailure("  - main.fcntl: {fd: 0, cmd: getfd, background: true}\n  - main.await:\n") == nil)
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: getfl, as: x}\n"), 3, 37, "key 'as' does not apply to fcntl cmd getfl")
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: setfd}\n"), 3, 5, "missing required key 'cloexec' in fcntl")
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: dupfd3}\n"), 3, 30, "unknown value 'dupfd3' for 'cmd'",
                    "dupfd, dupfd_cloexec, getfd, setfd, getfl, setfl")
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: setfl, flags: [cloexec]}\n"), 3, 45, "unknown value 'cloexec'", "append, nonblock")
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: setfd, cloexec: 1}\n"), 3, 46, "expected true or false for 'cloexec'")
        expectError(stepFailure("  - main.fcntl: {fd: 0, command: getfd}\n"), 3, 25, "unknown key 'command' in fcntl",
                    "fd, cmd, min, cloexec, flags, seals, size, as, error, result")
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: setpipe_sz}\n"), 3, 5, "missing required key 'size' in fcntl")
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: setpipe_sz, size: -1}\n"), 3, 48, "'size'")
        expectError(stepFailure("  - main.fcntl: {fd: 0, cmd: getpipe_sz, size: 4096}\n"), 3, 42, "key 'size' does not apply to fcntl cmd getpipe_sz")
        expectError(stepFailure("  - main.ioctl: {fd: 0, request: tiocgwinsz}\n"), 3, 34, "unknown value 'tiocgwinsz' for 'request'",
                    "fioclex, fionclex, fionbio, fionread")
        expectError(stepFailure("  - main.ioctl: {fd: 0, request: fionread, enable: true}\n"), 3, 44, "key 'enable' does not apply to ioctl request fionread")
        expectError(stepFailure("  - main.ioctl: {fd: 0, request: fionbio, enable: 1}\n"), 3, 51, "expected true or false for 'enable'")
        expectError(stepFailure("  - main.ioctl: {fd: 0, request: fioclex, as: x}\n"), 3, 43, "unknown key 'as' in ioctl")
    }

    @Test func parsesCloseAndCloseRange() throws {
        let parsed = try steps("""
              - main.close: {fd: 7}
              - main.close_range: {first: 3}
              - main.close_range: {first: 3, last: 10, flags: [cloexec, unshare]}
              - main.close_range: {first: 0, last: max}
              - main.close_range: {first: 0, flags: 12, error: EINVAL}

            """)
        guard case .table(.close(let fd)) = parsed[0].operation,
              case .table(.closeRange(let f1, let l1, let flags1)) = parsed[1].operation,
              case .table(.closeRange(let f2, let l2, let flags2)) = parsed[2].operation,
              case .table(.closeRange(let f3, let l3, _)) = parsed[3].operation,
              case .table(.closeRange(_, _, let raw)) = parsed[4].operation else {
            Issue.record("wrong actions")
            return
        }
        #expect(fd == .number(7))
        #expect(f1 == 3 && l1 == UInt32.max && flags1 == 0)
        #expect(f2 == 3 && l2 == 10 && flags2 == Linux.CLOSE_RANGE_CLOEXEC | Linux.CLOSE_RANGE_UNSHARE)
        #expect(f3 == 0 && l3 == UInt32.max)
        #expect(raw == 12)
        expectError(stepFailure("  - main.close_range: {first: 0, flags: cloexec}\n"), 3, 41,
                    "expected a list of flags ([cloexec, unshare]) or a raw integer for 'flags', found")
        expectError(stepFailure("  - main.close_range: {first: 0, flags: -1}\n"), 3, 41, "'flags' must be between 0 and 4294967295, found -1")
    }

    @Test func acceptsAnInvertedCloseRangeForTheKernelToRefuse() throws {
        let parsed = try steps("  - main.close_range: {first: 5, last: 4, error: EINVAL}\n")
        guard case .table(.closeRange(let first, let last, _)) = parsed[0].operation else { Issue.record("not close_range"); return }
        #expect(first == 5 && last == 4)
        #expect(parsed[0].expect.error == "EINVAL")
    }

    @Test func exitStatusIsAnArgumentNotAnExpectation() throws {
        let parsed = try steps("""
              - main.fork: {as: c}
              - c.exit: {status: 3}
              - main.wait: {child: c, status: 3}
            """)
        guard case .processes(.exit(let status)) = parsed[1].operation else { Issue.record("not exit"); return }
        #expect(status == 3)
        #expect(parsed[1].expect.status == nil)
        #expect(parsed[2].expect.status == 3)
    }

    /// A child a signal ended is `{signal: NAME}`, never an exit code: a SIGKILL death and exit(137) differ,
    /// as the raw wait statuses the agents report do.
    @Test func aKilledChildsStatusIsItsSignal() throws {
        let parsed = try steps("""
              - main.fork: {as: c}
              - main.pidfd_open: {process: c, as: pf}
              - main.pidfd_send_signal: {pidfd: pf, signal: kill}
              - main.waitid: {pidfd: pf, status: {signal: kill}}
            """)
        #expect(parsed[3].expect.status == Outcome.killed(by: SIGKILL))
        #expect(Outcome.exitStatus(SIGKILL) == Outcome.killed(by: SIGKILL), "WIFSIGNALED")
        #expect(Outcome.exitStatus(137 << 8) == 137, "WIFEXITED, exit(137)")
        #expect(Outcome.exitStatus(SIGKILL) != Outcome.exitStatus(137 << 8))
        #expect(Outcome.describeStatus(Outcome.killed(by: SIGTERM)) == "killed by SIGTERM")
        #expect(Outcome.describeStatus(137) == "status 137")
        expectError(stepFailure("  - main.fork: {as: c}\n  - main.wait: {child: c, status: {signal: stop}}\n"), 4, 44,
                    "unknown value 'stop' for 'signal' in 'status' (expected one of: kill, term)")
        expectError(stepFailure("  - main.fork: {as: c}\n  - main.wait: {child: c, status: {code: 1}}\n"), 4, 35,
                    "expected an exit status (0...255) or {signal: NAME} for 'status'")
    }

    @Test func rejectsBadCloseRange() {
        expectError(stepFailure("  - main.close_range: {first: 5, last: -4}\n"), 3, 40, "'last' must be between 0 and 4294967295")
        expectError(stepFailure("  - main.close_range: {first: -1}\n"), 3, 31, "'first' must be between 0 and 4294967295")
        expectError(stepFailure("  - main.close_range: {last: 4}\n"), 3, 5, "missing required key 'first' in close_range")
        expectError(stepFailure("  - main.close_range: {first: 0, last: end}\n"), 3, 40, "an integer or \"max\" for 'last'")
    }

    /// whence by name, or raw as the kernel takes it (EINVAL past SEEK_HOLE is worth a scenario); a word
    /// that is neither is refused with the words and the raw form.
    @Test func parsesRawWhence() throws {
        let parsed = try steps("""
              - main.lseek: {fd: 3, whence: hole}
              - main.lseek: {fd: 3, whence: 5}
              - main.lseek: {fd: 3, whence: -1}
            """)
        let whences = parsed.compactMap { step -> Int32? in
            guard case .files(.lseek(_, _, let whence)) = step.operation else { return nil }
            return whence
        }
        #expect(whences == [4, 5, -1])
        expectError(stepFailure("  - main.lseek: {fd: 3, whence: seek_end}\n"), 3, 33,
                    "unknown value 'seek_end' for 'whence' (expected one of: set, cur, end, data, hole, or a raw integer)")
        expectError(stepFailure("  - main.lseek: {fd: 3, whence: 4294967296}\n"), 3, 33, "'whence' must be between")
    }

    @Test func parsesLseekReadWrite() throws {
        let parsed = try steps("""
              - main.lseek: {fd: 3}
              - main.lseek: {fd: 3, offset: -2, whence: end}
              - main.read: {fd: 3}
              - main.read: {fd: 3, count: 5, expect: "hello", result: 5}
              - main.write: {fd: 3, data: "héllo"}

            """)
        guard case .files(.lseek(_, let o1, let w1)) = parsed[0].operation, case .files(.lseek(_, let o2, let w2)) = parsed[1].operation,
              case .files(.read(_, let n3)) = parsed[2].operation, case .files(.read(_, let n4)) = parsed[3].operation,
              case .files(.write(let fd, let data)) = parsed[4].operation else {
            Issue.record("wrong actions")
            return
        }
        #expect(o1 == 0 && w1 == Whence.set.linux && o2 == -2 && w2 == Whence.end.linux)
        #expect(n3 == 256 && n4 == 5)
        #expect(parsed[3].expect == Expectation(result: 5, data: Array("hello".utf8)))
        #expect(fd == .number(3) && data == Array("héllo".utf8))
        expectError(stepFailure("  - main.lseek: {fd: 3, whence: start}\n"), 3, 33, "unknown value 'start' for 'whence'", "set, cur, end")
        expectError(stepFailure("  - main.write: {fd: 3}\n"), 3, 5, "missing required key 'data' in write")
    }

    @Test func parsesForkExitWait() throws {
        let parsed = try steps("""
              - main.fork: {as: child}
              - child.exit: {status: 3}
              - main.wait: {child: child, status: 3}

            """)
        guard case .processes(.fork(let name)) = parsed[0].operation, case .processes(.exit(let status)) = parsed[1].operation,
              case .processes(.wait(let child)) = parsed[2].operation else {
            Issue.record("wrong actions")
            return
        }
        #expect(name == "child" && status == 3 && child == "child")
        #expect(parsed[2].expect.status == 3)
        expectError(stepFailure("  - main.exit: {status: 256}\n"), 3, 25, "'status' must be between 0 and 255, found 256")
    }

    @Test func parsesExecArguments() throws {
        let step = try lastStep("""
              - main.socketpair: {as: [sock, other]}
              - main.exec: {args: ["--fd={sock}", "{{literal}}", "{other}", plain, ""]}

            """)
        guard case .processes(.exec(let arguments, _)) = step.operation else {
            Issue.record("not exec")
            return
        }
        #expect(arguments.map(\.parts) == [
            [.text("--fd="), .descriptor("sock")], [.text("{literal}")], [.descriptor("other")], [.text("plain")], [],
        ])
    }

    @Test func rejectsMalformedExecArguments() {
        expectError(stepFailure("  - main.exec: {args: [\"{x\"]}\n"), 3, 24, "unclosed '{'")
        expectError(stepFailure("  - main.exec: {args: [\"x}\"]}\n"), 3, 24, "unmatched '}'")
        expectError(stepFailure("  - main.exec: {args: [\"{3}\"]}\n"), 3, 24, "expected a descriptor name inside {...}")
        expectError(stepFailure("  - main.exec: {args: \"x\"}\n"), 3, 23, "expected a list for 'args'")
    }

    /// The agent passes paths, names, arguments and environment entries to C calls, which end them at a NUL:
    /// "a\0b" opened `a` while the model kept "a\0b", and the run blamed the kernel. Bytes that travel with a
    /// length (data, expectations, abstract names) may hold NULs.
    @Test func rejectsANULInTheTextsACallReadsAsACString() throws {
        let nul = "without NUL bytes"
        expectError(stepFailure("  - main.open: {path: \"a\\0b\", flags: [creat], as: f}\n"), 3, 23, nul, "'path'")
        expectError(stepFailure("  - main.memfd: {name: \"m\\0\", as: m}\n"), 3, 24, nul, "'name'")
        expectError(stepFailure("  - main.bind: {socket: 0, address: {unix: \"s\\0x\"}}\n"), 3, 44, nul, "'unix' path")
        expectError(stepFailure("  - main.exec: {args: [ok, \"x\\0\"]}\n"), 3, 28, nul, "argument")
        expectError(stepFailure("  - main.exec: {env: {\"A\\0\": b}}\n"), 3, 23, nul, "environment variable name")
        expectError(stepFailure("  - main.exec: {env: {A: \"b\\0\"}}\n"), 3, 26, nul, "environment value")
        expectError(stepFailure("  - main.launch: {program: \"sh\\0\"}\n"), 3, 28, nul, "'program'")
        expectError(failure("summary: s\nrequires: {programs: [\"sh\\0\"]}\nsteps:\n  - main.exit:\n"), 2, 23, nul, "program name")
        _ = try steps("""
              - main.socketpair: {type: dgram, as: [a, b]}
              - main.write: {fd: a, data: "\\0\\0"}
              - main.read: {fd: b, count: 2, expect: "\\0\\0"}
              - main.bind: {socket: a, address: {abstract: "x\\0y"}}

            """)
    }

    @Test func parsesSendAndRecv() throws {
        let parsed = try steps("""
              - main.socketpair: {as: [a, b]}
              - main.send: {socket: a}
              - main.send: {socket: a, fds: [0, a, {argv: 1}], data: "x"}
              - main.recv: {socket: b}
              - main.recv: {socket: b, count: 1, room: 3, flags: [cloexec], as: [x, y], expect: "x", received: 2, truncated: false}
              - main.recv: {socket: b, as: [z]}

            """.replacingOccurrences(of: ", {argv: 1}", with: ""))
        guard case .messages(.send(let s1, let fds1, let d1, _)) = parsed[1].operation, case .messages(.send(_, let fds2, let d2, _)) = parsed[2].operation,
              case .messages(.recv(let s3, let c3, let r3, let e3, let n3, _, _)) = parsed[3].operation,
              case .messages(.recv(_, let c4, let r4, let e4, let n4, _, _)) = parsed[4].operation,
              case .messages(.recv(_, _, let r5, _, _, _, _)) = parsed[5].operation else {
            Issue.record("wrong actions")
            return
        }
        #expect(s1 == .name("a") && fds1.isEmpty && d1.isEmpty)
        #expect(fds2 == [.number(0), .name("a")] && d2 == [UInt8(ascii: "x")])
        #expect(s3 == .name("b") && c3 == 256 && r3 == 0 && !e3 && !n3 && parsed[3].binds.isEmpty)
        #expect(c4 == 1 && r4 == 3 && e4 && !n4 && parsed[4].binds == ["x", "y"])
        #expect(parsed[4].expect == Expectation(data: [UInt8(ascii: "x")], received: 2, truncated: false))
        #expect(r5 == 1 && parsed[5].binds == ["z"])
    }

    @Test func parsesPidfdOperations() throws {
        let parsed = try steps("""
              - main.open: {path: data, as: f}
              - main.fork: {as: peer}
              - peer.open: {path: other, as: secret}
              - main.pidfd_open: {process: peer, as: pidfd}
              - main.pidfd_getfd: {process: peer, fd: secret, as: stolen}
              - main.pidfd_getfd: {process: peer, fd: 99, flags: 1, as: none, error: EINVAL}
              - main.pidfd_open: {process: peer, flags: [nonblock], as: nb}
              - main.pidfd_open: {process: peer, flags: 1, error: EINVAL}

            """)
        guard case .processes(.pidfdOpen(let target, let flags)) = parsed[3].operation,
              case .processes(.pidfdOpen(_, let nonblocking)) = parsed[6].operation,
              case .processes(.pidfdOpen(_, let raw)) = parsed[7].operation,
              case .processes(.pidfdGetfd(let t4, let fd4, let f4)) = parsed[4].operation,
              case .processes(.pidfdGetfd(_, let fd5, let f5)) = parsed[5].operation else {
            Issue.record("wrong actions")
            return
        }
        #expect(target == "peer" && flags == 0 && parsed[3].binds == ["pidfd"])
        #expect(nonblocking == Linux.PIDFD_NONBLOCK && raw == 1)
        #expect(t4 == "peer" && fd4 == .name("secret") && f4 == 0 && parsed[4].binds == ["stolen"])
        #expect(fd5 == .number(99) && f5 == 1)
    }

    @Test func parsesExpectations() throws {
        let parsed = try steps("""
              - main.close: {fd: 99, error: EBADF}
              - main.read: {fd: 0, error: EWOULDBLOCK}
              - main.write: {fd: 1, data: "", result: 0}

            """)
        #expect(parsed[0].expect == Expectation(error: "EBADF"))
        #expect(parsed[1].expect == Expectation(error: "EAGAIN"))
        #expect(parsed[2].expect == Expectation(result: 0))
    }

    @Test func rejectsBadExpectations() {
        expectError(stepFailure("  - main.close: {fd: 9, error: EBAD}\n"), 3, 32, "unknown errno name 'EBAD'")
        expectError(stepFailure("  - main.close: {fd: 9, error: EBADF, result: -1}\n"), 3, 47, "'result' cannot be combined with 'error'")
        expectError(stepFailure("  - main.close: {fd: 9, expect: x}\n"), 3, 25, "unknown key 'expect' in close")
        expectError(stepFailure("  - main.read: {fd: 9, received: 1}\n"), 3, 24, "unknown key 'received' in read")
        expectError(stepFailure("  - main.recv: {socket: 9, truncated: maybe}\n"), 3, 39, "expected true or false for 'truncated'")
        expectError(stepFailure("  - main.exit: {status: 1, status: 2}\n"), 3, 28, "duplicate key 'status'")
        // Spelled differently (quoted), still named at its second occurrence rather than at the mapping.
        expectError(stepFailure("  - main.exit: {status: 1, \"status\": 2}\n"), 3, 28, "duplicate key 'status'")
        expectError(failure("summary: s\n'summary': t\nsteps: [main.exit: {}]\n"), 2, 1, "duplicate key 'summary'")
    }

    @Test func parsesChecks() throws {
        let parsed = try steps("""
              - main.open: {path: data, as: f}
              - main.dup: {fd: f, as: g}
              - main.fork: {as: peer}
              - check:
                  same: [main.f, main.g, peer.f]
                  different: [main.f, main.0]
                  offset: {main.f: 0}
                  cloexec: {peer.g: false}
                  flags: {main.f: [append], main.g: []}
                  open: {main: [0, 1, 2, f, g], peer: [f, g]}
                  number: {main.f: 3}

            """)
        #expect(parsed[3].location.line == 6 && parsed[3].location.column == 5)
        guard case .check(let check) = parsed[3].action else {
            Issue.record("not a check")
            return
        }
        let mainF = QualifiedDescriptor(process: "main", descriptor: .name("f"))
        let mainG = QualifiedDescriptor(process: "main", descriptor: .name("g"))
        let peerG = QualifiedDescriptor(process: "peer", descriptor: .name("g"))
        #expect(check.same == [mainF, mainG, QualifiedDescriptor(process: "peer", descriptor: .name("f"))])
        #expect(check.different == [mainF, QualifiedDescriptor(process: "main", descriptor: .number(0))])
        #expect(check.offsets == [mainF: 0])
        #expect(check.closeOnExec == [peerG: false])
        #expect(check.flags == [mainF: [.append], mainG: []])
        #expect(check.open == ["main": [.number(0), .number(1), .number(2), .name("f"), .name("g")], "peer": [.name("f"), .name("g")]])
        #expect(check.numbers == [mainF: 3])
    }

    @Test func rejectsBadChecks() {
        expectError(stepFailure("  - check: {}\n"), 3, 5, "check needs at least one of: same, different, offset, cloexec, flags, open, number")
        expectError(stepFailure("  - check:\n"), 3, 5, "check needs at least one of")
        expectError(stepFailure("  - check: {same: [main.0]}\n"), 3, 19, "at least 2 descriptors, found 1")
        expectError(stepFailure("  - check: {same: [main.0, stdin]}\n"), 3, 28, "PROCESS.NAME or PROCESS.NUMBER", "\"stdin\"")
        expectError(stepFailure("  - check: {offset: {main.0: x}}\n"), 3, 30, "expected an integer for the offset of main.0")
        expectError(stepFailure("  - check: {size: {main.0: 1}}\n"), 3, 13, "unknown key 'size' in check")
        expectError(stepFailure("  - check: {same: [main.0, main.1], error: EBADF}\n"), 3, 37, "unknown key 'error' in check")
        // An empty mapping checks nothing: it passed, whatever the tables held.
        expectError(stepFailure("  - check: {number: {}, cloexec: {main.0: false}}\n"), 3, 21, "'number' is empty, so it checks nothing (name at least a descriptor)")
        expectError(stepFailure("  - check: {cloexec: {}}\n"), 3, 22, "is empty, so it checks nothing")
        expectError(stepFailure("  - check: {fdinfo: {main.0: {}}}\n"), 3, 30, "the fdinfo fields of main.0 is empty", "name at least a field")
        expectError(stepFailure("  - check: {open: {}}\n"), 3, 19, "is empty, so it checks nothing (name at least a process)")
        expectError(stepFailure("  - check: {env: {main: {}}}\n"), 3, 25, "the environment of 'main' is empty")
        // An empty list is an assertion (no descriptor open, no status flag), not an empty check.
        #expect(stepFailure("  - check: {open: {main: []}, flags: {main.0: []}}\n") == nil)
    }

    /// epoll_wait expectations that no kernel can meet are the scenario's error, where written (found with
    /// hostile input: they ran and failed as CHECK findings against the kernel).
    @Test func rejectsEpollWaitExpectationsThatCannotHold() {
        let setup = "  - main.epoll_create1: {as: ep}\n  - main.pipe: {as: [r, w]}\n"
        expectError(stepFailure(setup + "  - main.epoll_wait: {epoll: ep, error: EINVAL, ready: []}\n"), 5, 56,
                    "'ready' cannot be combined with 'error'")
        expectError(stepFailure(setup + "  - main.epoll_wait: {epoll: ep, ready: [{fd: r, events: []}]}\n"), 5, 42,
                    "needs at least one event")
        expectError(stepFailure(setup + "  - main.epoll_wait: {epoll: ep, ready: [{fd: -1, events: [in]}]}\n"), 5, 42,
                    "never negative")
        expectError(stepFailure(setup + "  - main.epoll_wait: {epoll: ep, max: 2, result: 3}\n"), 5, 50,
                    "at most max (2)")
        expectError(stepFailure(setup + "  - main.epoll_wait: {epoll: ep, result: 2, ready: [{fd: r, events: [in]}]}\n"), 5, 52,
                    "'ready' lists 1 registrations but 'result' says 2")
        // Longer than max: the registrations the kernel may choose from.
        #expect(stepFailure(setup + "  - main.epoll_wait: {epoll: ep, max: 1, result: 1, ready: [{fd: r, events: [in]}, {fd: w, events: [out]}]}\n") == nil)
        let many = (0..<1025).map { _ in "{fd: r, events: [in]}" }.joined(separator: ", ")
        #expect(stepFailure(setup + "  - main.epoll_wait: {epoll: ep, ready: [\(many)]}\n")?.message.contains("more than 1024") == true)
    }

    @Test func everyExampleInTheDocumentationParses() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/scenarios.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let blocks = text.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        let scenarios = blocks.filter { $0.hasPrefix("summary:") }
        #expect(scenarios.count >= 4)
        for block in scenarios {
            do {
                _ = try ScenarioParser.parseAll(yaml: block, file: "docs/scenarios.md", name: "example")
            } catch {
                Issue.record("\(error)\n\(block)")
            }
        }
    }
}
