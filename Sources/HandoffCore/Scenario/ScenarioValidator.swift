// Static checks of a scenario's timeline, before anything runs: which processes exist and run at each step,
// which descriptor names each process has bound, how many exec arguments its current image has. The first
// problem is reported with the location of the node that caused it.

struct ScenarioValidator {
    enum End {
        case exited(line: Int)
        case killed(line: Int, by: String)
        /// Ended by a signal `by` sent through a pidfd that pidfd_open bound to it.
        case signalled(line: Int, by: String)
    }

    /// What the validator knows of a process beyond the tracker's picture (parents, tables, names).
    struct Process {
        var createdAt: Int?
        /// How many arguments the current image was exec'd with (argv[1...]).
        var argumentCount = 0
        var end: End?
        var reapedAt: Int?
        /// The line where the process exec'd a launcher: from then on only `attach` may name it.
        var launchedAt: Int?
        var handover = LauncherHandover.listenFDs
    }

    let file: String
    /// `requires: programs`: the only programs a `launch` may run.
    var programs: [String] = []
    var processes: [String: Process] = ["main": Process()]
    /// The first line where a signal was sent through a pidfd the validator cannot follow (one that arrived
    /// over SCM_RIGHTS or was duplicated): it may have ended a process the validator thinks runs.
    var firstSignalLine: Int?
    /// Parents, shared tables and the names bound in each process: the same picture the runner keeps. A name
    /// pidfd_open bound holds the process its pidfd refers to; any other name holds nil.
    var tracker = ProcessTracker<String?>()
    /// Creation order, for "known processes" lists.
    var order: [String] { tracker.order }
    /// Processes inside a background step: the step and its line, until their `await`.
    private var busy: [String: (step: Step, line: Int)] = [:]
    /// Processes that ended while asleep in a background call (`end`): an `await` of theirs is allowed, once.
    private var endedAsleep: Set<String> = []

    init(file: String) {
        self.file = file
    }

    mutating func validate(_ steps: [Step], sites: [StepSites]) throws(ScenarioError) {
        for (step, site) in zip(steps, sites) {
            try validate(step, site)
        }
        if let (process, pending) = busy.sorted(by: { $0.value.line < $1.value.line }).first {
            throw ScenarioError(pending.step.location, "the background '\(process).\(pending.step.action.keyword)' is never "
                + "awaited (add '\(process).await' after the step that lets it finish)")
        }
    }

    // MARK: Messages

    private var knownProcesses: String { order.joined(separator: ", ") }

    private func unknownProcess(_ name: String, at location: SourceLocation, context: String = "")
        -> ScenarioError {
        ScenarioError(location, "unknown process '\(name)'\(context) (known processes: \(knownProcesses))")
    }

    /// Why a process no longer runs, e.g. "it exited at line 9".
    private func ending(of name: String) -> String? {
        guard let process = processes[name], let end = process.end else { return nil }
        switch end {
        case .exited(let line):
            if let reaped = process.reapedAt { return "it exited at line \(line) and was reaped at line \(reaped)" }
            return "it exited at line \(line)"
        case .killed(let line, let by):
            return "it was killed at line \(line) when '\(by)' ended (every agent dies with its parent)"
        case .signalled(let line, let by):
            return "'\(by)' killed it at line \(line) through a pidfd"
        }
    }

    /// The process must exist (it may have ended).
    private func existing(_ name: String, at location: SourceLocation, context: String = "")
        throws(ScenarioError) -> Process {
        guard let process = processes[name] else { throw unknownProcess(name, at: location, context: context) }
        return process
    }

    /// The process must exist and still be running.
    private func running(_ name: String, at location: SourceLocation, doing what: String)
        throws(ScenarioError) -> Process {
        let process = try existing(name, at: location)
        if let reason = ending(of: name) {
            throw ScenarioError(location, "process '\(name)' cannot \(what): \(reason)")
        }
        return process
    }

    /// A descriptor reference must be resolvable in `owner` at this point.
    private func resolve(_ ref: DescriptorRef, in owner: String, at location: SourceLocation) throws(ScenarioError) {
        guard let process = processes[owner] else { return }
        switch ref {
        case .number, .limit:
            break
        case .name(let name):
            try resolve(name: name, in: owner, process, at: location)
        case .argument(let index):
            guard index <= process.argumentCount else {
                let have = process.argumentCount == 0
                    ? "its current image was not exec'd with arguments"
                    : "its current image was exec'd with \(process.argumentCount) argument\(process.argumentCount == 1 ? "" : "s")"
                throw ScenarioError(location, "{argv: \(index)} is not available in process '\(owner)': \(have)")
            }
        }
    }

    private func resolve(name: String, in owner: String, _ process: Process, at location: SourceLocation)
        throws(ScenarioError) {
        let names = tracker.names(of: owner).keys
        guard names.contains(name) else {
            let known = names.isEmpty ? "none" : names.sorted().joined(separator: ", ")
            throw ScenarioError(location, "unknown descriptor '\(name)' in process '\(owner)' (known: \(known))")
        }
    }

    private mutating func bind(_ names: [String?], of operation: ScenarioOperation, in owner: String) {
        var target: String?
        if case .processes(.pidfdOpen(let process, _)) = operation { target = process }
        for case let name? in names { tracker.bind(name, to: target, in: owner) }
    }

    // MARK: Steps

    mutating func validate(_ step: Step, _ site: StepSites) throws(ScenarioError) {
        let line = step.location.line
        guard let actor = step.process else {
            if case .check(let check) = step.action { try validate(check, site) }
            if case .repeat(_, let inner) = step.action {
                for (innerStep, innerSite) in zip(inner, site.inner) {
                    let keyword = innerStep.action.keyword
                    guard let operation = innerStep.operation, operation.declaration.repeatable else {
                        let allowed = OperationKind.allCases.filter { $0.declaration.repeatable }.map(\.keyword)
                        throw ScenarioError(innerSite.key, "'\(keyword)' cannot run inside a repeat (allowed: "
                            + allowed.sorted().joined(separator: ", ") + ")")
                    }
                    if innerStep.background {
                        throw ScenarioError(innerSite.key, "a repeated step cannot run in the background")
                    }
                    // The agents check each iteration's errno only; any other expectation would go unchecked.
                    if !innerStep.expect.otherErrors.isEmpty {
                        throw ScenarioError(innerSite.key, "inside a repeat 'error' is one errno (every iteration is "
                            + "checked against it)")
                    }
                    var unchecked = innerStep.expect
                    unchecked.error = nil
                    if unchecked != Expectation() {
                        throw ScenarioError(innerSite.key, "inside a repeat only 'error' is checked (in every iteration); "
                            + "state results, data and received descriptors in a step or check after the loop")
                    }
                    try validate(innerStep, innerSite)
                }
            }
            return
        }
        guard processes[actor] != nil else {
            throw unknownProcess(actor, at: site.key, context: " in '\(actor).\(step.action.keyword)'")
        }
        // A process that ended while asleep in a background call took the call with it: its await judges
        // nothing, and is allowed.
        if step.operation == nil, endedAsleep.remove(actor) != nil { return }
        _ = try running(actor, at: site.key, doing: "run '\(step.action.keyword)'")
        guard let operation = step.operation else {
            // `await`: the only process step that is not an operation.
            guard let pending = busy.removeValue(forKey: actor) else {
                throw ScenarioError(site.key, "'\(actor).await' has no background step to wait for")
            }
            // A background wait needs its child to have ended by now.
            if case .processes(.wait(let child))? = pending.step.operation, processes[child]?.end == nil {
                throw ScenarioError(site.key, "'\(child)' is still running here: the background wait at line "
                    + "\(pending.line) would never finish (end it first with '\(child).exit')")
            }
            return
        }
        if let pending = busy[actor] {
            throw ScenarioError(site.key, "process '\(actor)' is inside its background '\(pending.step.action.keyword)' "
                + "(line \(pending.line)) until '\(actor).await'")
        }
        if step.background { busy[actor] = (step, line) }
        if let launched = processes[actor]?.launchedAt {
            guard case .processes(.attach) = operation else {
                throw ScenarioError(site.key, "process '\(actor)' runs a launcher since line \(launched); it can only "
                    + "'attach' the agents it starts")
            }
        } else if case .processes(.attach) = operation {
            throw ScenarioError(site.key, "'\(actor).attach' needs '\(actor)' to have run 'launch' first")
        }
        try resolveReferences(of: operation, by: actor, site)
        // A credentials expectation names the sender by process: a name that is none (a typo) would otherwise
        // fail the run as a CHECK finding against the kernel.
        if let sender = step.expect.credentials?.process, sender != NamedCredentials.noProcess {
            _ = try existing(sender, at: site["credentials.pid"], context: " in 'credentials'")
        }
        // So does an epoll_wait's expected registration named by a descriptor the actor never had.
        for entry in step.expect.ready ?? [] { try resolve(entry.fd, in: actor, at: site["ready"]) }
        bind(step.binds, of: operation, in: actor)
        try applyProcessEffects(of: operation, by: actor, step: step, site)
    }

    /// Every process, descriptor and placeholder the operation names must exist at this point.
    private func resolveReferences(of operation: ScenarioOperation, by actor: String, _ site: StepSites)
        throws(ScenarioError) {
        // Processes it names as targets (not the new ones fork, clone_files and attach create).
        switch operation {
        case .processes(.pidfdOpen(let target, _)), .processes(.pidfdGetfd(let target, _, _)), .files(.reopen(let target, _, _)),
             .processes(.pidfdGetfdThrough(_, let target, _, _)):
            _ = try existing(target, at: site["process"])
        default:
            break
        }
        for (reference, field) in operation.descriptors {
            try resolve(reference, in: field.owner ?? actor, at: site[field.argument])
        }
        guard let process = processes[actor] else { return }
        func placeholders(_ text: Template, _ field: String) throws(ScenarioError) {
            for case .descriptor(let name) in text.parts { try resolve(name: name, in: actor, process, at: site[field]) }
        }
        switch operation {
        case .processes(.exec(let arguments, let environment)), .processes(.launch(_, let arguments, let environment, _, _, _, _, _)):
            for (index, argument) in arguments.enumerated() { try placeholders(argument, "args[\(index)]") }
            for entry in environment { try placeholders(entry.value, "env.\(entry.name)") }
        case .sockets(.connect(.tcpListener(let listener), _, _, _)):
            _ = try existing(listener.process, at: site["address"])
            try resolve(listener.descriptor, in: listener.process, at: site["address"])
        default:
            break
        }
    }

    /// What the operation does to the picture of processes: creation, exec, exit, reaping, tables.
    private mutating func applyProcessEffects(of operation: ScenarioOperation, by actor: String, step: Step,
                                              _ site: StepSites) throws(ScenarioError) {
        let line = step.location.line
        // The declaration says which effect (OperationDeclarations.swift); the arguments come from the operation.
        let effect = operation.declaration.effect
        func undeclared() -> ScenarioError {
            ScenarioError(step.location, "internal: '\(operation.kind.keyword)' is declared to have the effect "
                + "'\(effect.rawValue)', which its arguments do not carry")
        }
        switch effect {
        case .none:
            break  // descriptors only: resolved and bound above
        case .throughPidfd:
            // A pidfd named as pidfd_open bound it refers to that process: a signal that ends a process (kill,
            // term: no agent handles them) sent through it in a step that expects success ends it here, as
            // the model ends it (ReferenceModel.pidfdSendSignal). Any other pidfd (received over SCM_RIGHTS,
            // duplicated) is known at run time only: the model says whether the signal ends it and whether a
            // wait would block.
            guard case .processes(.pidfdSendSignal(let pidfd, let signal)) = operation else { break }
            if case .name(let name) = pidfd, let bound = tracker.value(of: name, in: actor), let target = bound,
                signal != .zero, step.expect.error == nil, step.expect.otherErrors.isEmpty {
                if processes[target]?.end == nil { end(target, at: line, by: .signalled(line: line, by: actor)) }
            } else if firstSignalLine == nil, signal != .zero {
                firstSignalLine = line
            }
        case .privatizesTable:
            if operation.privatizesTable { tracker.privatize(actor) }
        case .launches:
            guard case .processes(.launch(let program, _, _, _, _, let handover, _, _)) = operation else { throw undeclared() }
            let name = program.description
            guard programs.contains(name) else {
                throw ScenarioError(site["program"], "launch runs '\(name)', which is not listed under 'requires: "
                    + "programs' (list it there, so that the scenario is skipped where it is not installed)")
            }
            processes[actor]?.launchedAt = line
            processes[actor]?.handover = handover
        case .attaches:
            guard case .processes(.attach(let child)) = operation else { throw undeclared() }
            try create(child, by: actor, at: line, site, copying: Process(), verb: "attach")
            tracker.adopt(child, by: actor, inheritingNames: processes[actor]?.handover != .listenFDs)
        case .createsProcess:
            guard case let (child, sharingTable)? = operation.createdProcess else { throw undeclared() }
            guard let parent = processes[actor] else { return }
            try create(child, by: actor, at: line, site, copying: parent, verb: "fork")
            tracker.fork(child, of: actor, sharingTable: sharingTable)
        case .replacesImage:
            guard case .processes(.exec(let arguments, _)) = operation else { throw undeclared() }
            processes[actor]?.argumentCount = arguments.count
            tracker.privatize(actor)
        case .endsProcess:
            end(actor, at: line, by: .exited(line: line))
        case .reapsChild:
            guard case .processes(.wait(let child)) = operation else { throw undeclared() }
            let location = site["child"]
            let process = try existing(child, at: location)
            guard tracker.parent(of: child) == actor else {
                let parent = tracker.parent(of: child).map { "its parent is '\($0)'" } ?? "it is the root process"
                throw ScenarioError(location, "'\(child)' is not a child of '\(actor)' (\(parent)); a process can only wait for its own children")
            }
            if let reaped = process.reapedAt {
                throw ScenarioError(location, "'\(child)' was already waited for at line \(reaped)")
            }
            guard process.end != nil || step.background else {
                // A signal sent through a pidfd may have ended it, which the validator cannot follow (the pidfd's
                // process is known at run time only): then `exit` and background steps of it fail too.
                let signalled = firstSignalLine.map { "; if pidfd_send_signal at line \($0) ended it, the validator "
                    + "cannot follow that: reap it with waitid on its pidfd instead" } ?? ""
                throw ScenarioError(location, "'\(child)' is still running at this step: waiting for a running process "
                    + "would block forever (end it first with '\(child).exit', or wait in the background)" + signalled)
            }
            processes[child]?.reapedAt = line
        }
    }

    /// `process` ends, and its descendants with it (every agent has PR_SET_PDEATHSIG). A call asleep in any of
    /// them goes with it (found by `handoff fuzz`): its await may be written, and judges nothing, or left out.
    private mutating func end(_ process: String, at line: Int, by end: End) {
        processes[process]?.end = end
        var ended = [process]
        for name in order where processes[name]?.end == nil && isDescendant(name, of: process) {
            processes[name]?.end = .killed(line: line, by: process)
            ended.append(name)
        }
        for name in ended where busy.removeValue(forKey: name) != nil { endedAsleep.insert(name) }
    }

    /// A new process `child` of `actor`: a copy of `template` (its exec arguments); the caller tells the
    /// tracker whether it shares the table.
    private mutating func create(_ child: String, by actor: String, at line: Int, _ site: StepSites, copying template: Process,
                                 verb: String) throws(ScenarioError) {
        if let existing = processes[child] {
            let created = existing.createdAt.map { "created at line \($0)" } ?? "the root process"
            throw ScenarioError(site["as"], "process '\(child)' already exists (\(created)); \(verb) needs a new name")
        }
        var process = template
        process.createdAt = line
        process.end = nil
        process.reapedAt = nil
        process.launchedAt = nil
        processes[child] = process
    }

    private func isDescendant(_ name: String, of ancestor: String) -> Bool {
        var current = tracker.parent(of: name)
        while let parent = current {
            if parent == ancestor { return true }
            current = tracker.parent(of: parent)
        }
        return false
    }

    /// A process inside a background step is not observed (its table may change at any moment), and a
    /// process running a launcher is not an agent any more: neither can be checked.
    private func notBusy(_ process: String, at location: SourceLocation) throws(ScenarioError) {
        if let launched = processes[process]?.launchedAt {
            throw ScenarioError(location, "process '\(process)' runs a launcher since line \(launched) and is not "
                + "observed; check the agents it starts instead")
        }
        if let pending = busy[process] {
            throw ScenarioError(location, "process '\(process)' cannot be checked inside its background "
                + "'\(pending.step.action.keyword)' (line \(pending.line)); check after '\(process).await'")
        }
    }

    private func validate(_ check: Check, _ site: StepSites) throws(ScenarioError) {
        for item in site.checked {
            switch item {
            case .process(let process, let location):
                _ = try existing(process, at: location)
                _ = try running(process, at: location, doing: "be checked")
                try notBusy(process, at: location)
            case .descriptor(let descriptor, let location):
                _ = try existing(descriptor.process, at: location, context: " in '\(descriptor)'")
                _ = try running(descriptor.process, at: location, doing: "be checked")
                try notBusy(descriptor.process, at: location)
                try resolve(descriptor.descriptor, in: descriptor.process, at: location)
            }
        }
    }
}
