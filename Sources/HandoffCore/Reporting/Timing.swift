import Foundation

/// Where a run's time went, per operation kind, from the steps of every scenario (report.json `timing`).
/// Percentiles are exact (nearest rank over the sorted values); `max` and `count` too.
public struct RunTiming: Codable, Sendable, Equatable {
    /// Count and percentiles of one quantity, in nanoseconds.
    public struct Distribution: Codable, Sendable, Equatable {
        public var count: Int
        public var p50: UInt64
        public var p90: UInt64
        public var p99: UInt64
        public var max: UInt64

        public init(count: Int, p50: UInt64, p90: UInt64, p99: UInt64, max: UInt64) {
            self.count = count
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.max = max
        }

        /// nil for no values. The nearest rank, as HdrHistogram counts it (the value below which
        /// round(p% of count), at least 1, of the values lie), over the sorted values: exact, where the
        /// histogram this replaced rounded to 3 significant digits and, sized for the largest value, zeroed
        /// and walked hundreds of kilobytes per distribution (seconds of a report under qemu's TCG).
        public init?(_ values: [UInt64]) {
            let sorted = values.sorted()
            guard let largest = sorted.last else { return nil }
            func percentile(_ percent: Double) -> UInt64 {
                let rank = Swift.max(1, Int(percent / 100 * Double(sorted.count) + 0.5))
                return sorted[Swift.min(rank, sorted.count) - 1]
            }
            self.init(count: values.count, p50: percentile(50), p90: percentile(90), p99: percentile(99), max: largest)
        }
    }

    /// One operation kind: `recv` for every `PROCESS.recv` step, `check` for checks.
    public struct Operation: Codable, Sendable, Equatable {
        /// Steps of this kind.
        public var steps: Int
        /// Time inside the system call, measured by the agent (absent when no step of the kind has one:
        /// exit, exec, check).
        public var syscall: Distribution?
        /// The harness's own cost around the call: round trip minus system call, for the same steps.
        public var overhead: Distribution?
        /// Reading /proc, deciding identity and comparing with the model after the step (every step).
        public var observation: Distribution
    }

    public var operations: [String: Operation]
    /// Scenarios that ran (every status but skip) and their steps.
    public var scenarios: Int
    public var steps: Int
    /// Mean wall time of a scenario that ran, spawn to teardown.
    public var meanScenarioSeconds: Double
    /// Mean round trip plus observation of a step: what one step costs the harness, system call included.
    public var meanStepNanoseconds: Double

    /// `main.recv` -> `recv`; `check` -> `check`.
    public static func kind(of operation: String) -> String {
        guard let dot = operation.lastIndex(of: ".") else { return operation }
        return String(operation[operation.index(after: dot)...])
    }

    /// nil when no scenario ran a step.
    public init?(_ results: [ScenarioResult]) {
        let ran = results.filter { $0.status != .skip }
        let allSteps = ran.flatMap(\.steps)
        guard !allSteps.isEmpty else { return nil }
        var syscall: [String: [UInt64]] = [:]
        var overhead: [String: [UInt64]] = [:]
        var observation: [String: [UInt64]] = [:]
        var counts: [String: Int] = [:]
        var stepCost: Double = 0
        for step in allSteps {
            let kind = Self.kind(of: step.operation)
            counts[kind, default: 0] += 1
            observation[kind, default: []].append(step.observationNanoseconds)
            if let inside = step.syscallNanoseconds {
                syscall[kind, default: []].append(inside)
                let roundTrip = step.roundTripNanoseconds
                overhead[kind, default: []].append(roundTrip > inside ? roundTrip - inside : 0)
            }
            stepCost += Double(step.roundTripNanoseconds) + Double(step.observationNanoseconds)
        }
        operations = [:]
        for (kind, count) in counts {
            operations[kind] = Operation(steps: count, syscall: Distribution(syscall[kind] ?? []),
                                         overhead: Distribution(overhead[kind] ?? []),
                                         observation: Distribution(observation[kind]!)!)
        }
        scenarios = ran.count
        steps = allSteps.count
        meanScenarioSeconds = ran.map(\.durationSeconds).reduce(0, +) / Double(ran.count)
        meanStepNanoseconds = stepCost / Double(allSteps.count)
    }
}
