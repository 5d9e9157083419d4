// perform(operation) -> answer: exactly one system call per operation (socket+bind+listen and the like
// aside), timed. Requests and loops both come here.

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    /// Whether a descriptor argument is a control channel: it must behave as if the number were free, since
    /// the model never sees channels.
    func isChannel(_ fd: Int32) -> Bool { fd == control || hidden.contains(fd) }

    /// A single request: the outcome of `operation`; nil when there is nothing to answer (exit, the child side
    /// of a fork). Throws when the agent refuses the operation (the harness cannot do it faithfully): an
    /// error, never a kernel outcome.
    mutating func perform(_ operation: Operation<WireNaming>) throws(ProtocolError) -> Answer? {
        var answer = Answer(result: 0)
        let step: Operation<LoopNaming> = operation.map(
            descriptor: { number, _ in .number(number) }, process: { $0 }, address: { $0 }, text: { $0 })
        refusal = nil
        keepingData = true
        let answered = Agent.performer(for: step)(&self, &answer)
        if let refusal { throw refusal }
        return answered ? answer : nil
    }

    /// Performs an operation on `agent` (its loop slots resolved from `agent.slots`), writing the outcome into
    /// the answer (reused by loops, so that the hot path allocates nothing); false when there is nothing to
    /// answer.
    /// A refusal is left in `Agent.refusal` (not thrown: a throwing closure type costs a reabstraction thunk
    /// on every call of the hot loop).
    typealias Performer = (inout Agent, inout Answer) -> Bool

    /// How to perform `operation`: the one place that says, for every operation, which system call it is.
    /// A loop builds its performers once and calls them every iteration (no enum is copied or matched on
    /// the hot path); a single request builds one and calls it once.
    static func performer(for operation: Operation<LoopNaming>) -> Performer {
        switch operation {
        case .open(let path, let flags, let mode):
            return { agent, answer -> Bool in
                answer.record(timed { open(path, OpenFlag.linux(flags), mode_t(mode)) }, producing: true)
                return true
            }
        case .pipe(let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                var ends: [Int32] = [-1, -1]
                let flags = (closeOnExec ? Linux.O_CLOEXEC : 0) | (nonBlocking ? Linux.O_NONBLOCK : 0)
                answer.record(timed { handoff_pipe2(&ends, flags) }, producing: ends)
                return true
            }
        case .socketpair(let type, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                var ends: [Int32] = [-1, -1]
                let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
                answer.record(timed { socketpair(AF_UNIX, type.linux | flags, 0, &ends) }, producing: ends)
                return true
            }
        case .memfd(let name, let closeOnExec, let allowSealing):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.MFD_CLOEXEC : 0) | (allowSealing ? Linux.MFD_ALLOW_SEALING : 0)
                answer.record(timed { handoff_memfd_create(name, flags) }, producing: true)
                return true
            }
        case .eventfd(let initial, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.EFD_CLOEXEC : 0) | (nonBlocking ? Linux.EFD_NONBLOCK : 0)
                answer.record(timed { handoff_eventfd(initial, flags) }, producing: true)
                return true
            }
        case .epollCreate(let closeOnExec):
            return { agent, answer -> Bool in
                answer.record(timed { handoff_epoll_create1(closeOnExec ? Linux.EPOLL_CLOEXEC : 0) }, producing: true)
                return true
            }
        case .epollCtl(let epollOperand, let op, let fdOperand, let events):
            return { agent, answer -> Bool in
                let epoll = epollOperand.value(agent.slots), fd = fdOperand.value(agent.slots)
                if agent.isChannel(epoll) || agent.isChannel(fd) { answer.fail(EBADF); return true }
                answer.record(timed { handoff_epoll_ctl(epoll, op.linux, fd, EpollEvent.linux(events)) })
                return true
            }
        case .dup(let operand):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                answer.record(timed { dup(fd) }, producing: true)
                return true
            }
        case .dup2(let operand, let target):
            return { agent, answer -> Bool in
                agent.duplicate(operand.value(agent.slots), onto: target.value(agent.slots), flags: nil, into: &answer)
                return true
            }
        case .dup3(let operand, let target, let flags):
            return { agent, answer -> Bool in
                agent.duplicate(operand.value(agent.slots), onto: target.value(agent.slots), flags: flags, into: &answer)
                return true
            }
        case .fcntl(let operand, let command):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                let (cmd, argument) = command.linux
                answer.record(timed { handoff_fcntl_int(fd, cmd, argument) }, producing: command.duplicates)
                return true
            }
        case .close(let operand):
            let call = CloseCall(operand)
            return { agent, answer -> Bool in
                call.perform(&agent, &answer)
                return true
            }
        case .closeRange(let first, let last, let closeOnExec, let unshare):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.CLOSE_RANGE_CLOEXEC : 0) | (unshare ? Linux.CLOSE_RANGE_UNSHARE : 0)
                let result = agent.closeRangeAroundChannels(first, last, flags)
                // CLOSE_RANGE_UNSHARE leaves a private table that still holds the other agents' channels.
                if unshare && result.value == 0 { for channel in agent.hidden { close(channel) } }
                answer.record(result)
                return true
            }
        case .lseek(let operand, let offset, let whence):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                answer.record(timed { Int(lseek(fd, off_t(offset), whence.linux)) })
                return true
            }
        case .read(let operand, let count):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                let buffer = agent.io
                let result = timed { Glibc.read(fd, buffer.baseAddress, min(count, buffer.count)) }
                answer.record(result)
                if result.value >= 0 && agent.keepingData { answer.data = Array(buffer[0..<min(result.value, buffer.count)]) }
                return true
            }
        case .write(let operand, let data):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                answer.record(timed { data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } })
                return true
            }
        case .setsockopt(let operand, let option, let value):
            return socketOptionSetter(operand, option, value)
        case .getsockopt(let operand, let option):
            return socketOptionGetter(operand, option)
        case .shutdown(let operand, let how):
            return { agent, answer -> Bool in
                let socket = operand.value(agent.slots)
                if agent.isChannel(socket) { answer.fail(EBADF); return true }
                answer.record(timed { Glibc.shutdown(socket, how.linux) })
                return true
            }
        case .poll(let operand, let events, let timeout):
            // The result is the descriptor's revents (poll's count is 0 or 1 and says nothing more).
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.result = Int64(Linux.POLLNVAL); answer.errno = 0; return true }
                var entry = pollfd(fd: fd, events: PollEvent.linux(events), revents: 0)
                let call = timed { Glibc.poll(&entry, 1, timeout) }
                answer.record(call)
                if call.value >= 0 { answer.result = Int64(entry.revents) }
                return true
            }
        case .unixGC:
            // unix_release_sock schedules unix_gc while AF_UNIX sockets are in flight: releasing a fresh pair
            // is the one way a process can ask for a collection.
            return { agent, answer -> Bool in
                var ends: [Int32] = [-1, -1]
                let call = timed { socketpair(AF_UNIX, SocketType.stream.linux, 0, &ends) }
                answer.record(call)
                if call.value >= 0 {
                    Glibc.close(ends[0])
                    Glibc.close(ends[1])
                }
                return true
            }
        case .send(let operand, let operands, let data, let sendFlags):
            let call = SendCall(operand, operands, data, sendFlags)
            return { agent, answer -> Bool in
                call.perform(&agent, &answer)
                return true
            }
        case .sendHeaders(let operand, let operands, let headers, let cmsgLength, let data):
            let counts = headers.map { Int32($0) }
            return { agent, answer -> Bool in
                let socket = operand.value(agent.slots)
                let passing = operands.map { $0.value(agent.slots) }
                if agent.isChannel(socket) || passing.contains(where: { agent.isChannel($0) }) { answer.fail(EBADF); return true }
                answer.record(passing.withUnsafeBufferPointer { numbers in
                    counts.withUnsafeBufferPointer { split in
                        data.withUnsafeBytes { bytes in
                            timed {
                                handoff_send_headers(socket, numbers.baseAddress, split.baseAddress, Int32(split.count),
                                                     cmsgLength ?? -1, bytes.baseAddress, bytes.count, Linux.MSG_NOSIGNAL)
                            }
                        }
                    }
                })
                return true
            }
        case .recv(let operand, let count, let room, let closeOnExec, let nonBlocking, let more, let control):
            let call = RecvCall(operand, count, room, closeOnExec, nonBlocking, more, control)
            return { agent, answer -> Bool in
                call.perform(&agent, &answer)
                return true
            }
        case .fork:
            return { agent, answer -> Bool in
                guard let forked = agent.fork(sharingTable: false) else { return false }
                answer = forked
                return true
            }
        case .cloneFiles:
            return { agent, answer -> Bool in
                guard let forked = agent.fork(sharingTable: true) else { return false }
                answer = forked
                return true
            }
        case .unshareFiles:
            return { agent, answer -> Bool in
                let result = timed { handoff_unshare_files() }
                if result.value == 0 { for channel in agent.hidden { close(channel) } }
                answer.record(result)
                return true
            }
        case .exec(let newArguments, let environment):
            return { agent, answer -> Bool in
                answer = agent.exec(newArguments, environment: environment)
                return true
            }
        case .launch(let program, let newArguments, let environment, _, _, _, _, _):
            return { agent, answer -> Bool in
                answer = agent.launch(program, newArguments, environment: environment)
                return true
            }
        case .exit(let status):
            return { agent, answer -> Bool in
                _exit(status)
            }
        case .wait(let child):
            return { agent, answer -> Bool in
                var status: Int32 = 0
                let result = timed { waitpid(child.pid, &status, 0) }
                answer.record(result)
                if result.value > 0 { answer.waitStatus = status }
                return true
            }
        case .listen(let address, let type, let closeOnExec, let nonBlocking, let backlog):
            return { agent, answer -> Bool in
                let (kind, name, port) = Agent.cAddress(address)
                var bound: Int32 = 0
                let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
                let result = timed { handoff_listen(kind, name, port, type.linux | flags, backlog, &bound) }
                answer.record(result, producing: true)
                if result.value >= 0, case .tcp = address { answer.port = UInt16(truncatingIfNeeded: bound) }
                return true
            }
        case .connect(let address, let type, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let (kind, name, port) = Agent.cAddress(address)
                let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
                answer.record(timed { handoff_connect(kind, name, port, type.linux | flags) }, producing: true)
                return true
            }
        case .accept(let operand, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let socket = operand.value(agent.slots)
                if agent.isChannel(socket) { answer.fail(EBADF); return true }
                let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
                answer.record(timed { handoff_accept4(socket, flags) }, producing: true)
                return true
            }
        case .setrlimit(let nofile):
            return { agent, answer -> Bool in
                var limit = rlimit()
                getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
                limit.rlim_cur = rlim_t(nofile)
                answer.record(timed { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) })
                return true
            }
        case .dropCapability(let name):
            return { agent, answer -> Bool in
                let capability = handoff_capability_from_name(name)
                if capability < 0 { answer.fail(EINVAL); return true }
                answer.record(timed { handoff_drop_capability(capability) })
                return true
            }
        case .setDumpable(let dumpable):
            return { agent, answer -> Bool in
                answer.record(timed { handoff_set_dumpable(dumpable ? 1 : 0) })
                return true
            }
        case .reopen(let target, let operand, let flags):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                // The channels in the target's table (its own, and the runner's `hidden` list of the others) are
                // invisible: /proc/PID/fd/N of one must look like a free number.
                if fd == target.channel || agent.hidden.contains(fd) { answer.fail(ENOENT); return true }
                let path = "/proc/\(target.pid)/fd/\(fd)"
                answer.record(timed { open(path, OpenFlag.linux(flags), 0) }, producing: true)
                return true
            }
        case .pidfdSendSignal(let operand, let signal):
            return { agent, answer -> Bool in
                let pidfd = operand.value(agent.slots)
                if agent.isChannel(pidfd) { answer.fail(EBADF); return true }
                answer.record(timed { handoff_pidfd_send_signal(pidfd, signal.linux) })
                return true
            }
        case .waitid(let operand, let noHang):
            return { agent, answer -> Bool in
                let pidfd = operand.value(agent.slots)
                if agent.isChannel(pidfd) { answer.fail(EBADF); return true }
                var status: Int32 = -1
                answer.record(timed { handoff_waitid_pidfd(pidfd, noHang ? Linux.WNOHANG : 0, &status) })
                // -1: WNOHANG and the child has not exited (no status to report).
                if answer.errno == 0 && status >= 0 { answer.waitStatus = status }
                return true
            }
        case .pidfdOpen(let target):
            return { agent, answer -> Bool in
                answer.record(timed { handoff_pidfd_open(target.pid, 0) }, producing: true)
                return true
            }
        case .pidfdGetfd(let target, let operand, let flags):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                // A transient pidfd, moved above the scenario's numbers before the measured call.
                let opened = handoff_pidfd_open(target.pid, 0)
                if opened < 0 { answer.fail(errno); return true }
                // The channels in the target's table are as invisible as our own (once the pidfd exists, as
                // the kernel would look at the number only then).
                if (fd == target.channel || agent.hidden.contains(fd)) && flags == 0 {
                    close(opened)
                    answer.fail(EBADF)
                    return true
                }
                let pidfd = agent.moveHigh(opened, avoiding: fd)
                let result = timed { handoff_pidfd_getfd(pidfd, fd, flags) }
                close(pidfd)
                answer.record(result, producing: true)
                return true
            }
        case .pidfdGetfdThrough(let pidfdOperand, let target, let operand, let flags):
            // Through the scenario's own pidfd: no transient one.
            return { agent, answer -> Bool in
                let pidfd = pidfdOperand.value(agent.slots), fd = operand.value(agent.slots)
                if agent.isChannel(pidfd) && flags == 0 { answer.fail(EBADF); return true }
                if (fd == target.channel || agent.hidden.contains(fd)) && flags == 0 { answer.fail(EBADF); return true }
                answer.record(timed { handoff_pidfd_getfd(pidfd, fd, flags) }, producing: true)
                return true
            }
        case .attach:
            return { agent, _ in
                agent.refusal = ProtocolError("attach is the runner's, never sent to an agent")
                return true
            }
        case .ftruncate(let operand, let length):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(length < 0 ? EINVAL : EBADF); return true }
                answer.record(timed { ftruncate(fd, off_t(length)) })
                return true
            }
        case .signalfd(let mask, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.SFD_CLOEXEC : 0) | (nonBlocking ? Linux.SFD_NONBLOCK : 0)
                answer.record(timed { handoff_signalfd(SignalName.mask(mask), flags) }, producing: true)
                return true
            }
        case .timerfdCreate(let clock, let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.TFD_CLOEXEC : 0) | (nonBlocking ? Linux.TFD_NONBLOCK : 0)
                answer.record(timed { handoff_timerfd_create(clock.linux, flags) }, producing: true)
                return true
            }
        case .unshareNet:
            return { agent, answer -> Bool in
                answer.record(timed { handoff_unshare_net() })
                return true
            }
        case .dupfdQuery(let operand, let otherOperand):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                let other = otherOperand.value(agent.slots)
                if agent.isChannel(fd) || agent.isChannel(other) { answer.fail(EBADF); return true }
                answer.record(timed { handoff_fcntl_int(fd, Linux.F_DUPFD_QUERY, other) })
                return true
            }
        case .inotifyInit(let closeOnExec, let nonBlocking):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.IN_CLOEXEC : 0) | (nonBlocking ? Linux.IN_NONBLOCK : 0)
                answer.record(timed { handoff_inotify_init1(flags) }, producing: true)
                return true
            }
        case .socket(let type, let closeOnExec, let nonBlocking):
            return socketCreator(type, closeOnExec, nonBlocking)
        case .bind(let operand, let address):
            return binder(operand, address)
        case .sendto(let operand, let address, let operands, let data):
            return sender(operand, address, operands, data)
        case .recvfrom(let operand, let count, let room, let closeOnExec, let nonBlocking):
            return receiver(operand, count, room, closeOnExec, nonBlocking)
        }
    }

    /// dup2 (flags nil) or dup3 (flags), moving the control channel first when the target is its number.
    mutating func duplicate(_ fd: Int32, onto target: Int32, flags: Int32?, into answer: inout Answer) {
        let invalidFlags = flags.map { $0 & ~Linux.O_CLOEXEC != 0 } ?? false
        // dup3 checks its flags and old == new before the descriptor: those errors win over EBADF.
        if isChannel(fd) && !invalidFlags && !(flags != nil && fd == target) { return answer.fail(EBADF) }
        if hidden.contains(target) {
            refusal = ProtocolError("dup2 onto another agent's control channel is not supported")
            return
        }
        var moved: Int32?
        if target == control && fd != control { moved = moveControlChannel() }
        let result = flags.map { flags in timed { handoff_dup3(fd, target, flags) } } ?? timed { dup2(fd, target) }
        // A call that failed (EBADF: `fd` is not open) left the channel's old copy at the target: it goes, as
        // the call would have replaced it (found by `handoff fuzz`: a LEAK of the channel).
        if moved != nil && result.value < 0 { close(target) }
        answer.record(result, producing: true)
        answer.movedControl = moved
    }

    /// The C shim's address arguments.
    static func cAddress(_ address: SocketAddress) -> (Int32, String, Int32) {
        switch address {
        case .unix(let path): return (Int32(HANDOFF_ADDRESS_UNIX), path, 0)
        case .abstract(let name): return (Int32(HANDOFF_ADDRESS_ABSTRACT), name, 0)
        case .tcp(let port): return (Int32(HANDOFF_ADDRESS_TCP), "", Int32(port))
        }
    }
}

extension Answer {
    /// A call's return value, errno and duration; `producing`: its result is the descriptor it created.
    @inline(__always) mutating func record(_ call: Timed, producing: Bool = false) {
        result = Int64(call.value)
        errno = call.value < 0 ? call.errno : 0
        nanoseconds = call.nanoseconds
        if producing && call.value >= 0 { fds.append(Int32(call.value)) }
    }

    /// A call that created these descriptors (pipe2, socketpair) when it succeeded.
    @inline(__always) mutating func record(_ call: Timed, producing descriptors: [Int32]) {
        record(call)
        if call.value >= 0 { fds.append(contentsOf: descriptors) }
    }

    /// The agent answers for the kernel without calling it (a descriptor that must look free).
    @inline(__always) mutating func fail(_ code: Int32) {
        result = -1
        errno = code
    }
}

