// `run --kernel`: builds the initramfs, boots it under qemu, relays the inner run's console lines, enforces
// the time limit, and reads the report back from the memory it shares with the guest (ReportRegion). Whatever happens - the
// guest finishes, hangs, panics, or the user presses Ctrl-C - qemu is killed and reaped and the temporary
// folder is removed before this returns.

import Foundation
import Glibc

public struct VirtualMachineOptions: Sendable {
    public var kernel: KernelImage
    public var image: GuestImage
    public var accelerator: Accelerator
    public var cpus: Int
    public var memoryMiB: Int
    /// Seconds from qemu's start to its end, boot and report transfer included.
    public var timeLimit: Double
    /// The qemu-system-x86_64 to run.
    public var qemu: String
    /// Where the temporary folder is made ($TMPDIR, else /tmp).
    public var temporaryBase: String

    public init(kernel: KernelImage, image: GuestImage, accelerator: Accelerator, cpus: Int, memoryMiB: Int,
                timeLimit: Double, qemu: String, temporaryBase: String) {
        self.kernel = kernel
        self.image = image
        self.accelerator = accelerator
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.timeLimit = timeLimit
        self.qemu = qemu
        self.temporaryBase = temporaryBase
    }
}

/// What the host measured and decided, written as vm.json beside the reports.
public struct VirtualMachineRecord: Codable, Sendable {
    public var kernelRelease: String
    public var kernelImage: String
    /// kvm or tcg: the one the reported run used.
    public var accelerator: String
    /// Why that one (auto's decision, a fallback).
    public var acceleratorReason: String
    public var qemuArguments: [String]
    public var initramfsBytes: Int
    /// Host seconds: writing the initramfs; qemu's start to the guest's /init; the whole run (image to
    /// reports read back).
    public var imageSeconds: Double
    public var bootSeconds: Double?
    public var wallSeconds: Double
    /// The guest's own clock (/proc/uptime) when /init started and around the suite.
    public var guestUptimeAtInit: Double?
    public var suiteSeconds: Double?
    /// The inner `handoff run`'s exit status.
    public var innerExitStatus: Int?
    /// Set when no report came back: the harness's failure, never the kernel's.
    public var error: String?
}

public struct VirtualMachineOutcome: Sendable {
    public var record: VirtualMachineRecord
    /// The inner run's report, when it came back.
    public var report: RunReport?
    /// Everything the guest printed on its console.
    public var console: String
    public var error: VMError?
}

public enum VirtualMachineRun {
    /// Without a boot marker by then, an `auto` run gives up on KVM and boots again under TCG.
    static let kvmBootDeadline = 15.0

    /// Runs the guest. `relay` gets each console line the inner `handoff run` prints, as it arrives.
    public static func run(_ options: VirtualMachineOptions, relay: (String) -> Void) -> VirtualMachineOutcome {
        let started = Date()
        var record = VirtualMachineRecord(
            kernelRelease: options.kernel.release, kernelImage: options.kernel.bootPath, accelerator: "none",
            acceleratorReason: "", qemuArguments: [], initramfsBytes: 0, imageSeconds: 0, wallSeconds: 0)
        var console = ""
        func finish(_ error: VMError?, report: RunReport? = nil) -> VirtualMachineOutcome {
            record.wallSeconds = Date().timeIntervalSince(started)
            record.error = error?.description
            return VirtualMachineOutcome(record: record, report: report, console: console, error: error)
        }
        StaleRuns.sweepOnce(base: options.temporaryBase)
        // Named like the scenario folders (handoff-<pid>-...), so that a run killed with SIGKILL leaves a
        // folder the next run's StaleRuns sweep removes.
        guard let directory = StaleRuns.makeFolder(in: options.temporaryBase, label: "vm") else {
            return finish(.image("cannot create a folder in \(options.temporaryBase): \(Errno.name(of: errno))"))
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let initramfs = directory + "/initramfs.cpio"
        do {
            record.initramfsBytes = try Initramfs.write(options.image.entries, to: initramfs)
        } catch {
            return finish(error)
        }
        record.imageSeconds = Date().timeIntervalSince(started)

        var accelerators: [(Accelerator, String)]
        switch options.accelerator {
        case .tcg: accelerators = [(.tcg, "--accel tcg")]
        case .kvm: accelerators = [(.kvm, "--accel kvm")]
        case .auto:
            if let problem = KVMProbe.problem() {
                accelerators = [(.tcg, "auto: TCG, since \(problem)")]
            } else {
                accelerators = [(.kvm, "auto: KVM"),
                                (.tcg, "auto: TCG, since KVM did not boot the guest within \(Int(kvmBootDeadline)) s")]
            }
        }
        // The kernel's HZ, from the config `make kernels` keeps beside the kernel (none for another path:
        // the guest then calibrates its delay loop itself).
        let configPath = (options.kernel.bootPath as NSString).deletingLastPathComponent + "/config"
        let kernelHZ = (try? String(contentsOfFile: configPath, encoding: .utf8)).flatMap { DelayCalibration.hz(config: $0) }
        while let (accelerator, reason) = accelerators.first {
            accelerators.removeFirst()
            // Under TCG each CPU's delay-loop calibration is half a second of boot; KVM calibrates fast.
            let loopsPerJiffy = accelerator == .tcg ? DelayCalibration.loopsPerJiffy(hz: kernelHZ) : nil
            let regionPath = directory + "/reports.shm"
            if let failure = ReportRegion.prepare(path: regionPath) { return finish(.image(failure.description)) }
            let machine = MachineConfiguration(kernel: options.kernel.bootPath, initramfs: initramfs,
                                               reportRegionPath: regionPath, accelerator: accelerator,
                                               cpus: options.cpus, memoryMiB: options.memoryMiB,
                                               loopsPerJiffy: loopsPerJiffy)
            record.accelerator = accelerator.rawValue
            record.acceleratorReason = reason
            record.qemuArguments = machine.arguments
            let boot = Boot(options: options, machine: machine, directory: directory, started: started,
                            bootDeadline: accelerators.isEmpty ? nil : kvmBootDeadline)
            let ending = boot.run(relay: relay)
            console = boot.console
            record.bootSeconds = boot.bootSeconds
            record.guestUptimeAtInit = boot.uptimeAtInit
            record.suiteSeconds = boot.suiteSeconds
            record.innerExitStatus = boot.innerExitStatus
            switch ending {
            case .noBoot where !accelerators.isEmpty:
                continue
            case .failed(let error):
                return finish(error)
            case .noBoot:
                return finish(.machine("the guest did not boot"))
            case .finished:
                do {
                    return finish(nil, report: try readReport(regionPath: regionPath))
                } catch {
                    let last = console.split(separator: "\n").suffix(5).joined(separator: " | ")
                    let status = boot.innerExitStatus.map { "the guest's `handoff run` exited with \($0)" }
                        ?? "the guest's `handoff run` did not finish"
                    return finish(.noReport("\(error.description) (\(status); last console lines: \(last))"))
                }
            }
        }
        return finish(.machine("no accelerator to try"))
    }

    /// The inner run's report, from the region the guest wrote it into.
    static func readReport(regionPath: String) throws(VMError) -> RunReport {
        let json: [UInt8]
        do {
            json = try ReportRegion.read(path: regionPath)
        } catch {
            throw .noReport(error.description)
        }
        do {
            return try JSONDecoder().decode(RunReport.self, from: Data(json))
        } catch {
            throw .noReport("the guest's report does not decode: \(error)")
        }
    }
}
