// perform(operation) -> answer: exactly one system call per operation (socket+bind+listen and the like
// aside), timed. Requests and loops both come here.

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    /// Whether a descriptor argument is a control channel: it must behave as if the number were free, since
    /// the model never sees channels.
    func isChannel(_ fd: Int32) -> Bool { fd == control || hidden.contains(fd) }

    /// The outcome of `operation`; nil when there is nothing to answer (exit, the child side of a fork).
    /// Throws when the agent refuses the operation (the harness cannot do it faithfully): an error, never a
    /// kernel outcome.
    mutating func perform(_ operation: Operation<WireNaming>) throws(ProtocolError) -> Answer? {
        switch operation {
        case .open(let path, let flags, let mode):
            return timed { open(path, OpenFlag.linux(flags), mode_t(mode)) }.descriptorAnswer
        case .pipe(let closeOnExec, let nonBlocking):
            var ends: [Int32] = [-1, -1]
            let flags = (closeOnExec ? Linux.O_CLOEXEC : 0) | (nonBlocking ? Linux.O_NONBLOCK : 0)
            return timed { handoff_pipe2(&ends, flags) }.answer(fds: ends)
        case .socketpair(let type, let closeOnExec, let nonBlocking):
            var ends: [Int32] = [-1, -1]
            let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
            return timed { socketpair(AF_UNIX, type.linux | flags, 0, &ends) }.answer(fds: ends)
        case .memfd(let name, let closeOnExec):
            return timed { handoff_memfd_create(name, closeOnExec ? Linux.MFD_CLOEXEC : 0) }.descriptorAnswer
        case .eventfd(let initial, let closeOnExec, let nonBlocking):
            let flags = (closeOnExec ? Linux.EFD_CLOEXEC : 0) | (nonBlocking ? Linux.EFD_NONBLOCK : 0)
            return timed { handoff_eventfd(initial, flags) }.descriptorAnswer
        case .epollCreate(let closeOnExec):
            return timed { handoff_epoll_create1(closeOnExec ? Linux.EPOLL_CLOEXEC : 0) }.descriptorAnswer
        case .epollCtl(let epoll, let op, let fd, let events):
            if isChannel(epoll) || isChannel(fd) { return .failure(EBADF) }
            return timed { handoff_epoll_ctl(epoll, op.linux, fd, EpollEvent.linux(events)) }.answer()
        case .dup(let fd):
            if isChannel(fd) { return .failure(EBADF) }
            return timed { dup(fd) }.descriptorAnswer
        case .dup2(let fd, let target):
            return try duplicate(fd, onto: target, flags: nil)
        case .dup3(let fd, let target, let flags):
            return try duplicate(fd, onto: target, flags: flags)
        case .fcntl(let fd, let command):
            if isChannel(fd) { return .failure(EBADF) }
            let (cmd, argument) = command.linux
            let result = timed { handoff_fcntl_int(fd, cmd, argument) }
            return command.duplicates ? result.descriptorAnswer : result.answer()
        case .close(let fd):
            if isChannel(fd) { return .failure(EBADF) }
            return timed { close(fd) }.answer()
        case .closeRange(let first, let last, let closeOnExec, let unshare):
            let flags = (closeOnExec ? Linux.CLOSE_RANGE_CLOEXEC : 0) | (unshare ? Linux.CLOSE_RANGE_UNSHARE : 0)
            let result = closeRangeAroundChannels(first, last, flags)
            // CLOSE_RANGE_UNSHARE leaves a private table that still holds the other agents' channels.
            if unshare && result.value == 0 { for number in hidden { close(number) } }
            return result.answer()
        case .lseek(let fd, let offset, let whence):
            if isChannel(fd) { return .failure(EBADF) }
            return timed { Int(lseek(fd, off_t(offset), whence.linux)) }.answer()
        case .read(let fd, let count):
            if isChannel(fd) { return .failure(EBADF) }
            let result = io.withUnsafeMutableBytes { buffer in timed { Glibc.read(fd, buffer.baseAddress, min(count, buffer.count)) } }
            var answer = result.answer()
            if result.value >= 0 { answer.data = Array(io[0..<result.value]) }
            return answer
        case .write(let fd, let data):
            if isChannel(fd) { return .failure(EBADF) }
            return timed { data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }.answer()
        case .shutdown(let socket, let how):
            if isChannel(socket) { return .failure(EBADF) }
            return timed { Glibc.shutdown(socket, how.linux) }.answer()
        case .send(let socket, let fds, let data):
            if isChannel(socket) || fds.contains(where: isChannel) { return .failure(EBADF) }
            let count = Int32(fds.count)
            return fds.withUnsafeBufferPointer { numbers in
                data.withUnsafeBytes { bytes in
                    timed { handoff_send_fds(socket, numbers.baseAddress, count, bytes.baseAddress, bytes.count, Linux.MSG_NOSIGNAL) }
                }
            }.answer()
        case .recv(let socket, let count, let room, let closeOnExec, let nonBlocking):
            if isChannel(socket) { return .failure(EBADF) }
            let flags = (closeOnExec ? Linux.MSG_CMSG_CLOEXEC : 0) | (nonBlocking ? Linux.MSG_DONTWAIT : 0)
            var receivedCount: Int32 = 0
            var messageFlags: Int32 = 0
            let capacity = Int32(rights.count)
            let result = io.withUnsafeMutableBytes { buffer in
                rights.withUnsafeMutableBufferPointer { received in
                    timed {
                        handoff_recv_fds(socket, buffer.baseAddress, min(count, buffer.count), Int32(room), flags,
                                         received.baseAddress, capacity, &receivedCount, &messageFlags)
                    }
                }
            }
            var answer = result.answer(fds: Array(rights[0..<Int(receivedCount)]))
            if result.value >= 0 {
                answer.data = Array(io[0..<result.value])
                answer.messageFlags = messageFlags
            }
            return answer
        case .fork:
            return fork(sharingTable: false)
        case .cloneFiles:
            return fork(sharingTable: true)
        case .unshareFiles:
            let result = timed { handoff_unshare_files() }
            if result.value == 0 { for number in hidden { close(number) } }
            return result.answer()
        case .exec(let newArguments, let environment):
            return exec(newArguments, environment: environment)
        case .launch(let program, let newArguments, let environment, _, _):
            return launch(program, newArguments, environment: environment)
        case .exit(let status):
            _exit(status)
        case .wait(let child):
            var status: Int32 = 0
            let result = timed { waitpid(child.pid, &status, 0) }
            var answer = result.answer()
            if result.value > 0 { answer.waitStatus = status }
            return answer
        case .listen(let address, let type, let closeOnExec, let nonBlocking, let backlog):
            let (kind, name, port) = Agent.cAddress(address)
            var bound: Int32 = 0
            let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
            let result = timed { handoff_listen(kind, name, port, type.linux | flags, backlog, &bound) }
            var answer = result.descriptorAnswer
            if result.value >= 0, case .tcp = address { answer.port = UInt16(truncatingIfNeeded: bound) }
            return answer
        case .connect(let address, let type, let closeOnExec, let nonBlocking):
            let (kind, name, port) = Agent.cAddress(address)
            let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
            return timed { handoff_connect(kind, name, port, type.linux | flags) }.descriptorAnswer
        case .accept(let socket, let closeOnExec, let nonBlocking):
            if isChannel(socket) { return .failure(EBADF) }
            let flags = (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
            return timed { handoff_accept4(socket, flags) }.descriptorAnswer
        case .setrlimit(let nofile):
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            limit.rlim_cur = rlim_t(nofile)
            return timed { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) }.answer()
        case .dropCapability(let name):
            let number = handoff_capability_from_name(name)
            if number < 0 { return .failure(EINVAL) }
            return timed { handoff_drop_capability(number) }.answer()
        case .setDumpable(let dumpable):
            return timed { handoff_set_dumpable(dumpable ? 1 : 0) }.answer()
        case .reopen(let target, let fd, let flags):
            // The target's channel is invisible: /proc/PID/fd/N of it must look like a free number.
            if fd == target.channel { return .failure(ENOENT) }
            let path = "/proc/\(target.pid)/fd/\(fd)"
            return timed { open(path, OpenFlag.linux(flags), 0) }.descriptorAnswer
        case .pidfdOpen(let target):
            return timed { handoff_pidfd_open(target.pid, 0) }.descriptorAnswer
        case .pidfdGetfd(let target, let fd, let flags):
            // The target's control channel is as invisible as our own.
            if fd == target.channel && flags == 0 { return .failure(EBADF) }
            // A transient pidfd, moved above the scenario's numbers before the measured call.
            let opened = handoff_pidfd_open(target.pid, 0)
            if opened < 0 { return .failure(errno) }
            let pidfd = moveHigh(opened)
            let result = timed { handoff_pidfd_getfd(pidfd, fd, flags) }
            close(pidfd)
            return result.descriptorAnswer
        case .attach:
            throw ProtocolError("attach is the runner's, never sent to an agent")
        }
    }

    /// dup2 (flags nil) or dup3 (flags), moving the control channel first when the target is its number.
    mutating func duplicate(_ fd: Int32, onto target: Int32, flags: Int32?) throws(ProtocolError) -> Answer {
        let invalidFlags = flags.map { $0 & ~Linux.O_CLOEXEC != 0 } ?? false
        // dup3 checks its flags and old == new before the descriptor: those errors win over EBADF.
        if isChannel(fd) && !invalidFlags && !(flags != nil && fd == target) { return .failure(EBADF) }
        if hidden.contains(target) { throw ProtocolError("dup2 onto another agent's control channel is not supported") }
        var moved: Int32?
        if target == control && fd != control { moved = moveControlChannel() }
        let result = flags.map { flags in timed { handoff_dup3(fd, target, flags) } } ?? timed { dup2(fd, target) }
        var answer = result.descriptorAnswer
        answer.movedControl = moved
        return answer
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
