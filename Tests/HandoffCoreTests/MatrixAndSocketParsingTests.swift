import Testing
@testable import HandoffCore

/// `matrix:`, the socket operations with addresses, limits, capabilities, shared tables, exec environments.
@Suite struct MatrixAndSocketParsingTests {
    static let matrixScenario = """
        summary: one per socket type
        matrix: {type: [stream, dgram, seqpacket], cloexec: [true, false]}
        steps:
          - main.socketpair: {type: "${type}", as: [a, b]}
          - check: {cloexec: {main.a: ${cloexec}}}
        """

    @Test func aMatrixExpandsToOneNamedCasePerCombination() throws {
        let cases = try ScenarioParser.parseAll(yaml: Self.matrixScenario, file: "m.yaml", name: "scm/basic")
        #expect(cases.map(\.name) == [
            "scm/basic[type=stream,cloexec=true]", "scm/basic[type=stream,cloexec=false]",
            "scm/basic[type=dgram,cloexec=true]", "scm/basic[type=dgram,cloexec=false]",
            "scm/basic[type=seqpacket,cloexec=true]", "scm/basic[type=seqpacket,cloexec=false]",
        ])
        guard case .sockets(.socketpair(let type, _, _)) = cases[2].steps[0].operation else { Issue.record("not socketpair"); return }
        #expect(type == .dgram)
        #expect(cases[3].steps[1].location.line == 5, "line numbers are the file's")
        #expect(cases[3].parameters.map(\.value) == ["dgram", "false"])
        #expect(cases[1].steps.count == 2)
    }

    @Test func aScenarioWithoutMatrixIsOneCase() throws {
        let cases = try ScenarioParser.parseAll(yaml: "summary: s\nsteps:\n  - main.pipe: {as: [r, w]}\n", file: "m.yaml",
                                                name: "plain")
        #expect(cases.map(\.name) == ["plain"])
    }

    /// One pass over the bytes: values go in verbatim (not scanned again), an unclosed `${` is left as it
    /// is, and an error's column counts characters, not bytes.
    @Test func placeholdersAreReplacedInOnePass() throws {
        let values = ["a": "${b}", "b": "B"]
        #expect(Matrix.replacingPlaceholders(in: "x ${a} ${b} ${c} ${a", { values[$0] }) == "x ${b} B ${c} ${a")
        #expect(Matrix.replacingPlaceholders(in: "{a: ${x}}\n${y\n}", { _ in "_p_" }) == "{a: _p_}\n_p_")
        #expect(Matrix.replacingPlaceholders(in: "no placeholders", { _ in "!" }) == "no placeholders")
        do {
            try Matrix.rejectPlaceholders(yaml: "ok: 1\n  é: \"${zz}\"\n", file: "m.yaml", known: ["a"])
            Issue.record("an unknown placeholder was accepted")
        } catch {
            #expect(error.location.line == 2 && error.location.column == 7, "\(error.location)")
        }
        // Not closed on its line: not a placeholder there.
        try Matrix.rejectPlaceholders(yaml: "a: ${open\nb: }\n", file: "m.yaml", known: [])
    }

    @Test func theMatrixWordIsFoundWhereverItIs() {
        #expect(Matrix.mayDeclareMatrix("matrix: {a: [1]}"))
        #expect(Matrix.mayDeclareMatrix("steps: []\nmatrix"))
        #expect(Matrix.mayDeclareMatrix("mmatrix"))
        #expect(Matrix.mayDeclareMatrix("\"m\\x61trix\": {a: [1]}"))  // an escaped key: a backslash
        #expect(!Matrix.mayDeclareMatrix("steps: []\nmatri"))
        #expect(!Matrix.mayDeclareMatrix("matri x: 1"))
        #expect(!Matrix.mayDeclareMatrix(""))
        // A bridged or substring-backed text takes the copying path; the answer is the same.
        #expect(Matrix.mayDeclareMatrix(String("x matrix y".dropFirst(2))))
    }

    @Test func unknownPlaceholdersAndBadMatricesAreErrors() {
        func error(_ yaml: String) -> ScenarioError? {
            do { _ = try ScenarioParser.parseAll(yaml: yaml, file: "m.yaml", name: "m"); return nil } catch { return error }
        }
        let unknown = error("summary: s\nmatrix: {a: [1]}\nsteps:\n  - main.pipe: {as: [r, \"${b}\"]}\n")
        #expect(unknown?.location.line == 4)
        #expect(unknown?.location.column == 26)
        #expect(unknown?.message.contains("unknown placeholder '${b}' (matrix parameters: a)") == true)
        // Malformed YAML elsewhere in a matrix file is that error, at its place (it was "the scenario has no
        // 'matrix'", found porting).
        let malformed = error("summary: a colon: here\nmatrix: {a: [1]}\nsteps:\n  - main.pipe: {as: [r, \"${a}\"]}\n")
        #expect(malformed?.location.line == 1)
        #expect(malformed?.message.contains("malformed YAML: mapping values are not allowed") == true, "\(String(describing: malformed))")
        let noMatrix = error("summary: s\nsteps:\n  - main.pipe: {as: [r, \"${b}\"]}\n")
        #expect(noMatrix?.message.contains("the scenario has no 'matrix'") == true)
        let empty = error("summary: s\nmatrix: {a: []}\nsteps:\n  - main.pipe: {as: [r, w]}\n")
        #expect(empty?.location.line == 2)
        #expect(empty?.message.contains("non-empty list of values for matrix parameter 'a'") == true)
        let notMapping = error("summary: s\nmatrix: [1, 2]\nsteps:\n  - main.pipe: {as: [r, w]}\n")
        #expect(notMapping?.message.contains("expected 'matrix' to map parameter names") == true)
    }

    func steps(_ lines: String) throws(ScenarioError) -> [Step] {
        try ScenarioParser.parse(yaml: "summary: s\nsteps:\n" + lines, file: "t.yaml", name: "t").steps
    }

    func failure(_ lines: String) -> ScenarioError? {
        do { _ = try steps(lines); return nil } catch { return error }
    }

    @Test func parsesListenConnectAccept() throws {
        let parsed = try steps("""
              - main.listen: {address: {unix: sock}, type: seqpacket, flags: [cloexec], backlog: 4, as: l}
              - main.listen: {address: {tcp: 0}, as: t}
              - main.listen: {address: {abstract: name}, as: a}
              - main.connect: {address: {tcp: main.t}, flags: [nonblock], as: c}
              - main.accept: {socket: t, flags: [cloexec], as: s}
            """)
        guard case .sockets(.listen(let address, let type, let cloexec, _, let backlog)) = parsed[0].operation else {
            Issue.record("not listen"); return
        }
        #expect(address == .unix("sock") && type == .seqpacket && cloexec && backlog == 4 && parsed[0].binds == ["l"])
        guard case .sockets(.listen(.tcpPort(0), .stream, _, _, 16)) = parsed[1].operation, parsed[1].binds == ["t"] else {
            Issue.record("tcp"); return
        }
        guard case .sockets(.listen(.abstract("name"), _, _, _, _)) = parsed[2].operation, parsed[2].binds == ["a"] else {
            Issue.record("abstract"); return
        }
        guard case .sockets(.connect(.tcpListener(let listener), _, _, true)) = parsed[3].operation, parsed[3].binds == ["c"] else {
            Issue.record("connect"); return
        }
        #expect(listener == QualifiedDescriptor(process: "main", descriptor: .name("t")))
        guard case .sockets(.accept(.name("t"), true, false)) = parsed[4].operation, parsed[4].binds == ["s"] else {
            Issue.record("accept"); return
        }
    }

    @Test func rejectsBadAddresses() {
        #expect(failure("  - main.listen: {address: {tcp: main.x}, as: l}\n")?.message.contains("'tcp' port") == true)
        #expect(failure("  - main.listen: {address: {udp: 1}, as: l}\n")?.message.contains("unknown address kind 'udp'") == true)
        #expect(failure("  - main.listen: {address: {unix: /tmp/x}, as: l}\n")?.message.contains("must be relative") == true)
        // A ".." followed by a slash and a combining mark: one character to Swift, a ".." component to the
        // kernel, which then opened a file above the scenario's directory.
        #expect(failure("  - main.listen: {address: {unix: \"../\\u0338x\"}, as: l}\n")?.message.contains("no '..'") == true)
        #expect(failure("  - main.open: {path: \"../\\u0338x\", flags: [creat, wronly], as: f}\n")?.message.contains("no '..'") == true)
        #expect(failure("  - main.open: {path: \"x/../\\u0338\", flags: [creat, wronly], as: f}\n")?.message.contains("no '..'") == true)
        #expect(failure("  - main.open: {path: \"f/\\u0338x\", flags: [creat, wronly], as: f}\n") == nil)
        let unknownListener = failure("  - main.connect: {address: {tcp: main.nothing}, as: c}\n")
        #expect(unknownListener?.message.contains("unknown descriptor 'nothing' in process 'main'") == true)
        #expect(unknownListener?.location.line == 3)
    }

    @Test func parsesLimitsCapabilitiesDumpableReopenAndSharedTables() throws {
        let parsed = try steps("""
              - main.setrlimit: {nofile: 10}
              - main.drop_capability: {name: CAP_SYS_PTRACE}
              - main.set_dumpable: {value: false}
              - main.open: {path: f, flags: [rdwr, creat], as: f}
              - main.clone_files: {as: twin}
              - twin.reopen: {process: main, fd: f, flags: [rdonly], as: again}
              - check: {same: [main.f, twin.f]}
              - main.close: {fd: again}
              - twin.unshare_files:
            """)
        guard case .processes(.setrlimit(10)) = parsed[0].operation, case .processes(.dropCapability("CAP_SYS_PTRACE")) = parsed[1].operation,
            case .processes(.setDumpable(false)) = parsed[2].operation, case .processes(.cloneFiles("twin")) = parsed[4].operation,
            case .files(.reopen("main", .name("f"), let flags)) = parsed[5].operation, parsed[5].binds == ["again"],
            case .unshareFiles = parsed[8].operation
        else { Issue.record("\(parsed.map(\.action.keyword))"); return }
        #expect(flags == [.rdonly])
    }

    @Test func namesBoundInATableSharedWithCloneFilesAreKnownToBoth() throws {
        _ = try steps("""
              - main.clone_files: {as: twin}
              - twin.pipe: {as: [r, w]}
              - main.close: {fd: r}
            """)
        let separate = failure("""
              - main.fork: {as: child}
              - child.pipe: {as: [r, w]}
              - main.close: {fd: r}
            """)
        #expect(separate?.message.contains("unknown descriptor 'r' in process 'main'") == true)
        let unshared = failure("""
              - main.clone_files: {as: twin}
              - twin.unshare_files:
              - twin.pipe: {as: [r, w]}
              - main.close: {fd: r}
            """)
        #expect(unshared?.message.contains("unknown descriptor 'r' in process 'main'") == true)
    }

    @Test func rejectsUnknownCapabilities() {
        let error = failure("  - main.drop_capability: {name: CAP_NOPE}\n")
        #expect(error?.message.contains("unknown capability \"CAP_NOPE\"") == true)
        #expect(error?.location.column == 34)
    }

    @Test func parsesExecEnvironmentBuiltinsAndEnvironmentChecks() throws {
        let parsed = try steps("""
              - main.pipe: {as: [r, w]}
              - main.exec: {args: ["--fd={w}"], env: {LISTEN_FDS: "1", LISTEN_PID: "{@pid}"}}
              - check: {env: {main: {LISTEN_FDS: "1", LISTEN_PID: "{@pid}", GONE: null}}}
            """)
        guard case .processes(.exec(let arguments, let environment)) = parsed[1].operation else { Issue.record("not exec"); return }
        #expect(arguments == [Template([.text("--fd="), .descriptor("w")])])
        #expect(environment == [EnvironmentVariable(name: "LISTEN_FDS", value: Template([.text("1")])),
                                EnvironmentVariable(name: "LISTEN_PID", value: Template([.builtin(.pid)]))])
        guard case .check(let check) = parsed[2].action else { Issue.record("not check"); return }
        let variables = try #require(check.environment["main"])
        #expect(variables.map(\.name) == ["LISTEN_FDS", "LISTEN_PID", "GONE"])
        #expect(variables[2].value == nil)
        #expect(failure("  - main.exec: {args: [\"{@nope}\"]}\n")?.message.contains("unknown placeholder {@nope}") == true)
        #expect(failure("  - main.exec: {env: {X: \"{missing}\"}}\n")?.message.contains("unknown descriptor 'missing'") == true)
    }
}

@Suite struct BackgroundStepTests {
    func failure(_ lines: String) -> ScenarioError? {
        do { _ = try ScenarioParser.parse(yaml: "summary: s\nsteps:\n" + lines, file: "t.yaml", name: "t"); return nil }
        catch { return error }
    }

    @Test func aBackgroundStepIsAwaitedAndMayWaitForARunningChild() throws {
        let scenario = try ScenarioParser.parse(yaml: """
            summary: s
            steps:
              - main.fork: {as: c}
              - main.wait: {child: c, background: true, status: 0}
              - c.exit:
              - main.await:
            """, file: "t.yaml", name: "t")
        #expect(scenario.steps[1].background)
        #expect(scenario.steps[1].expect.status == 0)
        guard case .await = scenario.steps[3].action else { Issue.record("not await"); return }
    }

    @Test func misuseIsReportedWhereItHappens() {
        let busy = failure("""
              - main.pipe: {as: [r, w]}
              - main.read: {fd: r, count: 1, background: true}
              - main.close: {fd: w}
              - main.await:
            """)
        #expect(busy?.location.line == 5)
        #expect(busy?.message.contains("inside its background 'read' (line 4) until 'main.await'") == true)
        let never = failure("""
              - main.pipe: {as: [r, w]}
              - main.read: {fd: r, count: 1, background: true}
            """)
        #expect(never?.location.line == 4)
        #expect(never?.message.contains("never awaited") == true)
        let nothing = failure("  - main.await:\n")
        #expect(nothing?.message.contains("has no background step to wait for") == true)
        let stillRunning = failure("""
              - main.fork: {as: c}
              - main.wait: {child: c, background: true}
              - main.await:
            """)
        #expect(stillRunning?.message.contains("'c' is still running here") == true)
        let forkInBackground = failure("  - main.fork: {as: c, background: true}\n")
        #expect(forkInBackground?.message.contains("unknown key 'background' in fork") == true)
        let checked = failure("""
              - main.pipe: {as: [r, w]}
              - main.read: {fd: r, count: 1, background: true}
              - check: {open: {main: [r, w]}}
              - main.await:
            """)
        #expect(checked?.message.contains("cannot be checked inside its background 'read'") == true)
    }
}

@Suite struct LauncherValidationTests {
    @Test func aLauncherCannotBeCheckedSinceNothingObservesIt() {
        do {
            _ = try ScenarioParser.parse(yaml: """
                summary: s
                requires: {programs: [systemd-socket-activate]}
                steps:
                  - main.launch: {program: systemd-socket-activate, listen: [{unix: s.sock}]}
                  - check: {env: {main: {LISTEN_FDS: "1"}}}
                """, file: "t.yaml", name: "t")
            Issue.record("a check of a launcher was accepted: it would read the agent's stale environment")
        } catch {
            #expect(error.location.line == 5)
            #expect(error.message.contains("runs a launcher since line 4 and is not observed"))
        }
    }

    @Test func aLaunchMayRunOnlyAProgramTheScenarioRequires() {
        do {
            _ = try ScenarioParser.parse(yaml: """
                summary: s
                requires: {programs: [systemd-socket-activate]}
                steps:
                  - main.launch: {program: sh, listen: [{unix: s.sock}]}
                """, file: "t.yaml", name: "t")
            Issue.record("a launch of a program the scenario does not require was accepted")
        } catch {
            #expect(error.description.hasPrefix("t.yaml:4:28: error: launch runs 'sh', which is not listed under "
                + "'requires: programs'"), "\(error)")
        }
        #expect(throws: Never.self) {
            _ = try ScenarioParser.parse(yaml: """
                summary: s
                requires: {programs: [sh]}
                steps:
                  - main.launch: {program: sh, listen: [{unix: s.sock}]}
                """, file: "t.yaml", name: "t")
        }
    }
}
