// The qemu command line for `run --kernel`, and whether KVM can be used.
//
// What the command line leaves out matters under TCG, where every emulated device probe and every byte of
// firmware costs: no default devices (-nodefaults: no VGA, no network card, no floppy), no display, two
// serial ports (ttyS0: the console; ttyS1: the reports), the kernel booted directly (no bootloader), and
// the guest's console quiet.

import Glibc

public enum Accelerator: String, Sendable, CaseIterable {
    /// KVM when /dev/kvm can run the guest, else TCG.
    case auto
    case kvm
    /// qemu's emulator: works everywhere, 2-200x slower per operation.
    case tcg
}

public struct MachineConfiguration: Sendable, Equatable {
    public var kernel: String
    public var initramfs: String
    /// The host file behind the guest's ttyS1.
    public var dataPath: String
    /// .kvm or .tcg (auto is decided before).
    public var accelerator: Accelerator
    public var cpus: Int
    public var memoryMiB: Int

    public init(kernel: String, initramfs: String, dataPath: String, accelerator: Accelerator, cpus: Int = 2,
                memoryMiB: Int = 1024) {
        self.kernel = kernel
        self.initramfs = initramfs
        self.dataPath = dataPath
        self.accelerator = accelerator
        self.cpus = cpus
        self.memoryMiB = memoryMiB
    }

    /// The guest kernel's command line. `mitigations=off`: under TCG, page-table isolation switches page
    /// tables on every system call, and each switch empties qemu's software TLB; the suite makes hundreds of
    /// thousands of calls. Speculation mitigations change no descriptor semantics. `panic=-1` with qemu's
    /// -no-reboot turns a panic into qemu's exit instead of a hang until the time limit.
    public static let kernelCommandLine = "console=ttyS0 quiet panic=-1 mitigations=off 8250.nr_uarts=2"

    public var arguments: [String] {
        var arguments = ["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-machine", "pc"]
        switch accelerator {
        case .kvm: arguments += ["-accel", "kvm", "-cpu", "host"]
        // thread=multi: one host thread per virtual CPU (MTTCG), so that -smp 2 runs two scenarios at once.
        default: arguments += ["-accel", "tcg,thread=multi"]
        }
        arguments += ["-smp", String(cpus), "-m", String(memoryMiB),
                      "-serial", "stdio", "-serial", "file:" + dataPath,
                      "-kernel", kernel, "-initrd", initramfs, "-append", Self.kernelCommandLine]
        return arguments
    }
}

public enum KVMProbe {
    /// nil when KVM looks usable; otherwise why not. Looks: /dev/kvm must open, and the kvm_pvm module (a
    /// paravirtual KVM some cloud VMs provide) must not be what backs it: it cannot run a stock kernel, whose
    /// guest then hangs without a word on its console. A KVM that opens but still cannot boot the guest is
    /// caught at run time (no boot marker in time: the run falls back to TCG).
    public static func problem() -> String? {
        let descriptor = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return "/dev/kvm: \(Errno.name(of: errno))" }
        close(descriptor)
        if access("/sys/module/kvm_pvm", F_OK) == 0 {
            return "/dev/kvm is kvm_pvm's, which cannot run a stock kernel"
        }
        return nil
    }
}
