// Loops the agent runs by itself: every iteration performs each step with the same performer as a single
// request, fills loop slots from what the steps produce, and keeps a latency histogram per step. One answer
// at the end.

import Glibc
import HandoffProtocol

extension Agent {
    mutating func runLoop(count: Int, steps: [LoopStep]) -> LoopAnswer {
        slots = [Int32](repeating: -1, count: loopSlotCount)
        keepingData = false
        defer { keepingData = true }
        // Parallel arrays, so that the hot loop touches nothing but what it performs; one answer, reused.
        let performers = steps.map { Agent.performer(for: $0.operation) }
        let outputs = steps.map(\.outputs)
        let expected = steps.map(\.expectedErrno)
        var answer = Answer(result: 0)
        // One flat histogram: step * LatencyBuckets.count + bucket.
        var buckets = [UInt64](repeating: 0, count: steps.count * LatencyBuckets.count)
        var failures = 0
        var firstFailure = ""
        LatencyClock.startLoop()
        defer { LatencyClock.stopLoop() }
        let started = monotonicNanoseconds()
        for iteration in 0..<count {
            for index in 0..<performers.count {
                answer.reset()
                guard performers[index](&self, &answer) else { continue }
                if let refused = refusal {
                    refusal = nil
                    failures += 1
                    if firstFailure.isEmpty { firstFailure = "iteration \(iteration + 1), step \(index + 1): refused (\(refused))" }
                    continue
                }
                buckets[index &* LatencyBuckets.count &+ LatencyBuckets.bucket(answer.nanoseconds)] &+= 1
                if answer.errno != expected[index] {
                    failures += 1
                    if firstFailure.isEmpty {
                        firstFailure = "iteration \(iteration + 1), step \(index + 1): errno \(answer.errno), expected \(expected[index])"
                    }
                }
                // Descriptors without a slot stay open, as the kernel installed them: the model expects them.
                if !outputs[index].isEmpty {
                    for (position, slot) in outputs[index].enumerated() where slot >= 0 && slot < slots.count {
                        slots[slot] = position < answer.fds.count ? answer.fds[position] : -1
                    }
                }
            }
        }
        let elapsed = monotonicNanoseconds() - started
        let histograms = steps.indices.map { index in
            (0..<LatencyBuckets.count).compactMap { bucket -> (bucket: Int, count: UInt64)? in
                let value = buckets[index * LatencyBuckets.count + bucket]
                return value > 0 ? (bucket, value) : nil
            }
        }
        return LoopAnswer(iterations: count, failures: failures, firstFailure: firstFailure, wallNanoseconds: elapsed,
                          histograms: histograms, slots: slots)
    }
}
