// s6's fd-holding daemon as a launcher under test: a launcher stores one of its descriptors with
// s6-fdholder-store, closes it, and execs s6-fdholder-retrieve, which fetches it back from the daemon and
// execs the service with it as standard input.

extension ReferenceModel {
    /// After the launcher's exec (launch()), for `launch: {handover: retrieve, stored: N}`:
    /// s6-fdholder-store sends N to s6-fdholderd in SCM_RIGHTS (unix_attach_fds takes a reference to the
    /// same struct file), and the daemon keeps it; s6-fdholder-retrieve receives it back (scm_detach_fds:
    /// receive_fd installs that same file) and moves it onto 0 (fd_move: dup2 then close) before its
    /// execve. So the service holds at 0 the open file description that was at N - same offset, same
    /// flags - and the launcher's N is closed. The description the daemon itself still holds is not the
    /// service's business (it keeps the file open as long as the scenario runs; nothing here observes it).
    mutating func storeAndRetrieve(_ process: String, stored: Int32) {
        guard let entry = self[tableOf: process][stored] else { return }
        self[tableOf: process][stored] = nil
        if let previous = self[tableOf: process][0] {
            self[tableOf: process][0] = nil
            release(previous.description)
        }
        self[tableOf: process][0] = TableEntry(description: entry.description, closeOnExec: false)
    }
}
