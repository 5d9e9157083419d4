#if canImport(Glibc)
import Glibc
#endif

// Launchers under test, held to the LISTEN_FDS protocol (sd_listen_fds(3)): what a service started by a
// systemd-style launcher must find in its table, and nothing more.

extension ReferenceModel {
    /// The process execs a launcher. The exec closes close-on-exec descriptors as usual; a LISTEN_FDS
    /// launcher then closes every other inherited descriptor but 0-2 (systemd-socket-activate's
    /// close_all_fds) and listens on its sockets, which land at the lowest free numbers from 3.
    mutating func launch(_ process: String, listen: [LaunchSocket], acceptMode: Bool) -> Outcome {
        _ = exec(process)
        let inherited = self[tableOf: process].filter { $0.key > 2 }.sorted { $0.key < $1.key }
        for (number, entry) in inherited {
            self[tableOf: process][number] = nil
            release(entry.description)
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
    mutating func attach(_ launcher: String, child: String, acceptMode: Bool) -> Outcome {
        guard processes[child] == nil else { return .failure(EEXIST) }
        let table = self[tableOf: launcher]
        let listeners = table.filter { $0.key > 2 }.sorted { $0.key < $1.key }.compactMap {
            entry -> (description: DescriptionID, endpoint: EndpointID, waiting: [EndpointID])? in
            guard case .socket(let endpoint) = descriptions[entry.value.description]?.target,
                let listener = endpoints[endpoint]?.listener
            else { return nil }
            return (entry.value.description, endpoint, listener.waiting)
        }
        guard let ready = listeners.first(where: { !$0.waiting.isEmpty }), let server = ready.waiting.first,
            var service = processes[launcher]
        else {
            return Outcome(blocks: true)
        }
        var entries: [Int32: TableEntry] = [:]
        for number: Int32 in 0...2 {
            if let entry = table[number] { entries[number] = TableEntry(description: entry.description, closeOnExec: false) }
        }
        let tableID = privateCopy(of: entries)
        service.name = child
        service.parent = launcher
        service.state = .running
        service.tableID = tableID
        service.droppedCapabilities = []
        service.dumpable = true
        processes[child] = service
        order.append(child)
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
}
