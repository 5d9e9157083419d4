// What the observation cache asks of the model: which processes a step changed, and the description a
// descriptor is expected to share (a hint for identity). Read-only; nothing here changes the model.

extension ReferenceModel {
    /// The model descriptions behind `process`'s descriptors, by number (nil where one is closed, and for
    /// every number when the process is not running). O(1), and O(1) per lookup.
    func descriptionLookup(of process: String) -> (Int32) -> DescriptionID? {
        guard processes[process]?.state == .running else { return { _ in nil } }
        let entries = self[tableOf: process]
        return { entries[$0]?.description }
    }

    /// The part of the model that decides what /proc shows of descriptors: processes, descriptor tables and
    /// open file descriptions. A copy shares storage with the model until the model changes (file contents,
    /// pipe buffers and sockets are not kept, so a later write never copies them).
    struct DescriptorState {
        fileprivate var processes: [String: ModelProcess]
        fileprivate var tables: [TableID: DescriptorTable]
        fileprivate var descriptions: [DescriptionID: OpenDescription]

        fileprivate func entries(of process: String) -> [Int32: TableEntry] {
            guard let id = processes[process]?.tableID else { return [:] }
            return tables[id]?.entries ?? [:]
        }
    }

    var descriptorState: DescriptorState {
        DescriptorState(processes: processes, tables: tables, descriptions: descriptions)
    }

    /// The running processes whose descriptors, as /proc shows them, the model says may differ from what
    /// they were at `earlier`: new processes, processes on another table or whose table entries changed
    /// (number, description or close-on-exec), and processes holding a description whose offset, status
    /// flags, access mode or object changed (a write through another process's copy moves the offset here).
    ///
    /// Linear in the model's size, with no copying: an unchanged table still shares its storage with the
    /// earlier state, so comparing it is one pointer comparison.
    func processesChanged(since earlier: DescriptorState) -> Set<String> {
        var changedDescriptions: Set<DescriptionID> = []
        for (id, now) in descriptions {
            // A description that is new here is reachable only through table entries that changed too.
            guard let before = earlier.descriptions[id] else { continue }
            if before.offset != now.offset || before.statusFlags != now.statusFlags || before.accessMode != now.accessMode
                || before.target != now.target || before.released != now.released
            {
                changedDescriptions.insert(id)
            }
        }
        var changed: Set<String> = []
        for name in order {
            guard let process = processes[name], process.state == .running else { continue }
            guard let previous = earlier.processes[name], previous.state == .running, previous.tableID == process.tableID
            else {
                changed.insert(name)
                continue
            }
            let entries = self[tableOf: name]
            if entries != earlier.entries(of: name)
                || (!changedDescriptions.isEmpty && entries.values.contains { changedDescriptions.contains($0.description) })
            {
                changed.insert(name)
            }
        }
        return changed
    }
}
