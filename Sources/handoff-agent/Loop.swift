// Loops the agent runs by itself: every iteration performs each step with the same function as a single
// request (close, send and recv called directly, every other operation through its performer), fills loop
// slots from what the steps produce, and keeps a latency histogram per step. One answer at the end.

import Glibc
import HandoffProtocol

/// One step of a loop as the hot loop reads it: how to call it, the slots its descriptors go to, and the
/// errno it expects. A class with constant fields, reached through `Unmanaged` in the loop: a call borrows
/// the performer where one loaded from an array would be copied (a retain and a release per call), and the
/// closure keeps its own calling convention (an array of bare closures stores them generically: a
/// reabstraction thunk per call).
private final class PlannedStep {
    /// close, send and recv, called directly; `.performer`: through `perform`.
    let call: LoopCall
    let perform: Agent.Performer
    /// (position in the answer's descriptors, slot), only for slots that exist.
    let outputs: [(position: Int, slot: Int)]
    let expectedErrno: Int32
    /// This step's row of the loop's histogram: LatencyBuckets.count counters, one per bucket.
    let histogram: UnsafeMutablePointer<UInt64>

    init(call: LoopCall, perform: @escaping Agent.Performer, outputs: [(position: Int, slot: Int)], expectedErrno: Int32,
         histogram: UnsafeMutablePointer<UInt64>) {
        self.call = call
        self.perform = perform
        self.outputs = outputs
        self.expectedErrno = expectedErrno
        self.histogram = histogram
    }
}

extension Agent {
    mutating func runLoop(count: Int, steps: [LoopStep]) -> LoopAnswer {
        slots.update(repeating: -1)
        keepingData = false
        defer { keepingData = true }
        // One flat histogram: step * LatencyBuckets.count + bucket; unchecked in the hot loop (each step's row
        // holds LatencyBuckets.count counters, and bucket() is below that by construction).
        let buckets = UnsafeMutablePointer<UInt64>.allocate(capacity: steps.count * LatencyBuckets.count)
        buckets.initialize(repeating: 0, count: steps.count * LatencyBuckets.count)
        defer { buckets.deallocate() }
        let plan = steps.enumerated().map { index, step in
            PlannedStep(call: LoopCall(step.operation), perform: Agent.performer(for: step.operation),
                        outputs: step.outputs.enumerated().compactMap { position, slot in
                            slot >= 0 && slot < loopSlotCount ? (position, slot) : nil
                        },
                        expectedErrno: step.expectedErrno,
                        histogram: buckets + index * LatencyBuckets.count)
        }
        // Kept alive by `plan` until the loop ends.
        let unretained = plan.map { Unmanaged.passUnretained($0) }
        var answer = Answer(result: 0)
        var failures = 0
        var firstFailure = ""
        LatencyClock.startLoop()
        defer { LatencyClock.stopLoop() }
        let started = monotonicNanoseconds()
        withExtendedLifetime(plan) {
            unretained.withUnsafeBufferPointer { planned in
                for iteration in 0..<count {
                    for index in 0..<planned.count {
                        planned[index]._withUnsafeGuaranteedRef { step in
                            answer.resetForLoop()
                            switch step.call {
                            // These three never refuse: they always make their system call or answer EBADF.
                            case .close(let call): call.perform(&self, &answer)
                            case .send(let call): call.perform(&self, &answer)
                            case .recv(let call): call.perform(&self, &answer)
                            case .performer:
                                guard step.perform(&self, &answer) else { return }
                                if let refused = refusal {
                                    refusal = nil
                                    failures += 1
                                    if firstFailure.isEmpty { firstFailure = "iteration \(iteration + 1), step \(index + 1): refused (\(refused))" }
                                    return
                                }
                            }
                            step.histogram[LatencyBuckets.bucket(answer.nanoseconds)] &+= 1
                            if answer.errno != step.expectedErrno {
                                failures += 1
                                if firstFailure.isEmpty {
                                    firstFailure = "iteration \(iteration + 1), step \(index + 1): errno \(answer.errno), expected \(step.expectedErrno)"
                                }
                            }
                            // Descriptors without a slot stay open, as the kernel installed them: the model expects them.
                            for output in step.outputs {
                                slots[output.slot] = output.position < answer.fds.count ? answer.fds[output.position] : -1
                            }
                        }
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
                          histograms: histograms, slots: Array(slots))
    }
}

extension Answer {
    /// What a loop reads of an answer back to an empty success (the rest is never read in a loop, and
    /// clearing it costs every call): result, errno, duration and the descriptor list, keeping its storage.
    @inline(__always) mutating func resetForLoop() {
        result = 0
        errno = 0
        nanoseconds = 0
        // One removeLast per descriptor (usually none or one): removeAll(keepingCapacity:) costs two uniqueness
        // checks and a memmove per call.
        while !fds.isEmpty { fds.removeLast() }
    }
}
