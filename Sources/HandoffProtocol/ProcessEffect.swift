// What an operation does to the picture of processes, declared once per operation (`effect:` in
// OperationDeclarations.swift). The validator (which processes exist, what they run, which tables they share)
// and the runner (how it talks to the agent) switch over this small enum, not over every operation, so that a
// plain operation - descriptors only - is added without touching either: `.none` is the default.

/// What an operation does to processes beyond their descriptors.
public enum ProcessEffect: String, Sendable, Equatable, CaseIterable {
    /// Descriptors only: the agent answers the request, the validator resolves and binds names (the default).
    case none
    /// Creates the process named by `as` (fork, clone_files): the agent hands the runner the child's control
    /// channel before it answers.
    case createsProcess = "creates-process"
    /// Replaces the process's image (exec): the new image says hello instead of an answer.
    case replacesImage = "replaces-image"
    /// Ends the process and the processes below it (exit): there is no answer.
    case endsProcess = "ends-process"
    /// Reaps a child the scenario names (wait): it must have ended, unless the step runs in the background.
    case reapsChild = "reaps-child"
    /// Acts on the process a pidfd refers to (pidfd_send_signal, waitid): which one is known at run time only
    /// (the pidfd may have arrived over SCM_RIGHTS), so the model, not the validator, decides what it does.
    case throughPidfd = "through-pidfd"
    /// Execs a launcher under test (launch): from then on the process is not an agent.
    case launches
    /// Adopts an agent a launcher started, named by `as` (attach): the runner's, never sent to an agent.
    case attaches
    /// Gives the caller a private copy of its descriptor table (unshare_files; close_range with `unshare`).
    case privatizesTable = "privatizes-table"
}

extension Operation {
    /// The child a fork or clone_files creates, and whether it shares the caller's table (clone_files).
    public var createdProcess: (child: Process, sharingTable: Bool)? {
        if case .processes(.fork(let child)) = self { return (child, false) }
        if case .processes(.cloneFiles(let child)) = self { return (child, true) }
        return nil
    }

    /// Whether the operation gives the caller a private table: unshare_files always, close_range with
    /// CLOSE_RANGE_UNSHARE (and no bit the kernel refuses).
    public var privatizesTable: Bool {
        if case .table(.unshareFiles) = self { return true }
        if case .table(.closeRange(_, _, let flags)) = self { return CloseRangeFlags.unshares(flags) }
        return false
    }
}
