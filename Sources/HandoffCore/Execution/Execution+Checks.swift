// Judging: a step's outcome against the model (OUTCOME) and against what the scenario states (CHECK), and
// explicit `check` steps against the latest observation.

import HandoffProtocol

extension ScenarioExecution {
    /// The outcome findings of one executed operation: against the model's prediction (OUTCOME) and against
    /// what the scenario states (CHECK).
    func judge(_ step: Step, predicted: Outcome, observed: Outcome, operation: String) throws(Stop) -> [Finding] {
        // An agent that answers a successful epoll_wait without the registrations has not said what the kernel
        // did: its protocol, not the kernel (every agent reports `ready`).
        if predicted.ready != nil, observed.errno == 0, observed.ready == nil, let process = step.process {
            throw .harness(.protocolViolation(process: process, detail: "\(operation) answered \(observed.summary) without "
                + "the registrations it reported (the answer's ready field)"))
        }
        var findings: [Finding] = []
        if let difference = compare(predicted: predicted, observed: observed) {
            findings.append(Finding(kind: .outcome, step: step.location, operation: operation, process: step.process,
                                    expected: difference.expected, observed: difference.observed))
        }
        return findings + (try checkExpectation(step.expect, observed, step: step, operation: operation, predicted: predicted))
    }

    func compare(predicted: Outcome, observed: Outcome) -> (expected: String, observed: String)? {
        var same = predicted.errno == observed.errno
        if same && observed.errno == 0 {
            if let expected = predicted.result, let actual = observed.result {
                let mask = predicted.resultMask ?? -1
                same = same && (expected & mask) == (actual & mask)
            }
            same = same && predicted.fds == observed.fds
            if let data = predicted.data { same = same && observed.data == data }
            if let flags = predicted.messageFlags { same = same && (observed.messageFlags ?? 0) == flags }
            if let status = predicted.status { same = same && observed.status == status }
            same = same && predicted.credentials == observed.credentials
            if let from = predicted.from { same = same && observed.from == from }
            if predicted.ready != nil { same = same && Self.sameReady(predicted, observed) }
        }
        if same { return nil }
        var shown = observed
        if predicted.data == nil { shown.data = nil }
        if predicted.from == nil { shown.from = nil }
        if predicted.ready == nil { shown.ready = nil }
        if let mask = predicted.readyMask, let ready = shown.ready {
            shown.ready = ready.map { ReadyRegistration(fd: $0.fd, events: $0.events & mask) }
        }
        if predicted.result == nil { shown.result = nil }
        if let mask = predicted.resultMask, let value = shown.result { shown.result = value & mask }
        let focus = firstDifference(predicted.data, shown.data)
        return (predicted.summary(dataAround: focus), shown.summary(dataAround: focus))
    }

    /// epoll_wait's registrations against the model's, in any order: all of them, or (more ready than `max`)
    /// as many as the result, each one of those predicted.
    static func sameReady(_ predicted: Outcome, _ observed: Outcome) -> Bool {
        guard let seen = observed.ready else { return false }
        let mask = predicted.readyMask ?? ~UInt32(0)
        let masked = seen.map { ReadyRegistration(fd: $0.fd, events: $0.events & mask) }
        let expected = (predicted.ready ?? []).map { ReadyRegistration(fd: $0.fd, events: $0.events & mask) }
        guard predicted.readyChosen else { return masked.sorted() == expected.sorted() }
        return Int64(masked.count) == observed.result && Set(masked).count == masked.count
            && Set(masked).isSubset(of: Set(expected))
    }

    /// `predicted`: the model's outcome when there is one (an epoll_wait that chooses among more ready
    /// registrations than `max` is judged on the list as candidates).
    func checkExpectation(_ expect: Expectation, _ observed: Outcome, step: Step, operation: String,
                          predicted: Outcome? = nil) throws(Stop) -> [Finding] {
        var findings: [Finding] = []
        func fail(_ expected: String, _ actual: String) {
            findings.append(Finding(kind: .check, step: step.location, operation: operation, process: step.process,
                                    expected: expected, observed: actual))
        }
        if let name = expect.error {
            let accepted = [name] + expect.otherErrors
            if !accepted.contains(Errno.name(of: observed.errno)) || observed.errno == 0 {
                fail("-1 " + accepted.joined(separator: " or "), observed.summary)
            }
        } else if observed.errno != 0 {
            fail("success", observed.summary)
        }
        if let result = expect.result, observed.result != result {
            fail("result \(result)", observed.summary)
        }
        if let data = expect.data, observed.data != data {
            let focus = firstDifference(data, observed.data)
            fail("data \(excerpt(data, around: focus))", observed.data.map { excerpt($0, around: focus) } ?? "no data")
        }
        if let received = expect.received, observed.fds.count != received {
            fail("\(received) descriptors received", "\(observed.fds.count)")
        }
        if let truncated = expect.truncated, ((observed.messageFlags ?? 0) & Linux.MSG_CTRUNC != 0) != truncated {
            fail(truncated ? "MSG_CTRUNC" : "no MSG_CTRUNC", truncated ? "no MSG_CTRUNC" : "MSG_CTRUNC")
        }
        if let credentials = expect.credentials, !credentials.matches(observed.credentials) {
            fail(credentials.description, observed.credentials?.description ?? "no credentials")
        }
        if let from = expect.from {
            // An abstract name may carry {@unique}, as the address it was bound to did.
            let unique = "{@\(ArgumentPart.Builtin.unique.rawValue)}"
            var expected = from
            if case .abstract(let name) = from {
                expected = .abstract(name: name.replacingOccurrences(of: unique, with: uniqueToken))
            }
            if observed.from != expected {
                let (shown, seen) = distinguishable("\(expected)", observed.from.map { "\($0)" } ?? "")
                fail("from \(shown)", observed.from == nil ? "no address" : "from \(seen)")
            }
        }
        if let status = expect.status, observed.status != status {
            fail(Outcome.describeStatus(status), observed.status.map(Outcome.describeStatus) ?? "no status")
        }
        if let ready = expect.ready {
            var expected: [ReadyRegistration] = []
            for entry in ready {
                let fd = try number(entry.fd, in: step.process ?? "", at: step.location)
                expected.append(ReadyRegistration(fd: fd, events: ReadyEvent.linux(entry.events)))
            }
            let text = { (list: [ReadyRegistration]) in "ready " + ReadyRegistration.listed(list.sorted()) }
            if let candidates = predicted?.ready, predicted?.readyChosen == true {
                // More ready than `max`: the kernel chooses which to report. The scenario's list can only be
                // checked as the registrations it may choose from, so it must name every one of them.
                let missing = candidates.filter { !expected.contains($0) }
                if !missing.isEmpty {
                    throw .scenario("\(step.location): \(candidates.count) registrations are ready and max is "
                        + "\(predicted?.result ?? 0): which the kernel reports is its choice, so 'ready' must list every "
                        + "one it may report (it lacks \(ReadyRegistration.listed(missing)))")
                }
                if let seen = observed.ready, !Set(seen).isSubset(of: Set(expected)) {
                    fail("some of " + text(expected), text(seen))
                }
            } else if let seen = observed.ready {
                if seen.sorted() != expected.sorted() { fail(text(expected), text(seen)) }
            } else {
                fail(text(expected), observed.summary)
            }
        }
        return findings
    }

    func evaluate(_ check: Check, at location: SourceLocation) throws(Stop) -> [Finding] {
        var findings: [Finding] = []
        func fail(_ process: String?, _ descriptor: String?, _ expected: String, _ actual: String) {
            findings.append(Finding(kind: .check, step: location, operation: "check", process: process,
                                    descriptor: descriptor, expected: expected, observed: actual))
        }
        // A descriptor missing under several keys (cloexec and fdinfo of a name never created, or closed) is
        // one finding, not one per key.
        var reportedMissing: Set<QualifiedDescriptor> = []
        func lookup(_ qualified: QualifiedDescriptor) -> (DescriptorKey, ObservedDescriptor)? {
            guard let number = try? number(qualified.descriptor, in: qualified.process, at: location) else {
                if reportedMissing.insert(qualified).inserted {
                    fail(qualified.process, "\(qualified.descriptor)", "a descriptor",
                         neverCreated(qualified.descriptor, in: qualified.process))
                }
                return nil
            }
            let key = DescriptorKey(process: qualified.process, number: number)
            guard let descriptor = observed[qualified.process]?[number] else {
                if reportedMissing.insert(qualified).inserted { fail(qualified.process, describe(key), "open", "closed") }
                return nil
            }
            return (key, descriptor)
        }
        if !check.same.isEmpty {
            let resolved = check.same.compactMap(lookup)
            if let first = resolved.first {
                for other in resolved.dropFirst() where groups[other.0] != groups[first.0] {
                    fail(other.0.process, describe(other.0), "the same open file description as \(first.0.process): "
                         + describe(first.0), "a different open file description")
                }
            }
        }
        if !check.different.isEmpty {
            let resolved = check.different.compactMap(lookup)
            for (index, one) in resolved.enumerated() {
                for other in resolved[(index + 1)...] where groups[one.0] == groups[other.0] {
                    fail(other.0.process, describe(other.0), "a different open file description from "
                         + "\(one.0.process): \(describe(one.0))", "the same open file description")
                }
            }
        }
        for (qualified, offset) in check.offsets.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let (key, descriptor) = lookup(qualified) {
                guard let position = descriptor.position else {
                    throw .harness(.undecidable("offsets cannot be observed here: /proc/PID/fdinfo has no pos: line "
                        + "(the check of \(describe(key))'s offset)"))
                }
                if position != offset { fail(key.process, describe(key), "offset \(offset)", "offset \(position)") }
            }
        }
        for (qualified, closeOnExec) in check.closeOnExec.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let (key, descriptor) = lookup(qualified), descriptor.closeOnExec != closeOnExec {
                fail(key.process, describe(key), onOff(closeOnExec), onOff(descriptor.closeOnExec))
            }
        }
        for (qualified, flags) in check.flags.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let (key, descriptor) = lookup(qualified), descriptor.statusFlags != flags {
                fail(key.process, describe(key), flagList(flags), flagList(descriptor.statusFlags))
            }
        }
        for (process, references) in check.open.sorted(by: { $0.key < $1.key }) {
            var expected: Set<Int32> = []
            for reference in references {
                if let number = try? number(reference, in: process, at: location) { expected.insert(number) }
                else { fail(process, "\(reference)", "a descriptor", neverCreated(reference, in: process)) }
            }
            let actual = Set((observed[process] ?? [:]).keys)
            if actual != expected {
                let render = { (numbers: Set<Int32>) in
                    "{" + numbers.sorted().map { self.describe(DescriptorKey(process: process, number: $0)) }
                        .joined(separator: ", ") + "}"
                }
                fail(process, nil, "open " + render(expected), "open " + render(actual))
            }
        }
        for (process, variables) in check.environment.sorted(by: { $0.key < $1.key }) {
            let actual = tree[process]?.environment ?? [:]
            for (name, value) in variables {
                let expected = value.flatMap { try? render($0, in: process, at: location) }
                // By bytes, as the environment holds them: String's `==` (and a dictionary lookup) would take
                // a precomposed "\u{E9}" for "e\u{301}".
                let found = actual.first { $0.key.utf8.elementsEqual(name.utf8) }?.value
                let same = switch (found, expected) {
                case (nil, nil): true
                case (let found?, let expected?): found.utf8.elementsEqual(expected.utf8)
                default: false
                }
                if !same {
                    let (shown, seen) = distinguishable(expected ?? "", found ?? "")
                    fail(process, nil, expected == nil ? "\(name) unset" : "\(name)=\(shown)",
                         found == nil ? "\(name) unset" : "\(name)=\(seen)")
                }
            }
        }
        for (qualified, expected) in check.numbers.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let (key, _) = lookup(qualified), key.number != expected {
                fail(key.process, "\(qualified.descriptor)", "number \(expected)", "number \(key.number)")
            }
        }
        let inspected = inspect(check, at: location) { qualified in lookup(qualified)?.0 }
        // The inspections ask the kernel now, through /proc/PID/fd/N: a process that ended since its table was
        // observed fails them, and that is its end, not a finding against the kernel.
        let inspectedProcesses = Set(inspected.compactMap(\.process))
        for name in model.processNames where inspectedProcesses.contains(name) {
            guard let agent = tree[name], agent.hasEnded else { continue }
            throw .harness(.agentGone(process: name, reason: agent.endReason()))
        }
        findings += inspected
        return findings
    }
}
