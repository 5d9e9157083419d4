// Event operations read from a step's arguments into the typed operation (OperationParser.swift
// dispatches here; the keys each accepts come from its declaration).

import Yams

extension ScenarioDecoder {
    func eventsOperation(_ familyKind: EventOperationKind, _ reader: inout OperationArguments) throws(ScenarioError)
        -> (ScenarioOperation, [String?])
    {
        let operation: EventOperation<ScenarioNaming>
        switch familyKind {
        case .pipe:
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            operation = .pipe(closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .eventfd:
            let flags = try reader.flags(["cloexec", "nonblock", "semaphore"])
            let initial = try reader.integer("initial", default: 0, in: 0...Int(UInt32.max))
            operation = .eventfd(initial: UInt32(initial), closeOnExec: flags.contains("cloexec"),
                                 nonBlocking: flags.contains("nonblock"), semaphore: flags.contains("semaphore"))
        case .epollCreate:
            operation = .epollCreate(closeOnExec: try reader.flags(["cloexec"]).contains("cloexec"))
        case .epollCtl:
            let epoll = try reader.ref("epoll")
            let op = try reader.keywordOrRaw("op", default: EpollControl.add)
            let target = try reader.ref("fd")
            var events: Set<EpollEvent> = [.in]
            if let node = reader.a["events"] {
                events = Set(try context.keywords(node, reader.a.what("events"), allowed: EpollEvent.allCases.map(\.rawValue))
                    .compactMap(EpollEvent.init(rawValue:)))
            }
            operation = .epollCtl(epoll: epoll, op: op, fd: target, events: events)
        case .epollWait:
            let epoll = try reader.ref("epoll")
            let maxEvents = try reader.integer("max", default: Int(ReadyRegistration.defaultMaximum),
                                              in: -1...Int(ReadyRegistration.maximumReported))
            let timeout = try reader.integer("timeout", default: 0, in: 0...Int(PollEvent.maximumTimeout))
            operation = .epollWait(epoll: epoll, maxEvents: Int32(maxEvents), timeout: Int32(timeout))
        case .poll:
            let fd = try reader.ref("fd")
            var events: Set<PollEvent> = [.in]
            if let node = reader.a["events"] {
                events = Set(try context.keywords(node, reader.a.what("events"), allowed: PollEvent.allCases.map(\.rawValue))
                    .compactMap(PollEvent.init(rawValue:)))
            }
            let timeout = Int32(try reader.integer("timeout", default: 0, in: 0...Int(PollEvent.maximumTimeout)))
            operation = .poll(fd: fd, events: events, timeout: timeout)
        case .signalfd:
            var signals: [String] = []
            if let node = reader.a["signals"] {
                signals = try context.keywords(node, reader.a.what("signals"), allowed: SignalName.allCases.map(\.rawValue))
            }
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            operation = .signalfd(mask: Set(signals.compactMap(SignalName.init(rawValue:))), closeOnExec: closeOnExec,
                                  nonBlocking: nonBlocking)
        case .timerfdCreate:
            let clock = TimerClock(rawValue: try reader.keyword("clock", default: "monotonic", TimerClock.allCases.map(\.rawValue)))
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            operation = .timerfdCreate(clock: clock ?? .monotonic, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        case .inotifyInit:
            let (closeOnExec, nonBlocking) = try reader.socketFlags()
            operation = .inotifyInit(closeOnExec: closeOnExec, nonBlocking: nonBlocking)
        }
        return (.events(operation), try reader.binds())
    }
}
