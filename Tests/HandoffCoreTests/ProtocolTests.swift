import Foundation
import HandoffCore
import HandoffProtocol
import Testing

/// One sample of every operation, as an agent receives it: every field set to something other than its
/// default, so that a field the encoder forgets or the decoder misreads shows.
func sampleWireOperation(_ kind: OperationKind) -> HandoffProtocol.Operation<WireNaming> {
    let target = ProcessHandle(pid: 4242, channel: 1023)
    // By family, each switch exhaustive: a new operation without a sample does not compile.
    switch kind {
    case .files(let kind):
        switch kind {
        case .open: return .open(path: "dir/data", flags: [.rdwr, .creat, .cloexec, .append], mode: 0o600)
        case .memfd: return .memfd(name: "shared", closeOnExec: true, allowSealing: true)
        case .lseek: return .lseek(fd: 3, offset: -2, whence: .end)
        case .read: return .read(fd: 3, count: 17)
        case .write: return .write(fd: 3, data: Array("hello\n\0".utf8))
        case .pread: return .pread(fd: 3, count: 9, offset: 1 << 33)
        case .pwrite: return .pwrite(fd: 3, data: [0x61, 0x0A, 0xFF], offset: 1 << 33)
        case .reopen: return .reopen(target: target, fd: 4, flags: [.wronly])
        case .ftruncate: return .ftruncate(fd: 4, length: 4096)
        case .mkfifo: return .mkfifo(path: "fifo", mode: 0o600)
        }
    case .table(let kind):
        switch kind {
        case .dup: return .dup(fd: 3)
        case .dup2: return .dup2(fd: 3, target: 9)
        case .dup3: return .dup3(fd: 3, target: 9, flags: Linux.O_CLOEXEC)
        case .fcntl: return .fcntl(fd: 4, command: .dupfdCloexec(minimum: 10))
        case .ioctl: return .ioctl(fd: 4, request: .fionbio(true))
        case .close: return .close(fd: 12)
        case .closeRange: return .closeRange(first: 3, last: UInt32.max, flags: Linux.CLOSE_RANGE_CLOEXEC | Linux.CLOSE_RANGE_UNSHARE)
        case .unshareFiles: return .unshareFiles
        case .dupfdQuery: return .dupfdQuery(fd: 3, other: 7)
        }
    case .sockets(let kind):
        switch kind {
        case .socketpair: return .socketpair(type: .seqpacket, closeOnExec: true, nonBlocking: false)
        case .shutdown: return .shutdown(socket: 4, how: .write)
        case .unixGC: return .unixGC
        case .listen: return .listen(address: .abstract(name: "svc"), type: .dgram, closeOnExec: true, nonBlocking: true, backlog: 5)
        case .connect: return .connect(address: .unix(path: "svc.sock"), type: .seqpacket, closeOnExec: false, nonBlocking: true)
        case .accept: return .accept(socket: 4, closeOnExec: true, nonBlocking: false)
        case .setsockopt: return .setsockopt(socket: 5, option: .peekOff, value: -1)
        case .getsockopt: return .getsockopt(socket: 5, option: .peerpidfd)
        case .unshareNet: return .unshareNet
        case .socket: return .socket(type: .seqpacket, closeOnExec: true, nonBlocking: false)
        case .bind: return .bind(socket: 5, address: .abstract(name: "svc"))
        case .sendto: return .sendto(socket: 5, address: .unix(path: "peer.sock"), fds: [3, 3, 7], data: Array("hi".utf8))
        case .recvfrom: return .recvfrom(socket: 6, count: 12, room: 3, closeOnExec: true, nonBlocking: true)
        }
    case .messages(let kind):
        switch kind {
        case .send: return .send(socket: 4, fds: [3, 3, 5], data: Array("x".utf8), flags: [.oob])
        case .recv: return .recv(socket: 5, count: 100, room: 253, closeOnExec: true, nonBlocking: true,
                                 flags: [.peek, .trunc, .waitall], control: 20)
        case .sendHeaders: return .sendHeaders(socket: 5, fds: [3, 4, 3], headers: [2, 0, 1], cmsgLength: nil, data: [0x78])
        }
    case .events(let kind):
        switch kind {
        case .pipe: return .pipe(closeOnExec: true, nonBlocking: true)
        case .eventfd: return .eventfd(initial: 7, closeOnExec: false, nonBlocking: true)
        case .epollCreate: return .epollCreate(closeOnExec: true)
        case .epollCtl: return .epollCtl(epoll: 5, op: .mod, fd: 6, events: [.in, .et])
        case .epollWait: return .epollWait(epoll: 5, maxEvents: 8, timeout: 250)
        case .poll: return .poll(fd: 4, events: [.in, .rdhup], timeout: 2000)
        case .signalfd: return .signalfd(mask: [.usr1, .term], closeOnExec: true, nonBlocking: true)
        case .timerfdCreate: return .timerfdCreate(clock: .boottime, closeOnExec: false, nonBlocking: true)
        case .inotifyInit: return .inotifyInit(closeOnExec: true, nonBlocking: false)
        }
    case .processes(let kind):
        switch kind {
        case .pidfdSendSignal: return .pidfdSendSignal(pidfd: 5, signal: .term)
        case .waitid: return .waitid(pidfd: 5, noHang: true)
        case .fork: return .fork(child: .new)
        case .exec: return .exec(arguments: ["--fd=3", "two words"], environment: [EnvironmentVariable(name: "A", value: "b=c")])
        case .exit: return .exit(status: 3)
        case .wait: return .wait(child: ProcessHandle(pid: 4242))
        case .pidfdOpen: return .pidfdOpen(target: ProcessHandle(pid: 4242))
        case .pidfdGetfd: return .pidfdGetfd(target: target, fd: 3, flags: 0)
        case .setrlimit: return .setrlimit(nofile: 64)
        case .dropCapability: return .dropCapability(name: "CAP_SYS_PTRACE")
        case .setDumpable: return .setDumpable(true)
        case .cloneFiles: return .cloneFiles(child: .new)
        case .launch:
            return .launch(program: "/usr/bin/true", arguments: ["-l", "x"], environment: [EnvironmentVariable(name: "K", value: "v")],
                           listen: [], acceptMode: false, handover: .listenFDs)
        case .attach: return .attach(child: .new)
        }
    }
}

@Suite struct ProtocolTests {
    @Test(arguments: OperationKind.allCases.filter { $0 != .attach })
    func everyOperationRoundTrips(_ kind: OperationKind) throws {
        let operation = sampleWireOperation(kind)
        let packet = AgentRequest.perform(operation, hidden: [1022]).encoded().encoded()
        let message = try #require(WireMessage.decode(packet))
        #expect(message.verb == kind.keyword)
        let decoded = AgentRequest.decode(message)
        #expect(decoded == .success(.perform(operation, hidden: [1022])))
    }

    @Test func attachIsNeverSentToAnAgent() {
        if case .success = AgentRequest.decode(sampleWireOperation(.attach).encoded()) { Issue.record("attach decoded") }
    }

    /// docs/protocol.md lists every field each encoder writes: the contract for agents in other languages.
    @Test(arguments: OperationKind.allCases.filter { $0 != .attach })
    func everyFieldIsDocumented(_ kind: OperationKind) throws {
        let docs = try String(contentsOfFile: packageRoot + "/docs/protocol.md", encoding: .utf8)
        let row = try #require(docs.split(separator: "\n").first { $0.hasPrefix("| `\(kind.keyword)` |") },
                               "docs/protocol.md has no row for \(kind.keyword)")
        // The second column: field names in backticks, separated by spaces.
        let documented = Set(row.split(separator: "|")[1].split(whereSeparator: { " `(),".contains($0) }).map(String.init))
        for field in sampleWireOperation(kind).encoded().fields {
            #expect(documented.contains(field.key), "field '\(field.key)' of \(kind.keyword) is not in docs/protocol.md")
        }
    }

    @Test func malformedRequestsAreRefusedWithTheField() {
        func reason(_ text: String) -> String? {
            guard let message = WireMessage.decode(Array(text.utf8)) else { return "unparsable" }
            if case .failure(let error) = AgentRequest.decode(message) { return error.reason }
            return nil
        }
        #expect(reason("dup") == "dup: missing field 'fd'")
        #expect(reason("dup fd=x") == "dup: malformed field 'fd'")
        #expect(reason("fcntl fd=3 cmd=999") == "fcntl: malformed field 'cmd'")
        #expect(reason("read fd=3 count=3000000000") == "read: malformed field 'count'")
        #expect(reason("recv fd=3 count=1 room=100000 flags=0") == "recv: malformed field 'room'")
        #expect(reason("frobnicate") == "unknown verb frobnicate")
        #expect(reason("hello pid=1") == "hello is sent by agents, not to them")
        #expect(reason("dup fd=3") == nil)
    }

    @Test func loopsCarrySlotsOutputsAndExpectedErrno() throws {
        let steps = [
            LoopStep(operation: .dup(fd: .number(3)), outputs: [0], expectedErrno: 0),
            LoopStep(operation: .send(socket: .number(4), fds: [.slot(0), .number(3)], data: [1]), outputs: [], expectedErrno: 0),
            LoopStep(operation: .close(fd: .slot(0)), outputs: [], expectedErrno: Linux.EBADF),
        ]
        let request = AgentRequest.loop(count: 1000, steps: steps, hidden: [])
        let message = try #require(WireMessage.decode(request.encoded().encoded()))
        #expect(AgentRequest.decode(message) == .success(request))
        // A slot beyond the agent's slots is refused, not indexed.
        let outOfRange = AgentRequest.loop(count: 1, steps: [LoopStep(operation: .close(fd: .slot(64)))], hidden: [])
        #expect(AgentRequest.decode(outOfRange.encoded()) != .success(outOfRange))
    }

    @Test func answersHelloAndLoopAnswersRoundTrip() throws {
        let answer = Answer(result: 5, errno: 0, fds: [6, 7], data: [0, 255], messageFlags: Linux.MSG_CTRUNC, waitStatus: 256,
                            nanoseconds: 1234, movedControl: 1024, port: 40000)
        #expect(Answer.decode(answer.encoded()) == .success(answer))
        // epoll_wait's registrations: data and events (EPOLLET's bit too, as a negative Int32 on the wire).
        var waited = Answer(result: 2)
        waited.ready = [ReadyRegistration(fd: 9, events: Linux.EPOLLIN | Linux.EPOLLHUP), ReadyRegistration(fd: 4, events: 1 << 31)]
        #expect(Answer.decode(waited.encoded()) == .success(waited))
        waited = Answer(result: 0)
        waited.ready = []
        #expect(Answer.decode(waited.encoded()) == .success(waited))
        var odd = Answer(result: 1).encoded()
        odd.set("ready", ints: [4])
        #expect(Answer.decode(odd) != .success(Answer(result: 1)), "a registration without its events is malformed")
        var miscounted = Answer(result: 2)
        miscounted.ready = [ReadyRegistration(fd: 4, events: Linux.EPOLLIN)]
        #expect(Answer.decode(miscounted.encoded()) != .success(miscounted), "a count that is not the list's length is malformed")
        let hello = Hello(pid: 10, parent: 9, control: 1023, nofile: 1024, arguments: ["3", "x y"], environment: ["A=b"],
                          implementation: "swift", unsupported: [.cloneFiles, .launch])
        #expect(Hello.decode(hello.encoded()) == .success(hello))
        var old = hello.encoded()
        old.fields.removeAll { $0.key == "version" }
        #expect(Hello.decode(old) != .success(hello), "a hello without a version is a version-1 agent: refused")
        let loop = LoopAnswer(iterations: 3, failures: 1, firstFailure: "iteration 2, step 1: errno 9, expected 0",
                              wallNanoseconds: 99, histograms: [[(bucket: 40, count: 2), (bucket: 41, count: 1)], []],
                              slots: [5, -1])
        #expect(LoopAnswer.decode(loop.encoded()) == .success(loop))
        #expect(Answer.decode(badAnswer("no such thing")) == .failure(ProtocolError("the agent refused the request: no such thing")))
    }
}

@Suite struct DeclarationTests {
    @Test func keywordsAndKeysAreUnique() {
        let keywords = OperationKind.allCases.map(\.keyword)
        #expect(Set(keywords).count == keywords.count)
        for kind in OperationKind.allCases {
            let keys = kind.declaration.keys
            #expect(Set(keys).count == keys.count, "\(kind.keyword) declares a key twice: \(keys)")
        }
    }

    @Test func needsAreProbeable() {
        for kind in OperationKind.allCases {
            for syscall in kind.declaration.needs.syscalls {
                #expect(SystemProbe.knownSyscalls.contains(syscall), "\(kind.keyword) needs \(syscall), which no probe knows")
            }
        }
    }

    /// The table in docs/scenarios.md is the declarations, rendered.
    @Test func docsTableMatchesTheDeclarations() throws {
        let docs = try String(contentsOfFile: packageRoot + "/docs/scenarios.md", encoding: .utf8)
        let begin = try #require(docs.range(of: OperationReference.begin))
        let end = try #require(docs.range(of: OperationReference.end))
        let table = docs[begin.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(table == OperationReference.markdownTable(),
                "docs/scenarios.md is stale: regenerate with `handoff operations --markdown`")
        for kind in OperationKind.allCases {
            #expect(docs.contains("### \(kind.keyword)") || docs.contains(", \(kind.keyword)"),
                    "docs/scenarios.md has no section for \(kind.keyword)")
        }
    }

    /// What the parser accepts is what the declaration says, for every operation.
    @Test(arguments: OperationKind.allCases)
    func parserRejectsKeysTheDeclarationDoesNotHave(_ kind: OperationKind) {
        let yaml = "summary: s\nsteps:\n  - main.\(kind.keyword): {nonsense: 1}\n"
        #expect {
            _ = try ScenarioParser.parse(yaml: yaml, file: "x.yaml", name: "x")
        } throws: { error in
            "\(error)".contains("unknown key 'nonsense' in \(kind.keyword) (expected one of: "
                + (kind.declaration.keys + (kind.declaration.background ? ["background"] : [])).joined(separator: ", "))
        }
    }
}
