// Delta debugging of a failing random scenario: fewer steps, fewer processes, simpler arguments, as long as
// the same finding remains. What is left is the repro a person reads in a minute.

/// What makes two findings "the same" while shrinking: the kind of difference and the operation after which
/// it was seen (numbers and names change as steps go, these do not).
public struct FindingSignature: Hashable, Sendable, Codable, CustomStringConvertible {
    public var kind: FindingKind
    /// The operation keyword, e.g. `dup2` (from `p1.dup2`).
    public var operation: String

    public init(kind: FindingKind, operation: String) {
        self.kind = kind
        self.operation = operation
    }

    /// The first finding that is a divergence from the model (a scenario stops there), if any.
    public init?(_ result: ScenarioResult) {
        guard result.status == .fail, let finding = result.findings.first(where: { $0.kind != .check }) else { return nil }
        kind = finding.kind
        operation = String(finding.operation.split(separator: ".").last ?? Substring(finding.operation))
            .replacingOccurrences(of: " (background)", with: "")
    }

    public var description: String { "\(kind.rawValue) after \(operation)" }
}

struct Shrinker {
    /// Runs programs (in parallel where it can) and says, for each, whether it still shows the finding.
    let stillFails: ([FuzzProgram]) -> [Bool]
    /// Runs at most this many candidates in all.
    let budget: Int
    private(set) var runs = 0

    init(budget: Int, stillFails: @escaping ([FuzzProgram]) -> [Bool]) {
        self.budget = budget
        self.stillFails = stillFails
    }

    /// The first candidate, in order, that still fails; every candidate is counted against the budget.
    mutating func firstFailing(_ candidates: [FuzzProgram], batch: Int) -> FuzzProgram? {
        var start = 0
        while start < candidates.count && runs < budget {
            let slice = Array(candidates[start..<min(candidates.count, start + batch, start + budget - runs)])
            runs += slice.count
            if let index = stillFails(slice).firstIndex(of: true) { return slice[index] }
            start += slice.count
        }
        return nil
    }

    /// ddmin over steps, then whole processes, then arguments; repeated until nothing smaller fails.
    mutating func shrink(_ program: FuzzProgram, findingStep: Int?, batch: Int) -> FuzzProgram {
        var current = program
        // Nothing after the step that diverged ran: it goes at once.
        if let findingStep, findingStep + 1 < current.steps.count {
            var cut = current
            cut.steps.removeSubrange((findingStep + 1)...)
            if firstFailing([cut], batch: 1) != nil { current = cut }
        }
        var changed = true
        while changed && runs < budget {
            changed = false
            if let smaller = removeProcess(current, batch: batch) { current = smaller; changed = true; continue }
            if let smaller = removeSteps(current, batch: batch) { current = smaller; changed = true; continue }
            if let simpler = simplifyArguments(current, batch: batch) { current = simpler; changed = true }
        }
        return current
    }

    /// Chunks of steps, halving the chunk size down to single steps.
    mutating func removeSteps(_ program: FuzzProgram, batch: Int) -> FuzzProgram? {
        var size = max(1, program.steps.count / 2)
        while size >= 1 {
            var candidates: [FuzzProgram] = []
            var start = 0
            while start < program.steps.count {
                var candidate = program
                candidate.steps.removeSubrange(start..<min(program.steps.count, start + size))
                if !candidate.steps.isEmpty { candidates.append(candidate) }
                start += size
            }
            if let found = firstFailing(candidates, batch: batch) { return found }
            if size == 1 { break }
            size /= 2
        }
        return nil
    }

    /// A forked process with every step it takes or that names it, and its descendants'.
    mutating func removeProcess(_ program: FuzzProgram, batch: Int) -> FuzzProgram? {
        let created = program.steps.compactMap(\.createdProcess)
        var candidates: [FuzzProgram] = []
        for process in created.reversed() {
            var gone: Set<String> = [process]
            for step in program.steps where gone.contains(step.process) {
                if let child = step.createdProcess { gone.insert(child) }
            }
            var candidate = program
            candidate.steps.removeAll { step in
                !step.processes.isDisjoint(with: gone) || step.createdProcess.map(gone.contains) == true
            }
            if !candidate.steps.isEmpty && candidate.steps.count < program.steps.count { candidates.append(candidate) }
        }
        return firstFailing(candidates, batch: batch)
    }

    /// Optional arguments left out, list arguments one element shorter.
    mutating func simplifyArguments(_ program: FuzzProgram, batch: Int) -> FuzzProgram? {
        var candidates: [FuzzProgram] = []
        for (index, step) in program.steps.enumerated() {
            let declaration = step.kind.declaration
            for (position, argument) in step.arguments.enumerated() {
                let declared = declaration.arguments.first { $0.key == argument.key }
                if let declared, !declared.required {
                    var candidate = program
                    candidate.steps[index].arguments.remove(at: position)
                    candidates.append(candidate)
                }
                if argument.key != "as", case .list(let items) = argument.value {
                    for item in items.indices {
                        guard let shorter = argument.value.dropping(item) else { continue }
                        var candidate = program
                        candidate.steps[index].arguments[position].value = shorter
                        candidates.append(candidate)
                    }
                }
            }
        }
        return firstFailing(candidates, batch: batch)
    }
}
