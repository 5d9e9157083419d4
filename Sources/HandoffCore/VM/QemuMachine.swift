// The qemu command line for `run --kernel`, and whether KVM can be used.
//
// What the command line leaves out matters under TCG, where every emulated device probe and every byte of
// firmware costs: no default devices (-nodefaults: no VGA, no network card, no floppy), no display, one
// serial port (ttyS0: the console), the report region (ReportRegion.swift), the kernel booted directly (no
// bootloader), and the guest's console quiet.

import CHandoff
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
    /// The host file behind the guest's report region (ReportRegion).
    public var reportRegionPath: String
    /// .kvm or .tcg (auto is decided before).
    public var accelerator: Accelerator
    public var cpus: Int
    public var memoryMiB: Int
    /// The guest's loops_per_jiffy, given to it (`lpj=`) so that no CPU calibrates its delay loop; nil: the
    /// kernel calibrates. See `DelayCalibration`.
    public var loopsPerJiffy: Int?

    public init(kernel: String, initramfs: String, reportRegionPath: String, accelerator: Accelerator, cpus: Int = 2,
                memoryMiB: Int = 1024, loopsPerJiffy: Int? = nil) {
        self.kernel = kernel
        self.initramfs = initramfs
        self.reportRegionPath = reportRegionPath
        self.accelerator = accelerator
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.loopsPerJiffy = loopsPerJiffy
    }

    /// The guest kernel's command line. `mitigations=off`: under TCG, page-table isolation switches page
    /// tables on every system call, and each switch empties qemu's software TLB; the suite makes hundreds of
    /// thousands of calls. Speculation mitigations change no descriptor semantics. `rodata=off`: no
    /// write-protecting of the kernel's read-only data and no W+X walk of every page table after it (about
    /// 0.3 s of boot under TCG), hardening a throwaway guest does not need and no descriptor rule depends on.
    /// `panic=-1` with qemu's -no-reboot turns a panic into qemu's exit instead of a hang until the time limit.
    /// `random.trust_cpu=on`: the random pool is seeded from RDRAND at boot (see `arguments`), whatever the
    /// kernel's CONFIG_RANDOM_TRUST_CPU says. `cryptomgr.notests=1` and `initcall_blacklist=crypto_kdf108_init`:
    /// Debian's kernels test every crypto algorithm they register at boot (alg_test, and the KDF's own
    /// kdf_test, which also waits for the initramfs to be unpacked since it asks for a module): 0.2-0.4 s of
    /// boot under TCG, for algorithms no scenario uses (initcall_debug showed crypto_algapi_init at 212 ms on
    /// 6.1 and crypto_kdf108_init at 374 ms on 6.12; /init came 0.3-0.4 s sooner on both without them).
    /// Not honoured in FIPS mode, which the guest is not in. `rootfstype=ramfs`: the initramfs is unpacked into
    /// ramfs instead of tmpfs (init/do_mounts.c picks tmpfs unless told otherwise); tmpfs's write path (shmem
    /// folios, memory-cgroup charges) made the 104 MB unpack, which /init waits for, about 0.4 s longer under
    /// TCG (/init at 1.28-1.74 s against 1.85-1.86 s on 6.12, four boots each). The scenarios' folders are on
    /// the tmpfs /init mounts at /tmp, as on a host; nothing else writes to the root.
    public static let baseCommandLine = "console=ttyS0 quiet panic=-1 mitigations=off rodata=off 8250.nr_uarts=1 "
        + "random.trust_cpu=on cryptomgr.notests=1 initcall_blacklist=crypto_kdf108_init rootfstype=ramfs"

    /// The command line with this machine's `lpj=`, if any.
    public var kernelCommandLine: String {
        Self.baseCommandLine + (loopsPerJiffy.map { " lpj=\($0)" } ?? "")
    }

    public var arguments: [String] {
        var arguments = ["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-machine", "pc"]
        switch accelerator {
        case .kvm: arguments += ["-accel", "kvm", "-cpu", "host"]
        // thread=multi: one host thread per virtual CPU (MTTCG), so that -smp 2 runs two scenarios at once.
        // +rdrand: qemu's default CPU has no RDRAND, so a guest booted without a bootloader's seed (PVH) has an
        // empty random pool, and the runner's first getrandom() (the Swift runtime seeds its hashing at start)
        // blocked while the kernel gathered timer jitter: 1.2 s of every run under TCG (a guest profile showed
        // it in try_to_generate_entropy; the runner's first result came 2.6-2.7 s after /init's start, with it
        // 1.4-1.5 s). Only that flag: `-cpu max` also offers AVX, which glibc's string functions then use and
        // TCG emulates at a higher cost.
        default: arguments += ["-accel", "tcg,thread=multi", "-cpu", "qemu64,+rdrand"]
        }
        arguments += ["-smp", String(cpus), "-m", String(memoryMiB), "-serial", "stdio"]
        arguments += ReportRegion.qemuArguments(path: reportRegionPath)
        arguments += ["-kernel", kernel, "-initrd", initramfs, "-append", kernelCommandLine]
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

/// What the guest's delay loop would calibrate to, worked out on the host instead. Every CPU the guest brings
/// up calibrates its delay loop unless told the value: the first from the time-stamp counter's frequency at
/// once, each other one (qemu's default CPU has no invariant-TSC flag, so calibrate_delay_is_known() cannot
/// reuse the first's) by calibrate_delay_direct(), which counts timer ticks: half a second of every boot
/// under TCG. The value the first CPU computes is the counter's frequency divided by the kernel's HZ
/// (tsc_init -> lpj_fine); under TCG the guest's counter is the host's (qemu reads the host counter for
/// RDTSC), so the host measures the same frequency and gives it as `lpj=`. A value off by a few parts in a
/// thousand only scales udelay() as much, which an emulated machine does not notice.
public enum DelayCalibration {
    /// loops_per_jiffy for a guest kernel of `hz` on this host's time-stamp counter; nil when there is no
    /// usable counter (not x86) or no HZ.
    public static func loopsPerJiffy(hz: Int?) -> Int? {
        guard let hz, hz > 0, let hertz = timeStampCounterHertz() else { return nil }
        return hertz / hz
    }

    /// CONFIG_HZ from a kernel's config file (`CONFIG_HZ=250`); nil when there is none.
    public static func hz(config: String) -> Int? {
        for line in config.split(separator: "\n") where line.hasPrefix("CONFIG_HZ=") {
            return Int(line.dropFirst("CONFIG_HZ=".count))
        }
        return nil
    }

    /// The counter's ticks per second against CLOCK_MONOTONIC over 20 ms, rounded to a kHz (the kernel's
    /// tsc_khz is in kHz too); nil without a counter.
    static func timeStampCounterHertz() -> Int? {
        let ticks0 = handoff_ticks()
        guard ticks0 != 0 else { return nil }
        let nanoseconds0 = monotonicNow()
        usleep(20_000)  // cut short by a signal, it is a shorter window, measured all the same
        let ticks1 = handoff_ticks()
        let nanoseconds1 = monotonicNow()
        guard ticks1 > ticks0, nanoseconds1 > nanoseconds0 else { return nil }
        let hertz = Double(ticks1 - ticks0) * 1e9 / Double(nanoseconds1 - nanoseconds0)
        return Int((hertz / 1000).rounded()) * 1000
    }
}
