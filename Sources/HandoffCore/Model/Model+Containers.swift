// OCI runtimes as launchers under test: `runc run --detach --preserve-fds N` (and crun's, which follows runc).
// The container's process gets the runtime's 0-2 (with --detach; in the foreground runc copies through pipes
// of its own), a /dev/null among them reopened inside the container; then the LISTEN_FDS sockets (when the
// runtime was socket-activated), then N more descriptors from its caller - and nothing else. A descriptor
// of the runtime itself, or of its caller beyond the preserved range, reaching the container is the leak
// class of runc CVE-2024-21626.

extension ReferenceModel {
    /// After the launcher's exec (close-on-exec entries already gone, launch()), for `launch: {preserve: N}`:
    ///
    /// - runc's container init (libcontainer standard_init_linux.go) calls utils.CloseExecFrom(3 +
    ///   PassedFilesCount), PassedFilesCount being LISTEN_FDS plus --preserve-fds: FD_CLOEXEC on every
    ///   descriptor from there up, which the execve of the container's process closes (do_close_on_exec);
    ///   crun's container init does the same. `count` is what the runtime passes: LISTEN_FDS plus N.
    /// - libcontainer's reOpenDevNull (rootfs_linux.go; crun likewise): each of 0-2 that is the host's
    ///   /dev/null is replaced (dup3) by a fresh open("/dev/null", O_RDWR) inside the container - a new open
    ///   file description, read-write, at the same number.
    mutating func closeBeyondPreserved(_ process: String, count: Int32) {
        let first = 3 + Int64(count)
        let closed = self[tableOf: process].filter { Int64($0.key) >= first }
        for (number, entry) in closed {
            self[tableOf: process][number] = nil
            release(entry.description)
        }
        for number: Int32 in 0...2 {
            guard let entry = self[tableOf: process][number], case .inherited(let what) = descriptions[entry.description]?.target,
                what.contains("/dev/null")
            else { continue }
            self[tableOf: process][number] = nil
            release(entry.description)
            let reopened = newDescription(.inherited(what), access: .readWrite, flags: [], offset: nil)
            place(process, number: number, description: reopened, closeOnExec: false)
        }
    }
}
