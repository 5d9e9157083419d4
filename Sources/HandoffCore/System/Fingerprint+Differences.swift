// What sets two environments apart, field by field, so that a comparison can show beside a divergence the
// difference that explains it (a skip "needs kcmp" beside "seccomp 0 → 2" and "kcmp: ok → EPERM").

/// One field of the fingerprint that differs from the baseline's.
public struct FingerprintDifference: Codable, Sendable, Equatable {
    /// `seccomp`, `capabilities`, `nofile`, `feature kcmp`, `sandbox`, ...
    public var field: String
    public var baseline: String
    public var observed: String

    public init(field: String, baseline: String, observed: String) {
        self.field = field
        self.baseline = baseline
        self.observed = observed
    }

    /// `seccomp: 0 → 2`.
    public var text: String { "\(field): \(baseline) → \(observed)" }
}

extension Fingerprint {
    /// Every field that differs from `baseline`'s, in a fixed order; capabilities as the ones lost and gained.
    public func differences(from baseline: Fingerprint) -> [FingerprintDifference] {
        var result: [FingerprintDifference] = []
        func compare(_ field: String, _ before: String, _ after: String) {
            if before != after { result.append(FingerprintDifference(field: field, baseline: before, observed: after)) }
        }
        func list(_ values: [String]) -> String { values.isEmpty ? "none" : values.joined(separator: ",") }
        compare("kernel", baseline.kernelRelease, kernelRelease)
        compare("sandbox", baseline.sandbox ?? "none", sandbox ?? "none")
        compare("virtualization", baseline.virtualization?.kind ?? "unknown", virtualization?.kind ?? "unknown")
        compare("namespaces", list(baseline.container.namespaces), list(container.namespaces))
        compare("uid map", baseline.container.uidMap, container.uidMap)
        compare("seccomp", String(baseline.seccomp), String(seccomp))
        compare("no_new_privs", String(baseline.noNewPrivileges), String(noNewPrivileges))
        let lost = baseline.capabilities.filter { !capabilities.contains($0) }
        let gained = capabilities.filter { !baseline.capabilities.contains($0) }
        if !lost.isEmpty || !gained.isEmpty {
            let change = (lost.map { "-" + $0 } + gained.map { "+" + $0 }).joined(separator: " ")
            result.append(FingerprintDifference(field: "capabilities", baseline: "\(baseline.capabilities.count) held",
                                                observed: change))
        }
        compare("nofile", "\(baseline.nofileSoft)/\(baseline.nofileHard)", "\(nofileSoft)/\(nofileHard)")
        compare("security modules", list(baseline.securityModules), list(securityModules))
        for name in Set(baseline.features.keys).union(features.keys).sorted() {
            compare("feature \(name)", baseline.features[name] ?? "not probed", features[name] ?? "not probed")
        }
        return result
    }

    /// Whether system-call timings measured here can be set beside `other`'s: the same kernel, neither an
    /// emulated CPU nor a user-space kernel (gVisor) on one side only. Nil when they can; otherwise why not.
    public func timingIncomparability(with other: Fingerprint) -> String? {
        if (sandbox ?? "") != (other.sandbox ?? "") { return "a user-space kernel on one side (\(sandbox ?? other.sandbox ?? ""))" }
        if (virtualization?.emulated ?? false) != (other.virtualization?.emulated ?? false) {
            return "an emulated CPU on one side"
        }
        if kernelRelease != other.kernelRelease { return "different kernels" }
        return nil
    }
}
