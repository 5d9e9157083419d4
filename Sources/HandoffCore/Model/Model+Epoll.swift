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
    mutating func epollCtl(_ process: String, epoll: Int32, op: EpollControl, fd: Int32, events: Set<EpollEvent>)
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
        case .mod:
            if existing == nil { return .failure(ENOENT) }
            epolls[object]?.interest[registration] = events
        case .del:
            if existing == nil { return .failure(ENOENT) }
            epolls[object]?.interest[registration] = nil
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
        }
    }

    /// The registrations of the epoll behind `fd` in `process`, for tests and checks: (number, events).
    public func epollInterest(_ process: String, fd: Int32) -> [(fd: Int32, events: Set<EpollEvent>)]? {
        guard case let (_, description)? = fdget(process, fd), case .epoll(let object) = description.target else { return nil }
        return (epolls[object]?.interest ?? [:]).map { ($0.key.fd, $0.value) }.sorted { $0.fd < $1.fd }
    }
}
