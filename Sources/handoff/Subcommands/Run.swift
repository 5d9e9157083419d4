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

    @OptionGroup(title: "Another kernel") var vm: KernelOptions

    /// What the guest of `run --kernel` passes: only report.json (the host renders the rest from it).
    @Flag(name: .customLong("report-json-only"), help: .hidden)
    var reportJSONOnly = false

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
        try vm.validate(agent: agentSelection.agent, workdir: workdir)
    }

    func run() throws {
        if let problem = ActiveRuns.installInterruptHandler(onSignal: { signal in
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
        if let kernel = vm.kernel { return try runInKernel(kernel, scenarios: scenarios) }
        let agent = try agentSelection.resolve()
        // Before the run, not after it: an unwritable --report costs a second, not the whole suite.
        try prepareReportDirectory(report)
        let options = agentSelection.executionOptions(agent, timeout: timeout, identity: identity, workDirectory: workdir)
        let fingerprint = Fingerprint.current(agentPath: options.probeAgentPath)
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
        let report = RunReport(startedAt: started, durationSeconds: Date().timeIntervalSince(started),
                               identityMode: identity, scenarios: results, fingerprint: fingerprint,
                               taintBefore: fingerprint.taint, taintAfter: Fingerprint.currentTaint(), agent: agent)
        // From here on the closing line is printed whatever happens; a report that cannot be written is one
        // line on stderr and exit 2.
        var writeFailure: String?
        do {
            try report.write(to: self.report, jsonOnly: reportJSONOnly)
        } catch {
            writeFailure = Console.printable("handoff: cannot write reports to \(self.report): \(error)")
        }
        if let path = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"], !path.isEmpty {
            do {
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                defer { try? handle.close() }
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(MarkdownReport.render(report).utf8))
            } catch {
                printError(Console.printable("handoff: WARNING: cannot append to $GITHUB_STEP_SUMMARY (\(path)): "
                    + "\((error as NSError).localizedDescription)"))
            }
        }
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
