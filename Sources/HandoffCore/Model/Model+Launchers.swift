#if canImport(Glibc)
import Glibc
#endif

// Launchers under test, held to their hand-over protocol (LauncherHandover): what a service started by a
// launcher must find in its table, and nothing more. LISTEN_FDS (sd_listen_fds(3)): 0-2, then the listening
// sockets from 3. UCSPI (ucspi-tcp's tcpserver(1), ucspi-unix): the accepted connection at 0 and 1. inetd
// (inetd.conf(5), nowait): the connection at 0, 1 and 2. Inherit (bwrap, runc --preserve-fds): what the
// launcher inherited. In every protocol the launcher's own listening socket stays out of the service.

extension ReferenceModel {
    /// The process execs a launcher. The exec closes close-on-exec descriptors as usual; a LISTEN_FDS
    /// launcher then closes every other inherited descriptor but 0-2 (systemd-socket-activate's
    /// close_all_fds) and listens on its sockets, which land at the lowest free numbers from 3.
    /// UCSPI, inetd and inherit launchers close nothing they inherited (tcpserver and bwrap do not): what
    /// the launching process left open without close-on-exec reaches the service.
    mutating func launch(_ process: String, listen: [LaunchSocket], acceptMode: Bool, handover: LauncherHandover) -> Outcome {
        _ = exec(process)
        if handover == .listenFDs {
            let inherited = self[tableOf: process].filter { $0.key > 2 }.sorted { $0.key < $1.key }
            for (number, entry) in inherited {
                self[tableOf: process][number] = nil
                release(entry.description)
            }
        }
        for socket in listen {
            // In accept mode the launcher's own listening sockets are close-on-exec; otherwise they are
            // passed to the service (which then sees them without close-on-exec).
            let outcome = self.listen(process, address: socket.address, type: socket.type, closeOnExec: acceptMode,
                                      nonBlocking: false, backlog: Int32(somaxconn))
            if outcome.errno != 0 { return outcome }
        }
        return Outcome(result: 0)
    }

    /// The launcher started a service, adopted as `child`: descriptors 0-2 are the launcher's; then, in
    /// listening mode, its listening sockets from 3 in order; in accept mode, the first waiting connection
    /// (accepted by the launcher) at 3. With no connection waiting the launcher starts nothing: blocks.
    mutating func attach(_ launcher: String, child: String, acceptMode: Bool, handover: LauncherHandover) -> Outcome {
        guard processes[child] == nil else { return .failure(EEXIST) }
        if handover != .listenFDs { return attachInheriting(launcher, child: child, handover: handover) }
        let table = self[tableOf: launcher]
        let listeners = table.filter { $0.key > 2 }.sorted { $0.key < $1.key }.compactMap {
            entry -> (description: DescriptionID, endpoint: EndpointID, waiting: [EndpointID])? in
            guard case .socket(let endpoint) = descriptions[entry.value.description]?.target,
                let listener = endpoints[endpoint]?.listener
            else { return nil }
            return (entry.value.description, endpoint, listener.waiting)
        }
        guard let ready = listeners.first(where: { !$0.waiting.isEmpty }), let server = ready.waiting.first,
            processes[launcher] != nil
        else {
            return Outcome(blocks: true)
        }
        var entries: [Int32: TableEntry] = [:]
        for number: Int32 in 0...2 {
            if let entry = table[number] { entries[number] = TableEntry(description: entry.description, closeOnExec: false) }
        }
        startService(child, of: launcher, table: entries)
        if acceptMode {
            endpoints[ready.endpoint]?.listener?.waiting.removeFirst()
            let id = newDescription(.socket(endpoint: server), access: .readWrite, flags: [], offset: nil)
            place(child, number: 3, description: id, closeOnExec: false)
        } else {
            for (index, listener) in listeners.enumerated() {
                getFile(listener.description)
                self[tableOf: child][3 + Int32(index)] = TableEntry(description: listener.description,
                                                                    closeOnExec: false)
            }
        }
        return Outcome(result: nil)
    }

    /// UCSPI, inetd and inherit: the launcher forks (or execs) the service, so the service's table is the
    /// launcher's without its close-on-exec entries (do_close_on_exec) - its listening sockets are among
    /// those. UCSPI and inetd launchers first accept (one service per connection) and dup2 the connection
    /// onto 0 and 1 (inetd: 0, 1 and 2), closing the accepted number: tcpserver's and inetd's child does
    /// exactly that before execve.
    mutating func attachInheriting(_ launcher: String, child: String, handover: LauncherHandover) -> Outcome {
        let table = self[tableOf: launcher]
        var accepted: (listener: EndpointID, connection: EndpointID)?
        if !handover.passesOnWhatItInherited {
            for (_, entry) in table.sorted(by: { $0.key < $1.key }) {
                guard case .socket(let endpoint) = descriptions[entry.description]?.target,
                    let connection = endpoints[endpoint]?.listener?.waiting.first
                else { continue }
                accepted = (endpoint, connection)
                break
            }
            guard accepted != nil else { return Outcome(blocks: true) }
        }
        guard processes[launcher] != nil else { return Outcome(blocks: true) }
        var entries: [Int32: TableEntry] = [:]
        for (number, entry) in table where !entry.closeOnExec {
            entries[number] = TableEntry(description: entry.description, closeOnExec: false)
        }
        startService(child, of: launcher, table: entries)
        if let accepted {
            endpoints[accepted.listener]?.listener?.waiting.removeFirst()
            let connection = newDescription(.socket(endpoint: accepted.connection), access: .readWrite, flags: [], offset: nil)
            let numbers: [Int32] = handover == .inetd ? [0, 1, 2] : [0, 1]
            for number in numbers {
                if let previous = self[tableOf: child][number] {
                    self[tableOf: child][number] = nil
                    release(previous.description)
                }
                // The accepted number itself is closed after the dup2s: only these copies hold the connection.
                place(child, number: number, description: connection, closeOnExec: false)
            }
        }
        return Outcome(result: nil)
    }

    /// The launcher's service comes to life as `child` (exec'd by the launcher or its fork: full capabilities
    /// again, dumpable) with a private table of `entries`.
    mutating func startService(_ child: String, of launcher: String, table entries: [Int32: TableEntry]) {
        guard var service = processes[launcher] else { return }
        service.name = child
        service.parent = launcher
        service.state = .running
        service.tableID = privateCopy(of: entries)
        service.droppedCapabilities = []
        service.dumpable = true
        processes[child] = service
        order.append(child)
    }
}
