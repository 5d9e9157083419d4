// Whether the run is in a virtual machine, and whether its CPU is emulated: under qemu's TCG every
// operation is 2-200x slower than on the host, so timing comparisons with such a run mean nothing, while
// its results are the kernel's as much as anywhere.

import CHandoff
import Foundation

/// What the fingerprint says about virtualization, and the evidence for it.
public struct Virtualization: Codable, Sendable, Equatable {
    /// "none", "kvm", "tcg" (emulated CPU), or the hypervisor's signature for others (Hyper-V, VMware, Xen).
    public var kind: String
    /// The CPU is emulated instruction by instruction (TCG): timings are not comparable with a host's.
    public var emulated: Bool
    /// How it was decided, for the reader: the flag, the CPUID signature, the DMI vendor, the CPU model.
    public var evidence: String

    public init(kind: String, emulated: Bool, evidence: String) {
        self.kind = kind
        self.emulated = emulated
        self.evidence = evidence
    }

    /// Reads /proc/cpuinfo, CPUID 0x40000000 and DMI.
    public static func current() -> Virtualization {
        var signature = [CChar](repeating: 0, count: 13)
        handoff_hypervisor_signature(&signature)
        let cpuinfo = Observer.readSmallFile("/proc/cpuinfo") ?? ""
        func cpuinfoValue(_ key: String) -> String {
            cpuinfo.split(separator: "\n").first { $0.hasPrefix(key) }
                .flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        }
        func dmi(_ name: String) -> String {
            (Observer.readSmallFile("/sys/class/dmi/id/" + name) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return decide(hypervisorFlag: cpuinfoValue("flags").split(separator: " ").contains("hypervisor"),
                      signature: String(decoding: signature.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                      dmiVendor: dmi("sys_vendor"), cpuModel: cpuinfoValue("model name"))
    }

    /// The decision, apart from where its inputs come from. A CPU that advertises a hypervisor (CPUID.1:ECX
    /// bit 31, "hypervisor" in /proc/cpuinfo) is virtual; its signature names the hypervisor: "KVMKVMKVM",
    /// or "TCGTCGTCGTCG" from qemu's TCG (qemu 7.2, seen in the guests of `run --kernel`). Where the
    /// signature is empty (qemu builds that fill none for TCG), a machine whose DMI vendor is QEMU or whose
    /// CPU is one of qemu's models ("QEMU Virtual CPU", "QEMU TCG CPU") is taken for TCG: KVM would sign.
    public static func decide(hypervisorFlag: Bool, signature: String, dmiVendor: String, cpuModel: String) -> Virtualization {
        var evidence = ["cpuinfo flag 'hypervisor' \(hypervisorFlag ? "set" : "absent")"]
        if !signature.isEmpty { evidence.append("CPUID 0x40000000 '\(signature)'") }
        if !dmiVendor.isEmpty { evidence.append("DMI vendor '\(dmiVendor)'") }
        if !cpuModel.isEmpty { evidence.append("CPU '\(cpuModel)'") }
        let text = evidence.joined(separator: ", ")
        let qemuModel = cpuModel.hasPrefix("QEMU Virtual CPU") || cpuModel.hasPrefix("QEMU TCG CPU")
        guard hypervisorFlag || qemuModel else { return Virtualization(kind: "none", emulated: false, evidence: text) }
        if signature.hasPrefix("TCGTCGTCG") { return Virtualization(kind: "tcg", emulated: true, evidence: text) }
        if signature.hasPrefix("KVMKVMKVM") { return Virtualization(kind: "kvm", emulated: false, evidence: text) }
        if signature.isEmpty && (dmiVendor == "QEMU" || qemuModel) {
            return Virtualization(kind: "tcg", emulated: true, evidence: text)
        }
        return Virtualization(kind: signature.isEmpty ? "unknown hypervisor" : signature, emulated: false, evidence: text)
    }

    /// One line for `handoff env`.
    public var text: String {
        let name = kind == "none" ? "none" : kind == "tcg" ? "qemu TCG (emulated CPU: timings not comparable)" : kind
        return "\(name) [\(evidence)]"
    }
}
