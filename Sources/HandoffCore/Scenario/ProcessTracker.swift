// The picture of a scenario's processes that the validator (before the run) and the runner (during it) both
// keep: who exists, who is whose parent, which processes share one descriptor table (clone_files), and
// which descriptor names each process has. Names follow descriptors across fork and exec, and a name bound
// in a shared table is bound for every process using it. The validator tracks that a name exists
// (Value = Void), the runner the number it stands for (Value = Int32).

struct ProcessTracker<Value> {
    private struct Entry {
        var parent: String?
        var table: Int
        var names: [String: Value]
    }

    private var entries: [String: Entry] = ["main": Entry(parent: nil, table: 0, names: [:])]
    /// Creation order.
    private(set) var order = ["main"]
    private var nextTable = 1

    func contains(_ process: String) -> Bool { entries[process] != nil }

    func parent(of process: String) -> String? { entries[process]?.parent }

    func names(of process: String) -> [String: Value] { entries[process]?.names ?? [:] }

    func value(of name: String, in process: String) -> Value? { entries[process]?.names[name] }

    /// Every process sharing `process`'s descriptor table, itself included, in creation order.
    func sharingTable(with process: String) -> [String] {
        guard let table = entries[process]?.table else { return [process] }
        return order.filter { entries[$0]?.table == table }
    }

    /// Binds `name` in `process` and in every process sharing its table.
    mutating func bind(_ name: String, to value: Value, in process: String) {
        for member in sharingTable(with: process) { entries[member]?.names[name] = value }
    }

    /// A child created by fork (a private copy of the table and its names) or clone_files (the same table).
    mutating func fork(_ child: String, of parent: String, sharingTable: Bool) {
        guard let source = entries[parent] else { return }
        entries[child] = Entry(parent: parent, table: sharingTable ? source.table : newTable(), names: source.names)
        order.append(child)
    }

    /// A process a launcher started (attach), with a table of its own. A LISTEN_FDS launcher renumbers what
    /// it passes, so the service has no names; the others pass descriptors at the numbers the launcher
    /// inherited them at (`inheritingNames`), so the launcher's names stay meaningful in the service.
    mutating func adopt(_ child: String, by parent: String, inheritingNames: Bool = false) {
        let names = inheritingNames ? entries[parent]?.names ?? [:] : [:]
        entries[child] = Entry(parent: parent, table: newTable(), names: names)
        order.append(child)
    }

    /// The process leaves a shared table (exec, unshare, CLOSE_RANGE_UNSHARE): its names stay, later ones
    /// are its own.
    mutating func privatize(_ process: String) {
        let table = newTable()
        entries[process]?.table = table
    }

    private mutating func newTable() -> Int {
        defer { nextTable += 1 }
        return nextTable
    }
}
