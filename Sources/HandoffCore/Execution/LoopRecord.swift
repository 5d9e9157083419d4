import HandoffProtocol

/// What a repeat measured: per operation, the latency histogram from inside the agents.
public struct LoopRecord: Codable, Sendable {
    public struct Bucket: Codable, Sendable, Equatable {
        /// The smallest latency the bucket holds (buckets are 12.5 % wide).
        public var lowerBoundNanoseconds: UInt64
        public var count: UInt64
    }

    public struct Operation: Codable, Sendable {
        public var step: Int
        public var operation: String
        public var count: UInt64
        public var p50Nanoseconds: UInt64
        public var p90Nanoseconds: UInt64
        public var p99Nanoseconds: UInt64
        public var maxNanoseconds: UInt64
        public var buckets: [Bucket]

        public init(step: Int, operation: String, buckets: [Bucket]) {
            self.step = step
            self.operation = operation
            self.buckets = buckets.sorted { $0.lowerBoundNanoseconds < $1.lowerBoundNanoseconds }
            count = buckets.reduce(0) { $0 + $1.count }
            p50Nanoseconds = 0
            p90Nanoseconds = 0
            p99Nanoseconds = 0
            maxNanoseconds = self.buckets.last?.lowerBoundNanoseconds ?? 0
            p50Nanoseconds = percentile(0.5)
            p90Nanoseconds = percentile(0.9)
            p99Nanoseconds = percentile(0.99)
        }

        /// The bucket (lower bound) below which `fraction` of the samples fall: within 12.5 %.
        public func percentile(_ fraction: Double) -> UInt64 {
            guard count > 0 else { return 0 }
            let target = max(1, UInt64((Double(count) * fraction).rounded(.up)))
            var seen: UInt64 = 0
            for bucket in buckets {
                seen += bucket.count
                if seen >= target { return bucket.lowerBoundNanoseconds }
            }
            return maxNanoseconds
        }
    }

    public var line: Int
    public var iterations: Int
    public var operations: [Operation]
    /// Wall time of the loop in each process, as the agent measured it.
    public var wallNanoseconds: [String: UInt64]
}
