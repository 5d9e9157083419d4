// Why a `run --kernel` could not produce a report. These are the harness's failures (a missing kernel, qemu
// that would not start, a guest that never answered), reported as ERROR, never as a finding about the kernel.

/// A failure to set up, boot or read back a virtual machine run.
public enum VMError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `--kernel` names nothing usable; the text says what was looked for and what exists.
    case kernelNotFound(String)
    /// A program the run needs (qemu, busybox) is missing; the text names the package.
    case missingProgram(String)
    /// Building the initramfs failed (a file that cannot be read or written).
    case image(String)
    /// qemu could not be started or ended before the guest reported.
    case machine(String)
    /// The guest did not report within the time limit.
    case timedOut(seconds: Double, lastConsoleLine: String)
    /// The guest ended without a readable report.
    case noReport(String)
    case interrupted

    public var description: String {
        switch self {
        case .kernelNotFound(let text), .missingProgram(let text), .image(let text), .machine(let text),
             .noReport(let text):
            return text
        case .timedOut(let seconds, let line):
            return "the virtual machine did not report within \(formatSeconds(seconds)) (--vm-timeout); "
                + (line.isEmpty ? "its console stayed silent" : "last console line: \(line)")
        case .interrupted:
            return "interrupted"
        }
    }
}
