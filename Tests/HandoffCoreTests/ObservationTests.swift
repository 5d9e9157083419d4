import Glibc
import Testing
@testable import HandoffCore

// A simulated kernel for the identity partition and the observation cache: each (pid, fd) refers to a
// description; kcmp compares descriptions by a scrambled address (a total order unrelated to numbers, as the
// kernel's obfuscated pointers are), and the flag probe toggles O_NONBLOCK on a description.
final class FakeKernel {
    var files: [pid_t: [Int32: Int]] = [:]
    var flags: [Int: Int32] = [:]
    var pids: [String: pid_t] = [:]
    var kcmpCalls = 0
    var probeCalls = 0
    var denyKcmp = false

    func kcmp(_ pid1: pid_t, _ pid2: pid_t, _ fd1: Int32, _ fd2: Int32) -> Int32 {
        kcmpCalls += 1
        if denyKcmp {
            errno = EPERM
            return -1
        }
        guard let a = files[pid1]?[fd1], let b = files[pid2]?[fd2] else {
            errno = EBADF
            return -1
        }
        let x = Self.address(a)
        let y = Self.address(b)
        return x == y ? 0 : (x < y ? 1 : 2)
    }

    static func address(_ description: Int) -> UInt64 { (UInt64(description) ^ 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9 }

    func probe(_ key: DescriptorKey, _ command: Int32, _ argument: Int32) throws(HarnessError) -> Int32 {
        probeCalls += 1
        guard let description = files[pids[key.process]!]?[key.number] else {
            throw .protocolViolation(process: key.process, detail: "no descriptor \(key.number)")
        }
        if command == F_SETFL { flags[description] = argument }
        return flags[description, default: O_RDONLY]
    }

    /// What /proc would show: every descriptor of one file (same target, inode and mount), so that only kcmp
    /// or the probe can tell descriptions apart.
    func table(_ process: String) -> [Int32: ObservedDescriptor] {
        var table: [Int32: ObservedDescriptor] = [:]
        for (number, _) in files[pids[process]!] ?? [:] {
            table[number] = ObservedDescriptor(number: number, target: "/work/f", position: 0, flags: O_RDONLY, inode: 7,
                                               mountID: 1)
        }
        return table
    }

    func resolver(_ mode: IdentityMode = .auto) -> IdentityResolver {
        var resolver = IdentityResolver(mode: mode)
        resolver.kcmp = { [unowned self] in self.kcmp($0, $1, $2, $3) }
        return resolver
    }

    /// The partition matches the simulated kernel: same group exactly when same description.
    func check(_ groups: [DescriptorKey: Int], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        var descriptionOf: [Int: Int] = [:]
        var groupOf: [Int: Int] = [:]
        var count = 0
        for (process, pid) in pids {
            for (number, description) in files[pid] ?? [:] {
                count += 1
                guard let group = groups[DescriptorKey(process: process, number: number)] else {
                    Issue.record("\(process).\(number) has no group", sourceLocation: sourceLocation)
                    return
                }
                #expect(descriptionOf[group, default: description] == description,
                        "\(process).\(number) joined another description's group", sourceLocation: sourceLocation)
                #expect(groupOf[description, default: group] == group, "\(process).\(number) split from its description",
                        sourceLocation: sourceLocation)
                descriptionOf[group] = description
                groupOf[description] = group
            }
        }
        #expect(groups.count == count, sourceLocation: sourceLocation)
    }
}

private func noHints(_ process: String) -> (Int32) -> DescriptionID? { { _ in nil } }

@Suite struct IdentityPartitionTests {
    /// 2,000 descriptors of one file: 1,000 open file descriptions with one descriptor each, and 1,000
    /// duplicates of one more. Pairwise comparison would take about half a million kcmp calls.
    func bigTable(_ kernel: FakeKernel, pid: pid_t = 1, process: String = "main") {
        kernel.pids[process] = pid
        var table: [Int32: Int] = [:]
        for number in Int32(0)..<1000 { table[number] = 10_000 + Int(number) }
        for number in Int32(1000)..<2000 { table[number] = 1 }
        kernel.files[pid] = table
    }

    @Test func kcmpSortsABucketInNLogNCalls() throws {
        let kernel = FakeKernel()
        bigTable(kernel)
        var resolver = kernel.resolver()
        try resolver.update(dropping: [], placing: ["main"], tables: ["main": kernel.table("main")], pids: kernel.pids,
                            expected: noHints, probe: kernel.probe)
        kernel.check(resolver.groups)
        #expect(kernel.kcmpCalls < 2 * 2000 * 11, "\(kernel.kcmpCalls) kcmp calls for 2,000 descriptors")
        #expect(resolver.decidedBy == "kcmp")
    }

    /// A broken invariant of the partition (here: descriptors of a process the observation has no pid for)
    /// ends the scenario with a harness error naming it; it used to trap the runner (a force unwrap).
    @Test func aProcessWithoutAPidIsAHarnessErrorNotATrap() {
        let kernel = FakeKernel()
        bigTable(kernel)
        var resolver = kernel.resolver()
        do throws(HarnessError) {
            try resolver.update(dropping: [], placing: ["main"], tables: ["main": kernel.table("main")], pids: [:],
                                expected: noHints, probe: kernel.probe)
            Issue.record("placing descriptors of a process without a pid succeeded")
        } catch {
            #expect("\(error)".contains("bookkeeping is inconsistent"), "\(error)")
            #expect("\(error)".contains("main."), "\(error)")
        }
    }

    @Test func aProcessReadAgainCostsAboutOneKcmpPerDescriptorAndSurprisesAreFound() throws {
        let kernel = FakeKernel()
        bigTable(kernel, pid: 1, process: "main")
        bigTable(kernel, pid: 2, process: "child")  // as after fork: the same descriptions in both
        kernel.files[2] = kernel.files[1]
        // The model's expectation: description ids as the simulated kernel has them.
        let model: [String: [Int32: Int]] = ["main": kernel.files[1]!, "child": kernel.files[2]!]
        let expected = { (process: String) -> (Int32) -> DescriptionID? in { model[process]?[$0].map { DescriptionID(raw: $0) } } }
        var resolver = kernel.resolver()
        let tables = ["main": kernel.table("main"), "child": kernel.table("child")]
        try resolver.update(dropping: [], placing: ["main", "child"], tables: tables, pids: kernel.pids,
                            expected: expected, probe: kernel.probe)
        kernel.check(resolver.groups)

        // Nothing changed: the child read again is checked against main's groups, one kcmp per descriptor.
        kernel.kcmpCalls = 0
        try resolver.update(dropping: ["child"], placing: ["child"], tables: tables, pids: kernel.pids,
                            expected: expected, probe: kernel.probe)
        kernel.check(resolver.groups)
        #expect(kernel.kcmpCalls <= 2000 + 50, "\(kernel.kcmpCalls)")

        // Behind the model's back: child's 5 now refers to a new description of the same file, and child's
        // 1500 to 7's description (as a dup2 would do). The model's hints are now wrong; kcmp is not.
        kernel.files[2]![5] = 99_999
        kernel.files[2]![1500] = kernel.files[2]![7]
        kernel.kcmpCalls = 0
        try resolver.update(dropping: ["child"], placing: ["child"], tables: tables, pids: kernel.pids,
                            expected: expected, probe: kernel.probe)
        kernel.check(resolver.groups)
        #expect(kernel.kcmpCalls < 2000 * 3, "\(kernel.kcmpCalls)")
        let group = { (process: String, number: Int32) in resolver.groups[DescriptorKey(process: process, number: number)] }
        #expect(group("child", 1500) == group("main", 7))
        #expect(group("child", 5) != group("main", 5))

        // Without hints, placing the child again is still O(n log n).
        kernel.kcmpCalls = 0
        try resolver.update(dropping: ["child"], placing: ["child"], tables: tables, pids: kernel.pids,
                            expected: noHints, probe: kernel.probe)
        kernel.check(resolver.groups)
        #expect(kernel.kcmpCalls < 2 * 2000 * 11, "\(kernel.kcmpCalls)")

        // A process that ends leaves no descriptor behind.
        kernel.pids["child"] = nil
        try resolver.update(dropping: ["child"], placing: [], tables: ["main": tables["main"]!], pids: kernel.pids,
                            expected: expected, probe: kernel.probe)
        kernel.check(resolver.groups)
    }

    @Test func theFlagProbeIsNotQuadraticAndRestoresEveryFlag() throws {
        let kernel = FakeKernel()
        kernel.pids = ["main": 1, "child": 2]
        var table: [Int32: Int] = [:]
        for number in Int32(0)..<300 { table[number] = 100 + Int(number) }
        for number in Int32(300)..<400 { table[number] = 1 }
        kernel.files[1] = table
        kernel.files[2] = table
        kernel.files[2]![42] = 7  // the child's own description
        kernel.denyKcmp = true
        let tables = ["main": kernel.table("main"), "child": kernel.table("child")]
        var resolver = kernel.resolver(.auto)
        try resolver.update(dropping: [], placing: ["main", "child"], tables: tables, pids: kernel.pids,
                            expected: noHints, probe: kernel.probe)
        kernel.check(resolver.groups)
        #expect(resolver.decidedBy == "flag-probe")
        // Pairwise, the probe would read every remaining descriptor once per description: about 800 x 300 / 2.
        #expect(kernel.probeCalls < 800 * 300 / 4, "\(kernel.probeCalls) probes")
        #expect(kernel.flags.values.allSatisfy { $0 == O_RDONLY }, "every toggled flag restored")

        // The child read again: checked against main's groups.
        kernel.probeCalls = 0
        kernel.files[2]![43] = kernel.files[2]![44]
        try resolver.update(dropping: ["child"], placing: ["child"], tables: tables, pids: kernel.pids,
                            expected: noHints, probe: kernel.probe)
        kernel.check(resolver.groups)
        #expect(kernel.flags.values.allSatisfy { $0 == O_RDONLY })

        var strict = kernel.resolver(.kcmp)
        #expect(throws: HarnessError.self) {
            try strict.update(dropping: [], placing: ["main"], tables: tables, pids: kernel.pids, expected: noHints,
                              probe: kernel.probe)
        }
    }
}

extension IdentityPartitionTests {
    @Test func theFlagProbeFollowingTheModelIsNearLinearAndStillFindsSurprises() throws {
        let kernel = FakeKernel()
        kernel.pids = ["main": 1, "child": 2]
        var table: [Int32: Int] = [:]
        for number in Int32(0)..<400 { table[number] = 100 + Int(number) }
        for number in Int32(400)..<600 { table[number] = 1 }
        kernel.files[1] = table
        kernel.files[2] = table
        let model: [String: [Int32: Int]] = ["main": table, "child": table]
        let expected = { (process: String) -> (Int32) -> DescriptionID? in { model[process]?[$0].map { DescriptionID(raw: $0) } } }
        let tables = ["main": kernel.table("main"), "child": kernel.table("child")]
        var resolver = kernel.resolver(.probe)
        try resolver.update(dropping: [], placing: ["main", "child"], tables: tables, pids: kernel.pids,
                            expected: expected, probe: kernel.probe)
        kernel.check(resolver.groups)
        // 401 descriptions verified distinct in 9 rounds, the copies checked against their leader.
        #expect(kernel.probeCalls < 1200 * 20, "\(kernel.probeCalls) probes")

        kernel.probeCalls = 0
        try resolver.update(dropping: ["child"], placing: ["child"], tables: tables, pids: kernel.pids,
                            expected: expected, probe: kernel.probe)
        kernel.check(resolver.groups)
        #expect(kernel.probeCalls < 600 * 6, "\(kernel.probeCalls) probes")

        // Behind the model's back, in main (which alone holds its descriptions once the child is gone).
        kernel.pids["child"] = nil
        try resolver.update(dropping: ["child"], placing: [], tables: ["main": tables["main"]!], pids: kernel.pids,
                            expected: expected, probe: kernel.probe)
        kernel.files[1]![5] = 99_999
        kernel.files[1]![150] = kernel.files[1]![7]
        kernel.files[1]![450] = 3
        try resolver.update(dropping: ["main"], placing: ["main"], tables: ["main": tables["main"]!], pids: kernel.pids,
                            expected: expected, probe: kernel.probe)
        kernel.check(resolver.groups)
        #expect(kernel.flags.values.allSatisfy { $0 == O_RDONLY }, "every toggled flag restored")
    }
}

@Suite struct ObservationCacheTests {
    /// The simulated kernel follows the model: each descriptor refers to its model description, /proc shows
    /// the description's offset and flags.
    final class World {
        var model = ReferenceModel(root: "main", nofileLimit: 1024)
        let kernel = FakeKernel()
        var cache = ObservationCache()
        var identity: IdentityResolver
        var reads: [String] = []
        var hidden: [String: Set<Int32>] = [:]

        init() {
            identity = kernel.resolver()
            kernel.pids = ["main": 1]
            cache.read = { [unowned self] pid, _ in
                let name = kernel.pids.first { $0.value == pid }!.key
                reads.append(name)
                var table: [Int32: ObservedDescriptor] = [:]
                for (number, entry) in model.table(of: name) {
                    let description = model.description(entry.description)
                    table[number] = ObservedDescriptor(number: number, target: "/work/f", position: description.offset ?? 0,
                                                       flags: entry.closeOnExec ? O_CLOEXEC : 0, inode: 7, mountID: 1)
                }
                return table
            }
            follow()
        }

        func apply(_ operation: Operation, by process: String = "main") -> Outcome {
            let outcome = model.apply(operation, by: process)
            follow()
            return outcome
        }

        /// The simulated kernel does what the model says.
        func follow() {
            for name in model.processNames {
                guard model.state(of: name) == .running else {
                    kernel.pids[name] = nil
                    continue
                }
                if kernel.pids[name] == nil { kernel.pids[name] = pid_t(model.processNames.firstIndex(of: name)! + 1) }
                kernel.files[kernel.pids[name]!] = model.table(of: name).mapValues(\.description.raw)
            }
        }

        /// Observes after a step by `touched`; returns the processes read.
        func observe(touched: Set<String>) throws -> [String] {
            reads = []
            let processes = model.processNames.filter { model.state(of: $0) == .running }.map { name in
                ObservationCache.Process(name: name, pid: kernel.pids[name]!, hidden: hidden[name] ?? [],
                                         hasExited: { false }, endReason: { "" }, hasEnded: { false })
            }
            let observation = try cache.observe(processes, model: model, touched: touched, identity: &identity,
                                                probe: kernel.probe)
            #expect(Set(observation.tables.keys) == Set(processes.map(\.name)))
            kernel.check(observation.groups)
            return reads.sorted()
        }
    }

    @Test func onlyWhatAStepCanHaveChangedIsReadAgain() throws {
        let world = World()
        #expect(try world.observe(touched: []) == ["main"])
        let file = world.apply(.open(path: "f", flags: [.rdwr, .creat], mode: 0o644)).fds[0]
        #expect(try world.observe(touched: ["main"]) == ["main"])
        _ = world.apply(.fork(child: "child"))
        #expect(try world.observe(touched: ["main"]) == ["child", "main"])
        // A pipe in main: the child's table is untouched.
        _ = world.apply(.pipe(closeOnExec: false, nonBlocking: false))
        #expect(try world.observe(touched: ["main"]) == ["main"])
        // A step by the child that changes nothing in the model: the child is read (the kernel could differ
        // there), main is not.
        _ = world.apply(.fcntl(fd: file, command: .getfd), by: "child")
        #expect(try world.observe(touched: ["child"]) == ["child"])
        // A write through main's copy moves the offset of the description the child shares: both read.
        _ = world.apply(.write(fd: file, data: Array("abc".utf8)))
        #expect(try world.observe(touched: ["main"]) == ["child", "main"])
        // An injected fault in the child (touched) while main acted.
        #expect(try world.observe(touched: ["child"]) == ["child"])
        // Nothing at all: nothing read, the observation is the previous one.
        #expect(try world.observe(touched: []) == [])
        // Another control channel hidden in the child's table (a table sharer came or went).
        world.hidden["child"] = [1000]
        #expect(try world.observe(touched: []) == ["child"])
        // The child ends: dropped, and its descriptors leave the partition.
        _ = world.apply(.exit(status: 0), by: "child")
        #expect(try world.observe(touched: ["child"]) == [])
        #expect(world.identity.groups.keys.allSatisfy { $0.process == "main" })
    }
}

/// The cache on the real kernel, over big tables. Serialized: spawns process trees.
@Suite(.serialized, .leavesNoChildren) struct BigTableObservationTests {
    /// About 2,000 descriptors: main holds 500 open file descriptions of one file (one descriptor each, above
    /// the control channel) and 500 duplicates of another, then forks the bystander; afterwards only main acts.
    static let bigTable = """
        summary: big tables, one process acting
        steps:
          - main.setrlimit: {nofile: 4096}
          - main.open: {path: f, flags: [rdwr, creat], as: f}
          - repeat:
              count: 500
              steps:
                - main.open: {path: f, flags: [rdonly], as: x}
                - main.fcntl: {fd: x, cmd: dupfd, min: 1024}
                - main.close: {fd: x}
          - repeat:
              count: 500
              steps:
                - main.fcntl: {fd: f, cmd: dupfd, min: 1024}
          - main.fork: {as: bystander}
          - main.pipe: {as: [r, w]}
          - main.write: {fd: w, data: "ab"}
          - main.close: {fd: r}
          - main.close: {fd: w}
        """

    @Test func anUnchangedProcessIsNotReadAgain() throws {
        ObservationCache.readLog.start()
        let result = run(try scenario(Self.bigTable))
        let reads = ObservationCache.readLog.stop()
        #expect(result.status == .pass, "\(result.diff)")
        #expect(result.steps.count == 9)
        // main: at the start and after each of its 9 steps; the bystander: once, when it appears. (A name no
        // other test uses, should tests run in parallel.)
        #expect(reads.filter { $0 == "main" }.count >= 10, "\(reads)")
        #expect(reads.filter { $0 == "bystander" }.count == 1, "\(reads)")
    }

    /// Faults injected into the bystander, which does not act and whose table the model says is unchanged, are
    /// still found: the target of an injection is read again.
    @Test(arguments: [
        // Two of the 500 descriptions swapped for one: same file, offset and flags, only kcmp can tell.
        (Injection.Fault.operation(.dup2(fd: 1030, target: 1500)), FindingKind.identity, "1500"),
        (.operation(.open(path: "f", flags: [.rdonly], mode: 0)), .leak, "x (4)"),  // x: the loop's last name for 4
        (.operation(.close(fd: 2000)), .missing, "2000"),
        (.operation(.fcntl(fd: 1100, command: .setfd(closeOnExec: true))), .cloexec, "1100"),
    ])
    func aFaultInAProcessThatDidNotActIsFound(fault: Injection.Fault, kind: FindingKind, descriptor: String) throws {
        let result = run(try scenario(Self.bigTable), injections: [Injection(afterStep: 7, process: "bystander", fault: fault)])
        #expect(result.status == .fail)
        let finding = try #require(result.findings.first { $0.kind == kind && $0.process == "bystander" }, "\(result.diff)")
        #expect(finding.operation == "main.write")
        #expect(finding.descriptor == descriptor)
        #expect(result.steps.count == 7, "the run stops at the first divergence")
    }
}
