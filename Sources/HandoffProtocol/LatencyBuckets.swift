/// Log-linear latency buckets for loops run inside agents: 8 sub-buckets per power of two, so any value is
/// known to within 12.5 %. Compact enough to ship as `bucket:count` pairs; the runner turns them into
/// percentiles.
public enum LatencyBuckets {
    public static let subBuckets = 8  // read by the inlinable bucket()
    public static let count = 64 * subBuckets

    @inlinable public static func bucket(_ nanoseconds: UInt64) -> Int {
        if nanoseconds < UInt64(subBuckets) { return Int(nanoseconds) }
        let octave = 63 - nanoseconds.leadingZeroBitCount  // >= 3
        let sub = Int((nanoseconds >> UInt64(octave - 3)) & 7)
        return min(count - 1, (octave - 2) * subBuckets + sub)
    }

    /// The smallest value that falls into `bucket`.
    public static func lowerBound(_ bucket: Int) -> UInt64 {
        if bucket < subBuckets { return UInt64(bucket) }
        let octave = bucket / subBuckets + 2
        let sub = UInt64(bucket % subBuckets)
        return (8 + sub) << UInt64(octave - 3)
    }
}
