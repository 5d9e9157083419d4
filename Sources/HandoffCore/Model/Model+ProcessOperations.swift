// Process operations applied to the model: the dispatch by operation, and the rules that belong to no
// one kernel object's file (ReferenceModel.apply dispatches here by family).

import Glibc
import HandoffProtocol

extension ReferenceModel {
    mutating func apply(processes operation: ProcessOperation<ResolvedNaming>, by process: String) -> Outcome {
        switch operation {
        case let .launch(_, _, _, listen, acceptMode, handover, preserve, stored):
            launchModes[process] = (handover, acceptMode)
            let outcome = launch(process, listen: listen, acceptMode: acceptMode, handover: handover)
            if let preserve { closeBeyondPreserved(process, count: preserve) }
            if let stored { storeAndRetrieve(process, stored: stored) }
            return outcome
        case let .attach(child):
            let mode = launchModes[process] ?? (.listenFDs, false)
            return attach(process, child: child, acceptMode: mode.accept, handover: mode.handover)
        case let .fork(child):
            return fork(process, child: child)
        case .exec:
            return exec(process)
        case let .exit(status):
            exit(process, state: .exited(status: status & 0xff))
            return Outcome()
        case let .wait(child):
            return wait(process, child: child)
        case let .pidfdOpen(target, flags):
            return pidfdOpen(process, target: target, flags: flags)
        case let .pidfdGetfd(target, fd, flags):
            return pidfdGetfd(process, target: target, fd: fd, flags: flags)
        case let .setrlimit(nofile):
            return setrlimit(process, nofile: nofile)
        case let .dropCapability(name):
            return dropCapability(process, name: name)
        case let .setDumpable(value):
            return setDumpable(process, value)
        case let .cloneFiles(child):
            return cloneFiles(process, child: child)
        case let .pidfdSendSignal(pidfd, signal):
            return pidfdSendSignal(process, pidfd: pidfd, signal: signal)
        case let .pidfdGetfdThrough(pidfd, _, fd, flags):
            return pidfdGetfdThrough(process, pidfd: pidfd, fd: fd, flags: flags)
        case let .waitid(pidfd, noHang):
            return waitid(process, pidfd: pidfd, noHang: noHang)
        }
    }

    /// The descriptor it needs a full (non-O_PATH) file for, which ReferenceModel.apply checks first (EBADF);
    /// nil when it takes none or checks O_PATH in its own rule, in the kernel's order.
    func fullFile(_ operation: ProcessOperation<ResolvedNaming>) -> Int32? {
        switch operation {
        case .fork, .exec, .exit, .wait, .waitid, .pidfdOpen, .pidfdGetfd, .pidfdGetfdThrough, .pidfdSendSignal,
             .setrlimit, .dropCapability, .setDumpable, .cloneFiles, .launch, .attach:
            return nil
        }
    }
}
