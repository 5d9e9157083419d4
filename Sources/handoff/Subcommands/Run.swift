import ArgumentParser
import Foundation
import HandoffCore

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run scenarios and write reports.")

    @OptionGroup var selection: ScenarioSelection

    @Option(help: "Seconds before a scenario's process tree is killed.")
    var timeout: Double = 10

    @Option(help: "Scenarios run in parallel.")
    var jobs: Int = 1

    @Option(help: "Directory for report.json and junit.xml.")
    var report: String = "reports/latest"

    @Option(help: "How descriptor identity is decided: auto (kcmp, else flag probe), kcmp, probe.")
    var identity: IdentityMode = .auto

    @OptionGroup var agentSelection: AgentSelection

    @OptionGroup var sandboxSelection: SandboxSelection

    @Option(help: "What goes to stdout: text (a line per scenario and each failure's diff) or tap (KTAP).")
    var format: OutputFormat = .text

    @Option(help: "Run only shard K of N (K/N, 1-based): a deterministic split; join the reports with `handoff merge`.")
    var shard: String?

    @Flag(help: """
        Exit 0 when nothing is selected (an empty shard, a filter or tag that matches nothing) and write empty \
        reports; the reason is printed all the same. Without it an empty selection is an error (exit 2).
        """)
    var allowEmpty = false
    @Option(help: "Where each scenario's private directory is made (default: $TMPDIR, else /tmp).")
    var workdir: String?

    @Option(name: .customLong("in"), help: """
        Run the suite inside an environment: host, userns, bwrap, runc, crun, runsc (gVisor). handoff builds \
        what it needs, runs itself inside, brings the reports back (the fingerprint is the inside one) and \
        removes everything. A missing runtime: exit 2 with the reason (`make environments` installs them).
        """)
    var environment: String?

    @Option(name: .customLong("seccomp-deny"), help: "With --in runc|crun: these system calls fail with EPERM (comma-separated or repeated).")
    var seccompDeny: [String] = []

    @Option(name: .customLong("drop-cap"), help: "With --in: remove this capability from the bounding set (repeatable, CAP_SYS_PTRACE or sys_ptrace).")
    var dropCapabilities: [String] = []

    @Option(help: "With --in: RLIMIT_NOFILE (soft and hard) for the run inside (runc, crun and runsc default to 1024).")
    var nofile: Int?

    /// Used by --in: the inner run writes its fingerprint (what `handoff env --json` prints) here.
    @Option(name: .customLong("write-env"), help: .hidden)
    var writeEnvironment: String?
    @OptionGroup(title: "Another kernel") var vm: KernelOptions

    /// What the guest of `run --kernel` passes: report.json alone, written into the memory the guest shares
    /// with the host (ReportRegion) instead of --report; the host renders the other formats from it.
    @Flag(name: .customLong("report-to-host"), help: .hidden)
    var reportToHost = false

    var shardNumbers: (index: Int, count: Int)? {
        guard let shard else { return nil }
        let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), Limits.shards.contains(count),
            (1...count).contains(index)
        else { return nil }
        return (index, count)
    }

    func validate() throws {
        try Limits.checkTimeout(timeout)
        try Limits.checkJobs(jobs)
        if shard != nil && shardNumbers == nil {
            throw ValidationError("--shard must be K/N with 1 <= K <= N <= \(Limits.shards.upperBound), e.g. 2/4")
        }
        _ = try runEnvironment()
        try vm.validate(agent: agentSelection.agent, agentEnvironment: agentSelection.agentEnvironment, workdir: workdir)
        if environment != nil && vm.kernel != nil {
            throw ValidationError("--in and --kernel cannot be combined (yet): choose one environment per run")
        }
        // --in and --kernel make their scenario directories elsewhere (and refuse --workdir above).
        if environment == nil && vm.kernel == nil { try Limits.checkWorkDirectory(workdir) }
    }

    /// The validated `--in` options, nil without `--in`.
    func runEnvironment() throws -> RunEnvironment? {
        guard let environment else {
            if !seccompDeny.isEmpty || !dropCapabilities.isEmpty || nofile != nil {
                throw ValidationError("--seccomp-deny, --drop-cap and --nofile apply with --in ENV")
            }
            return nil
        }
        if agentSelection.agent != nil || !agentSelection.agentEnvironment.isEmpty {
            throw ValidationError("--agent and --agent-env cannot be combined with --in (the bundle carries handoff's own agent)")
        }
        if workdir != nil {
            throw ValidationError("--workdir cannot be combined with --in: the run inside uses the environment's /tmp")
        }
        switch RunEnvironment.parse(name: environment, seccompDeny: seccompDeny, dropCapabilities: dropCapabilities, nofile: nofile) {
        case .success(let parsed): return parsed
        case .failure(let error): throw ValidationError(error.description)
        }
    }

    /// The options the run inside gets besides its paths, reports and work directory.
    var innerArguments: [String] {
        var arguments = ["--jobs", "\(jobs)", "--timeout", "\(timeout)", "--identity", identity.rawValue, "--format", format.rawValue,
                         "--sandbox", sandboxSelection.sandbox.rawValue]
        if let filter = selection.filter { arguments.append("--filter=" + filter) }  // "=": a value may start with "-"
        for tag in selection.tags { arguments.append("--tag=" + tag) }
        if let shard { arguments += ["--shard", shard] }
        if allowEmpty { arguments.append("--allow-empty") }
        return arguments
    }

    func run() throws {
        let inside = try runEnvironment()
        // `--in` installs its own handler, which passes the signal on to the run inside.
        if inside == nil, let problem = ActiveRuns.installInterruptHandler(onSignal: { signal in
            printError("handoff: signal \(signal): killing every scenario process")
        }) {
            printError("handoff: \(problem); an interrupt will not clean up")
        }
        var scenarios = try selection.load()
        var whyEmpty = scenarios.isEmpty ? selection.whyEmpty() : nil
        if let (index, count) = shardNumbers {
            let selected = scenarios.count
            scenarios = Suite.shard(scenarios, index: index, count: count)
            if scenarios.isEmpty && whyEmpty == nil {
                whyEmpty = "shard \(index)/\(count) is empty (\(selected) scenario\(selected == 1 ? "" : "s") selected)"
            }
        }
        if let whyEmpty {
            guard allowEmpty else {
                printError("handoff: nothing to run: \(whyEmpty) (--allow-empty accepts an empty selection)")
                throw ExitCode(2)
            }
            printError("handoff: nothing to run: \(whyEmpty); allowed by --allow-empty")
        }
        if let environment = inside {
            try prepareReportDirectory(report)
            RunReport.removeEarlierFiles(in: report)
            try runInside(environment, scenarios: scenarios)
            return
        }
        if let kernel = vm.kernel { return try runInKernel(kernel, scenarios: scenarios) }
        let agent = try agentSelection.resolve()
        // Before the run, not after it: an unwritable --report costs a second, not the whole suite.
        try prepareReportDirectory(report)
        var options = agentSelection.executionOptions(agent, timeout: timeout, identity: identity, workDirectory: workdir)
        let (sandbox, sandboxNote) = try sandboxSelection.resolve(for: scenarios)
        options.launcherSandbox = sandbox
        let fingerprint = Fingerprint.current(agentPath: options.probeAgentPath)
        if let writeEnvironment {
            do {
                try ReportFiles.write(try Env.json(fingerprint), to: writeEnvironment)
            } catch {
                printError(Console.printable("handoff: cannot write \(writeEnvironment): \(error)"))
                throw ExitCode(2)
            }
        }
        let started = Date()
        let annotate = ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true"
        if format == .tap { print(TAPReport.header(count: scenarios.count)) }
        let counter = Counter()
        let format = self.format
        let progress = ProgressLine.enabled(stdoutIsTerminal: isatty(1) == 1,
                                            environment: ProcessInfo.processInfo.environment)
            ? ProgressBox(ProgressLine(total: scenarios.count)) : nil
        let results = Suite.run(scenarios, options: options, jobs: jobs) { result in
            progress?.clear()
            switch format {
            case .text:
                print(Console.line(for: result))
                if result.status != .pass && result.status != .skip { print(Console.indented(result.diff)) }
            case .tap:
                print(TAPReport.line(counter.next(), result))
            }
            if annotate { for line in GitHubAnnotations.lines(for: result) { print(line) } }
            fflush(nil)
            progress?.update(result.status)
        }
        progress?.clear()
        var report = RunReport(startedAt: started, durationSeconds: Date().timeIntervalSince(started),
                               identityMode: identity, scenarios: results, fingerprint: fingerprint,
                               taintBefore: fingerprint.taint, taintAfter: Fingerprint.currentTaint(), agent: agent)
        report.environment.launcherSandbox = sandboxNote
        // From here on the closing line is printed whatever happens; a report that cannot be written is one
        // line on stderr and exit 2.
        var writeFailure: String?
        do {
            if reportToHost {
                try report.sendToHost()
            } else {
                try report.write(to: self.report)
            }
        } catch {
            writeFailure = Console.printable("handoff: cannot write reports to \(reportToHost ? "the host" : self.report): \(error)")
        }
        appendStepSummary(report)
        if report.environment.taintChanged {
            printError("handoff: WARNING: the kernel's taint changed during the run: \(report.environment.taintBefore ?? -1) -> "
                + "\(report.environment.taintAfter ?? -1) (see dmesg)")
        }
        if let writeFailure { printError(writeFailure) }
        print(format == .tap ? "# " + Console.closing(report.summary) : Console.closing(report.summary))
        if ActiveRuns.shared.isInterrupted { throw ExitCode(130) }
        if writeFailure != nil { throw ExitCode(2) }
        if !report.summary.succeeded { throw ExitCode(1) }
    }}

/// Appends the Markdown summary to $GITHUB_STEP_SUMMARY when CI sets it (a warning when that fails).
func appendStepSummary(_ report: RunReport) {
    appendStepSummary(markdown: MarkdownReport.render(report))
}

/// Appends to GitHub's step summary when $GITHUB_STEP_SUMMARY (or `path`) names one.
func appendStepSummary(markdown: String, path: String? = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"]) {
    guard let path, !path.isEmpty else { return }
    do {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(markdown.utf8))
    } catch {
        printError(Console.printable("handoff: WARNING: cannot append to $GITHUB_STEP_SUMMARY (\(path)): "
            + "\((error as NSError).localizedDescription)"))
    }
}

extension IdentityMode: ExpressibleByArgument {}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, tap
}

/// Numbers TAP lines in completion order (the progress callback is serialized).
final class Counter: @unchecked Sendable {
    private var value = 0
    func next() -> Int {
        value += 1
        return value
    }
}

/// The progress line on stderr: erased before each result's lines and redrawn after them, so that it stays
/// below them (the progress callback is serialized).
final class ProgressBox: @unchecked Sendable {
    private var line: ProgressLine
    private var shown = false

    init(_ line: ProgressLine) { self.line = line }

    func update(_ status: ScenarioStatus) {
        line.record(status)
        emit(line.text)
        shown = true
    }

    func clear() {
        guard shown else { return }
        fflush(nil)
        emit(ProgressLine.clear)
        shown = false
    }

    /// Straight to descriptor 2: stderr is unbuffered, and this keeps it out of stdio's state.
    private func emit(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
