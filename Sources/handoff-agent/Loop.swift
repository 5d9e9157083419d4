// Loops the agent runs by itself: every iteration performs each step with the same `perform` as a single
// request, fills loop slots from what the steps produce, and keeps a latency histogram per step. One answer
// at the end.

import Glibc
import HandoffProtocol

extension Agent {
    mutating func runLoop(count: Int, steps: [LoopStep]) -> LoopAnswer {
        var slots = [Int32](repeating: -1, count: loopSlotCount)
        // Steps without slot operands are resolved once; the others before each call.
        let fixed: [Operation<WireNaming>?] = steps.map { step in
            step.operation.descriptors.contains { if case .slot = $0.0 { return true } else { return false } }
                ? nil : step.operation.map(descriptor: { operand, _ in operand.value([]) }, process: { $0 },
                                           address: { $0 }, text: { $0 })
        }
        // One flat histogram: step * LatencyBuckets.count + bucket.
        var buckets = [UInt64](repeating: 0, count: steps.count * LatencyBuckets.count)
        var failures = 0
        var firstFailure = ""
        let started = monotonicNanoseconds()
        for iteration in 0..<count {
            for index in steps.indices {
                let step = steps[index]
                let operation = fixed[index] ?? step.operation.map(descriptor: { operand, _ in operand.value(slots) },
                                                                   process: { $0 }, address: { $0 }, text: { $0 })
                let answer: Answer
                do throws(ProtocolError) {
                    guard let performed = try perform(operation) else { continue }
                    answer = performed
                } catch {
                    failures += 1
                    if firstFailure.isEmpty { firstFailure = "iteration \(iteration + 1), step \(index + 1): refused (\(error))" }
                    continue
                }
                buckets[index * LatencyBuckets.count + LatencyBuckets.bucket(answer.nanoseconds)] &+= 1
                if answer.errno != step.expectedErrno {
                    failures += 1
                    if firstFailure.isEmpty {
                        firstFailure = "iteration \(iteration + 1), step \(index + 1): errno \(answer.errno), expected \(step.expectedErrno)"
                    }
                }
                // Descriptors without a slot stay open, as the kernel installed them: the model expects them.
                for (position, slot) in step.outputs.enumerated() where slot >= 0 && slot < slots.count {
                    slots[slot] = position < answer.fds.count ? answer.fds[position] : -1
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
