import Foundation
import Testing
@testable import HandoffCore

/// `handoff fuzz`: the generator makes valid scenarios, the shrinker keeps exactly what a failure needs, and
/// a model rule broken on purpose is found from scratch and shrunk to a short repro.
@Suite(.serialized, .leavesNoChildren) struct FuzzTests {
    let available = Fuzzer.availableOperations()

    @Test func everyGeneratedScenarioParsesAndTheSameSeedGivesTheSameOne() {
        for index in 0..<500 {
            let seed = Fuzzer.caseSeed(42, index)
            let program = FuzzGenerator.program(seed: seed, limits: FuzzLimits(), available: available)
            if case .failure(let error) = program.parse(name: "case\(index)") { Issue.record("seed \(seed): \(error)") }
            #expect(program == FuzzGenerator.program(seed: seed, limits: FuzzLimits(), available: available))
            #expect(!program.steps.contains { FuzzLimits.excluded.contains($0.kind) })
        }
        #expect(Fuzzer.caseSeed(42, 1) != Fuzzer.caseSeed(42, 2))
    }

    /// Background steps are drawn, each awaited later by its process, which takes no other step meanwhile.
    @Test func everyBackgroundStepIsAwaitedAndItsProcessWaits() {
        var drawn = 0
        for index in 0..<300 {
            let program = FuzzGenerator.program(seed: Fuzzer.caseSeed(7, index), limits: FuzzLimits(), available: available)
            #expect(program.steps.count <= FuzzLimits().maxSteps)
            var asleep: Set<String> = []
            for step in program.steps {
                if step.awaits {
                    #expect(asleep.remove(step.process) != nil, "an await without a background step")
                } else {
                    #expect(!asleep.contains(step.process), "a step by a process inside a background step")
                    if step.background { asleep.insert(step.process); drawn += 1 }
                }
            }
            #expect(asleep.isEmpty, "a background step never awaited")
        }
        #expect(drawn > 50)
    }

    @Test func stepsPastTheModelAreDiscardsAndTimeoutsAreNotJudged() {
        let beyond = HarnessError.beyondModel("SEEK_HOLE in a file with a gap from 0").description
        #expect(FuzzReport.discardCause(beyond) == "past the model")
        #expect(FuzzReport.discardCause("x.yaml:3:5 (main.read): the model says this call would block forever") == "waits forever")
        #expect(FuzzReport.discardCause("x.yaml:9:5: the background main.open (line 7) would never finish: the model predicts it still blocks here") == "waits forever")
        #expect(FuzzReport.discardCause(HarnessError.timedOut(process: "main", seconds: 10).description) == nil)
        #expect(FuzzReport.discardCause(HarnessError.agentGone(process: "main", reason: "killed").description) == nil)
    }

    @Test func theGeneratorKeepsToItsLimits() {
        let limits = FuzzLimits(operations: [.pipe, .dup, .close, .fork], maxProcesses: 2, maxSteps: 6)
        for index in 0..<100 {
            let program = FuzzGenerator.program(seed: UInt64(index), limits: limits, available: available)
            #expect(program.steps.count <= 6)
            #expect(program.steps.allSatisfy { [.pipe, .dup, .close, .fork].contains($0.kind) })
            #expect(Set(program.steps.map(\.process)).count <= 2)
        }
    }

    /// No kernel: a "failure" needs two particular steps; everything else goes.
    @Test func theShrinkerKeepsOnlyWhatTheFailureNeeds() {
        var steps = (0..<20).map { FuzzStep("main", .pipe, [FuzzArgument("as", .list([.word("r\($0)"), .word("w\($0)")]))]) }
        steps[7] = FuzzStep("main", .close, [FuzzArgument("fd", .word("w3"))])
        steps[15] = FuzzStep("main", .dup, [FuzzArgument("fd", .word("r2")), FuzzArgument("as", .word("copy"))])
        let program = FuzzProgram(seed: 1, steps: steps)
        func fails(_ candidate: FuzzProgram) -> Bool {
            candidate.steps.contains { $0.kind == .close } && candidate.steps.contains { $0.kind == .dup }
        }
        var shrinker = Shrinker(budget: 1000) { $0.map(fails) }
        let shrunk = shrinker.shrink(program, findingStep: 15, batch: 2)
        #expect(shrunk.steps.map(\.kind) == [.close, .dup])
        #expect(shrinker.runs < 100)
    }

    @Test func aShrinkerWithinItsBudgetStopsThere() {
        let program = FuzzProgram(seed: 1, steps: (0..<30).map { _ in FuzzStep("main", .pipe) })
        var shrinker = Shrinker(budget: 5) { $0.map { _ in false } }
        _ = shrinker.shrink(program, findingStep: nil, batch: 2)
        #expect(shrinker.runs <= 5)
    }

    /// The issue's proof: dup2 made to keep close-on-exec in the model is found from nothing within seconds
    /// and shrunk to at most 6 steps; the repro fails under the broken model and passes under the right one.
    @Test func aBrokenModelRuleIsFoundAndShrunk() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-fuzz-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var execution = ExecutionOptions(agentPath: agentPath)
        execution.brokenModelRules = [.dup2KeepsCloseOnExec]
        let options = FuzzOptions(seed: 1, count: 400, seconds: 60, jobs: 2, limits: FuzzLimits(), execution: execution,
                                  reportDirectory: directory)
        let report = Fuzzer.run(options)
        let finding = try #require(report.findings.first { $0.signature.operation == "dup2" })
        #expect(finding.reproduces)
        #expect(finding.shrunkSteps <= 6, "shrunk to \(finding.shrunkSteps) steps")
        #expect(finding.shrunkSteps < finding.originalSteps || finding.originalSteps <= 6)
        #expect(report.durationSeconds < 60)
        let repro = try ScenarioParser.load(path: directory + "/" + finding.repro, root: directory)
        let broken = Suite.run([repro], options: execution)[0]
        #expect(broken.status == .fail)
        #expect(FindingSignature(broken) == finding.signature)
        let right = Suite.run([repro], options: ExecutionOptions(agentPath: agentPath))[0]
        #expect(right.status == .pass, "\(right.findings.map(\.summary))")
        let json = String(decoding: try report.json(), as: UTF8.self)
        #expect(json.contains("\"scenariosPerSecond\"") && json.contains("dup2-keeps-cloexec"))
        #expect(report.markdown().contains(finding.repro))
    }
}
