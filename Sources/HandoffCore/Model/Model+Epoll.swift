// epoll: an epoll instance is an open file description like any other (it can be duplicated, inherited and
// passed with SCM_RIGHTS, every copy naming the same interest list), and its registrations belong to the
// descriptions they watch, not to the numbers: fs/eventpoll.c.

#if canImport(Glibc)
import Glibc
#endif

extension ReferenceModel {
    /// epoll_create1(2): do_epoll_create - a new eventpoll, O_RDWR, close-on-exec with EPOLL_CLOEXEC.
    mutating func epollCreate(_ process: String, closeOnExec: Bool) -> Outcome {
        guard lowestFree(process, from: 0) != nil else { return .failure(EMFILE) }
        let object = nextEpoll.take()
        epolls[object] = EpollObject()
        return install(process, target: .epoll(object: object), access: .readWrite, flags: [], closeOnExec: closeOnExec)
    }

    /// epoll_ctl(2): do_epoll_ctl, in its order of checks.
    mutating func epollCtl(_ process: String, epoll: Int32, op raw: Int32, fd: Int32, events: Set<EpollEvent>)
        -> Outcome {
        // fdget() of both: a closed number or an O_PATH file is EBADF.
        guard case let (epollEntry, epollDescription)? = fdget(process, epoll), !epollDescription.pathOnly,
            case let (targetEntry, targetDescription)? = fdget(process, fd), !targetDescription.pathOnly
        else { return .failure(EBADF) }
        // "The target file descriptor must support poll": file_can_poll.
        guard canPoll(targetDescription.target) else { return .failure(EPERM) }
        // An epoll cannot watch itself, and only an epoll has an interest list.
        guard epollEntry.description != targetEntry.description, case .epoll(let object) = epollDescription.target else {
            return .failure(EINVAL)
        }
        // An op it does not know falls through every check above (the loop check is for EPOLL_CTL_ADD) to the
        // switch's default: EINVAL, nothing changed.
        guard let op = EpollControl(linux: raw) else { return .failure(EINVAL) }
        // ep_loop_check: adding an epoll that (through its own interest list) reaches this one is a loop, and
        // so is nesting deeper than EP_MAX_NESTS: the epoll levels below the added one, + 1, + the levels above
        // this one (ep_loop_check_proc, ep_get_upwards_depth_proc). Checked before ep_find (EEXIST).
        if op == .add, case .epoll(let inner) = targetDescription.target {
            if reaches(inner, object) { return .failure(ELOOP) }
            if levelsBelow(inner) + 1 + levelsAbove(object) > Self.epollMaxNests {
                guard epollNestingDepth else {
                    return .beyondModel("nesting epolls more than \(Self.epollMaxNests + 1) deep: this kernel does not "
                        + "count the depth both ways (feature epoll-nesting-depth), and the model does not follow its older rules")
                }
                return .failure(ELOOP)
            }
        }
        let registration = EpollRegistration(description: targetEntry.description, fd: fd)
        let existing = epolls[object]?.interest[registration]
        switch op {
        case .add:
            // ep_find found it: EEXIST; otherwise ep_insert.
            if existing != nil { return .failure(EEXIST) }
            epolls[object]?.interest[registration] = events
            // A full check (the epoll added to is itself watched, or an epoll is added): the new links may
            // give a file below too many wakeup paths (reverse_path_check): EINVAL, and the item goes again.
            var checked: [DescriptionID] = []
            if case .epoll(let inner) = targetDescription.target {
                checked = filesBelow(inner)
            } else if !watchers(ofEpoll: object).isEmpty {
                checked = [targetEntry.description]
            }
            if checked.contains(where: { !wakeupPathsWithinLimits(of: $0) }) {
                epolls[object]?.interest[registration] = nil
                return .failure(EINVAL)
            }
            arm(registration, events, in: object, linked: false)
        case .mod:
            if existing == nil { return .failure(ENOENT) }
            // Whether the item is on the ready list: kept for an edge-triggered one, not for a level-triggered one.
            let epoll = epolls[object]
            let linked: Bool? = existing?.contains(.et) == true && epoll?.edgeUnknown.contains(registration) == false
                ? epoll?.edgeQueued.contains(registration) : nil
            epolls[object]?.interest[registration] = events
            epolls[object]?.disarmed.remove(registration)
            arm(registration, events, in: object, linked: linked)
        case .del:
            if existing == nil { return .failure(ENOENT) }
            epolls[object]?.interest[registration] = nil
            epolls[object]?.disarmed.remove(registration)
            epolls[object]?.edgeQueued.remove(registration)
            epolls[object]?.edgeUnknown.remove(registration)
        }
        return Outcome(result: 0)
    }

    /// file_can_poll: whether the object's file_operations have ->poll. Regular files (and memfds, shmem)
    /// have none, nor do the runner's /dev/null and log file behind the inherited descriptors.
    func canPoll(_ target: DescriptionTarget) -> Bool {
        switch target {
        case .pipeRead, .pipeWrite, .pipeReadWrite, .socket, .pidfd, .eventfd, .epoll, .anonymous: return true
        case .file, .memfd, .inherited: return false
        }
    }

    /// epoll_wait(2): do_epoll_wait's checks, then ep_poll -> ep_send_events. A level-triggered registration
    /// is reported while its object's ->poll shows one of its events (or EPOLLERR, EPOLLHUP, which every
    /// registration has: do_epoll_ctl adds them); the data is the number it was registered under, whether or
    /// not that number is still open (the registration belongs to the description). A reported EPOLLONESHOT
    /// registration is disarmed until EPOLL_CTL_MOD. With nothing ready the call returns 0 at once, or after
    /// waiting out its timeout (no event can come while the scenario waits, as for poll).
    mutating func epollWait(_ process: String, epoll: Int32, maxEvents: Int32, timeout: Int32) -> Outcome {
        // "maxevents <= 0 || maxevents > EP_MAX_EVENTS", before the descriptor is looked at - or after, on
        // kernels that look it up first (6.18; the probe epoll-wait-descriptor-first).
        let description = fdget(process, epoll).map(\.description).flatMap { $0.pathOnly ? nil : $0 }
        if epollWaitDescriptorFirst && description == nil { return .failure(EBADF) }
        guard maxEvents > 0 else { return .failure(EINVAL) }
        guard let description else { return .failure(EBADF) }
        guard case .epoll(let object) = description.target else { return .failure(EINVAL) }  // !is_file_epoll
        let ready: ReadyList
        switch readyList(object) {
        case .uncertain(let reason): return .beyondModel("epoll_wait: \(reason)")
        case .known(let list): ready = list
        }
        var outcome = Outcome(result: Int64(min(ready.entries.count, Int(maxEvents))))
        outcome.ready = ready.entries.map(\.reported)
        outcome.readyMask = ready.compared
        let oneshot = ready.entries.filter { epolls[object]?.interest[$0.registration]?.contains(.oneshot) == true }
        if !oneshot.isEmpty {
            // Which ones ep_send_events takes first is its ready list's order (the order of wake-ups), which
            // the model does not keep: with more ready than `max` it cannot tell which one-shots are disarmed.
            guard ready.entries.count <= Int(maxEvents) else {
                return .beyondModel("epoll_wait: \(ready.entries.count) registrations are ready, more than max "
                    + "\(maxEvents), and some are EPOLLONESHOT: which the kernel reports (and disarms) is the order of wake-ups")
            }
            for entry in oneshot { epolls[object]?.disarmed.insert(entry.registration) }
        }
        // ep_send_events takes every queued item off the ready list; an edge-triggered one is not put back,
        // reported or not (one that is not ready is simply dropped). With more ready than `max` the scan stops
        // early, at a place the model cannot tell.
        if let epoll = epolls[object], !epoll.edgeQueued.isEmpty || !epoll.edgeUnknown.isEmpty {
            guard ready.entries.count <= Int(maxEvents) else {
                return .beyondModel("epoll_wait: \(ready.entries.count) registrations are ready, more than max "
                    + "\(maxEvents), beside edge-triggered ones: which the kernel takes off its ready list is the order of wake-ups")
            }
            epolls[object]?.edgeQueued = []
            epolls[object]?.edgeUnknown = []
        }
        return outcome
    }

    /// ep_insert and ep_modify: a registration that is ready when armed goes on the ready list unless it is there
    /// already (`if (revents && !ep_is_linked(epi))`) and wakes what polls this epoll; an edge-triggered one is
    /// then reported by the next wait, once. `linked`: whether the item was on the ready list (a new one is
    /// not; nil: not known). What the model cannot tell leaves the item, and the epoll's pollers, unknown.
    private mutating func arm(_ registration: EpollRegistration, _ events: Set<EpollEvent>, in object: EpollID, linked: Bool?) {
        epolls[object]?.edgeQueued.remove(registration)
        epolls[object]?.edgeUnknown.remove(registration)
        let asked = Self.reportable(events)
        let ready: Bool?
        switch itemPoll(registration, events) {
        case .known(let polled):
            ready = polled.mask & polled.compared & asked != 0 ? true : (asked & ~polled.compared != 0 ? nil : false)
        case .uncertain:
            ready = nil
        }
        if events.contains(.et) {
            switch ready {
            case true?: epolls[object]?.edgeQueued.insert(registration)
            case nil: epolls[object]?.edgeUnknown.insert(registration)
            case false?: break
            }
        }
        switch (ready, linked) {
        case (false?, _), (true?, true?): break
        case (true?, false?): wake(.epoll(object), key: Linux.EPOLLIN)
        default: wake(.epoll(object), key: Linux.EPOLLIN, followed: false)
        }
    }

    /// ep_item_poll: what the registration's object shows now (`vfs_poll(file)`), as epoll bits, with the bits the
    /// model is sure of; a nested epoll shows EPOLLIN while one of its own registrations is ready
    /// (ep_eventpoll_poll: its disarmed one-shots count as not ready, and looking does not disarm them).
    func itemPoll(_ registration: EpollRegistration, _ events: Set<EpollEvent>, depth: Int = 0)
        -> Readiness<(mask: UInt32, compared: UInt32)> {
        guard let description = descriptions[registration.description], !description.released else {
            return .known((0, ~UInt32(0)))
        }
        if case .epoll(let inner) = description.target {
            // (epoll_ctl keeps nesting within EP_MAX_NESTS; the bound only keeps this walk finite.)
            switch depth < Self.epollMaxNests ? readyList(inner, depth: depth + 1) : .known(ReadyList()) {
            case .uncertain(let reason): return .uncertain(reason)
            case .known(let list): return .known((list.entries.isEmpty ? 0 : Linux.EPOLLIN, ~UInt32(0)))
            }
        }
        if Self.reportable(events) & Linux.EPOLLOUT != 0, case .socket(let e) = description.target, let endpoint = endpoints[e],
           endpoint.family == .unix, endpoint.listener == nil, unixWritable(e) == nil {
            return .uncertain(sendBufferUncertainty(e, "a registration for EPOLLOUT"))
        }
        guard let polled = polledMask(description) else {
            return .uncertain("the registration of \(registration.fd) is on an object whose readiness the model "
                + "does not follow (a TCP or UDP socket, the inherited log)")
        }
        return .known(polled)
    }

    /// The events a registration can report: those it asks for among EPOLLIN, EPOLLOUT and EPOLLRDHUP, and
    /// EPOLLERR and EPOLLHUP always (do_epoll_ctl: `epds.events |= EPOLLERR | EPOLLHUP`).
    static func reportable(_ events: Set<EpollEvent>) -> UInt32 {
        (EpollEvent.linux(events) & (Linux.EPOLLIN | Linux.EPOLLOUT | Linux.EPOLLRDHUP)) | Linux.EPOLLERR | Linux.EPOLLHUP
    }

    /// The object's ->poll as epoll bits, and which of them the model is sure of; nil where it does not follow
    /// the object's readiness (Model+Poll.swift).
    func polledMask(_ description: OpenDescription) -> (mask: UInt32, compared: UInt32)? {
        guard let (polled, compared) = readiness(of: description) else { return nil }
        return (UInt32(UInt16(bitPattern: polled)), UInt32(UInt16(bitPattern: compared)))
    }

    /// What an epoll's registrations show now: those ready, and which event bits of them are compared.
    struct ReadyList {
        var entries: [(registration: EpollRegistration, reported: ReadyRegistration)] = []
        var compared = ~UInt32(0)
    }

    enum Readiness<Value> {
        case known(Value)
        case uncertain(String)
    }

    /// ep_send_events' ep_item_poll of every armed registration (`vfs_poll(file) & epi->event.events`), in
    /// number order (the kernel reports in its ready list's order, which the comparison ignores).
    func readyList(_ object: EpollID, depth: Int = 0) -> Readiness<ReadyList> {
        var list = ReadyList()
        guard let epoll = epolls[object] else { return .known(list) }
        for (registration, events) in epoll.interest.sorted(by: { ($0.key.fd, $0.key.description) < ($1.key.fd, $1.key.description) })
            where !epoll.disarmed.contains(registration) {
            guard descriptions[registration.description] != nil else { continue }
            // An edge-triggered item off the ready list is not looked at, however ready (ep_send_events walks
            // only the ready list).
            let offList = events.contains(.et) && !epoll.edgeQueued.contains(registration)
            if offList && !epoll.edgeUnknown.contains(registration) { continue }
            let asked = Self.reportable(events)
            let mask: UInt32, compared: UInt32
            switch itemPoll(registration, events, depth: depth) {
            case .uncertain(let reason): return .uncertain(reason)
            case .known(let polled): (mask, compared) = polled
            }
            let certain = mask & asked & compared
            if certain == 0 {
                // Nothing it certainly shows; a bit the model does not compare (a pidfd's EPOLLHUP once its process
                // has ended, which newer kernels set) would decide whether it is reported at all.
                if asked & ~compared != 0 {
                    return .uncertain("whether the registration of \(registration.fd) is reported depends on event bits "
                        + "that vary by kernel version")
                }
                continue
            }
            if offList {
                return .uncertain("the edge-triggered registration of \(registration.fd) is ready: whether epoll reports "
                    + "it depends on a wake-up the model does not follow since it was armed or last reported")
            }
            list.entries.append((registration, ReadyRegistration(fd: registration.fd, events: mask & asked)))
            list.compared &= compared | ~asked
        }
        return .known(list)
    }

    /// path_limits (fs/eventpoll.c): how many wakeup paths of each length a file may have through nested
    /// epolls, from 1 (a file in an epoll that is in another) to 5; a file directly in unwatched epolls has any
    /// number.
    static let wakeupPathLimits = [1000, 500, 100, 50, 10]

    /// The epolls with a registration matching `watches`, once per registration (an epitem each, wherever its
    /// number): a file's f_ep list, or an eventpoll's refs.
    func watchers(where watches: (EpollRegistration) -> Bool) -> [EpollID] {
        epolls.flatMap { (watcher, epoll) in epoll.interest.keys.filter(watches).map { _ in watcher } }
    }

    /// The epolls watching epoll `object` (ep->refs).
    func watchers(ofEpoll object: EpollID) -> [EpollID] {
        watchers { registration in
            if case .epoll(let watched)? = descriptions[registration.description]?.target { return watched == object }
            return false
        }
    }

    /// The non-epoll descriptions below epoll `object`, through nested epolls (what ep_loop_check_proc puts on
    /// the check list with list_file).
    func filesBelow(_ object: EpollID, depth: Int = 0) -> [DescriptionID] {
        guard let epoll = epolls[object], depth <= Self.epollMaxNests else { return [] }
        var files: [DescriptionID] = []
        for registration in epoll.interest.keys {
            if case .epoll(let inner)? = descriptions[registration.description]?.target {
                files += filesBelow(inner, depth: depth + 1)
            } else if !files.contains(registration.description) {
                files.append(registration.description)
            }
        }
        return files
    }

    /// reverse_path_check_proc from one file: every chain of epolls above it that ends at an unwatched one is a
    /// path, counted by its length against path_limits (path_count_inc); deeper than EP_MAX_NESTS is refused.
    func wakeupPathsWithinLimits(of file: DescriptionID) -> Bool {
        var counts = [Int](repeating: 0, count: Self.wakeupPathLimits.count)
        func within(_ watchers: [EpollID], depth: Int) -> Bool {
            if depth > Self.epollMaxNests { return false }
            for epoll in watchers {
                let above = self.watchers(ofEpoll: epoll)
                if above.isEmpty {
                    if depth == 0 { continue }  // "Allow an arbitrary number of depth 1 paths"
                    counts[depth] += 1
                    if counts[depth] > Self.wakeupPathLimits[depth] { return false }
                } else if !within(above, depth: depth + 1) {
                    return false
                }
            }
            return true
        }
        return within(watchers { $0.description == file }, depth: 0)
    }

    /// The objects an epoll's armed registrations watch (through nested epolls too), each with its direction:
    /// reads for EPOLLIN and EPOLLRDHUP, writes for EPOLLOUT - what a call asleep in epoll_wait waits on.
    func watchedTargets(_ object: EpollID, depth: Int = 0) -> [(target: DescriptionTarget, reads: Bool)] {
        guard let epoll = epolls[object], depth <= Self.epollMaxNests else { return [] }
        var watched: [(target: DescriptionTarget, reads: Bool)] = []
        for (registration, events) in epoll.interest where !epoll.disarmed.contains(registration) {
            guard let target = descriptions[registration.description]?.target else { continue }
            if !events.isDisjoint(with: [.in, .rdhup]) { watched.append((target, true)) }
            if events.contains(.out) { watched.append((target, false)) }
            if case .epoll(let inner) = target { watched += watchedTargets(inner, depth: depth + 1) }
        }
        return watched
    }

    /// Whether an epoll has items a report takes from the next caller: edge-triggered or one-shot ones.
    func hasConsumedItems(_ object: EpollID) -> Bool {
        epolls[object]?.interest.values.contains { !$0.isDisjoint(with: [.et, .oneshot]) } ?? false
    }

    /// EP_MAX_NESTS (fs/eventpoll.c).
    static let epollMaxNests = 4

    /// The most epoll levels below `epoll`: 0 when it watches no epoll (ep_loop_check_proc's depth).
    func levelsBelow(_ epoll: EpollID) -> Int {
        guard let object = epolls[epoll] else { return 0 }
        var deepest = 0
        for registration in object.interest.keys {
            if case .epoll(let inner)? = descriptions[registration.description]?.target {
                deepest = max(deepest, 1 + levelsBelow(inner))
            }
        }
        return deepest
    }

    /// The most epoll levels above `epoll`: 0 when no epoll watches it (ep_get_upwards_depth_proc).
    func levelsAbove(_ epoll: EpollID) -> Int {
        var highest = 0
        for (parent, object) in epolls where object.interest.keys.contains(where: {
            if case .epoll(let watched)? = descriptions[$0.description]?.target { return watched == epoll }
            return false
        }) {
            highest = max(highest, 1 + levelsAbove(parent))
        }
        return highest
    }

    /// Whether `start`'s interest list leads (through nested epolls) to `goal`.
    func reaches(_ start: EpollID, _ goal: EpollID) -> Bool {
        var seen: Set<EpollID> = []
        var pending = [start]
        while let current = pending.popLast() {
            if current == goal { return true }
            guard seen.insert(current).inserted, let object = epolls[current] else { continue }
            for registration in object.interest.keys {
                if case .epoll(let inner)? = descriptions[registration.description]?.target { pending.append(inner) }
            }
        }
        return false
    }

    /// eventpoll_release: the final fput of a watched description removes it from every interest list.
    mutating func forgetRegistrations(of description: DescriptionID) {
        guard !epolls.isEmpty else { return }
        for (object, epoll) in epolls where epoll.interest.keys.contains(where: { $0.description == description }) {
            epolls[object]?.interest = epoll.interest.filter { $0.key.description != description }
            epolls[object]?.disarmed = epoll.disarmed.filter { $0.description != description }
            epolls[object]?.edgeQueued = epoll.edgeQueued.filter { $0.description != description }
            epolls[object]?.edgeUnknown = epoll.edgeUnknown.filter { $0.description != description }
        }
    }

    /// The registrations of the epoll behind `fd` in `process`, for tests and checks: (number, events).
    public func epollInterest(_ process: String, fd: Int32) -> [(fd: Int32, events: Set<EpollEvent>)]? {
        guard case let (_, description)? = fdget(process, fd), case .epoll(let object) = description.target else { return nil }
        return (epolls[object]?.interest ?? [:]).map { ($0.key.fd, $0.value) }.sorted { $0.fd < $1.fd }
    }
}
