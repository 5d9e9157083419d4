// A step right after `unix_gc` that answers differently before and after the collector has run.

import HandoffProtocol

extension ScenarioExecution {
    /// The model as it was before a `unix_gc` step collected something (or before a collection the kernel's
    /// answer showed was adopted), kept and carried along every step after it until a step shows the
    /// collection has happened.
    ///
    /// The model collects at the `unix_gc` step; the kernel only queues the collector there (a workqueue), and
    /// the last references of what it frees go with delayed fput. A step after it whose answer depends on the
    /// collection must wait for it: a poll with a timeout of events only the collection brings, or a blocking
    /// call that only the collection lets return (the kernel returns once it ran, so the model's answer
    /// holds). A step that does not wait - a poll asking for events that already hold before the collection,
    /// a non-blocking read - answers whichever way the race went: past what the model follows, an ERROR
    /// with both answers, never a finding against the kernel (found porting FIFO tests: a poll for POLLOUT of a
    /// writer whose reader died in a cycle said POLLOUT alone, the collector not having run yet).
    ///
    /// Returns the ERROR's reason for such a step; otherwise carries the saved model across the step, or
    /// drops it once a step waited for the collection (or the two no longer differ on anything).
    func collectionRace(_ operation: Operation, by process: String, predicted: Outcome) -> String? {
        guard var early = beforeCollection else { return nil }
        // A background call still asleep may complete on the model alone: judged as before from then on.
        // (Calls already answered or gone with their process are in both.)
        guard pending.values.allSatisfy({ $0.completed != nil || $0.endedWithProcess }) else {
            beforeCollection = nil
            return nil
        }
        early.harnessNumbers = model.harnessNumbers
        let answer = early.apply(operation, by: process)
        if answer == predicted {
            beforeCollection = early
            return nil
        }
        beforeCollection = nil
        let waits = answer.blocks || ((operation.eventTimeout ?? 0) != 0 && answer.errno == 0 && answer.result == 0)
        if waits { return nil }
        return "before any step waited for the AF_UNIX collector's work it answers \(answer.summary(dataAround: nil)) if "
            + "the collector has not run (or released) yet and \(predicted.summary(dataAround: nil)) once it has: which is "
            + "timing (the collector runs in a workqueue, its releases with delayed fput); "
            + "wait for the collection first with a step only it satisfies (a poll with a timeout of events the "
            + "collection brings, a blocking read)"
    }
}
