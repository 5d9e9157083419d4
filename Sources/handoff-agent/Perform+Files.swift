// File operations performed: the system call each one is, timed (Perform.swift dispatches here).

import CHandoff
import Glibc
import HandoffProtocol

extension Agent {
    static func performer(for operation: FileOperation<LoopNaming>) -> Performer {
        switch operation {
        case .open(let path, let flags, let mode):
            return { agent, answer -> Bool in
                answer.record(timed { open(path, OpenFlag.linux(flags), mode_t(mode)) }, producing: true)
                return true
            }
        case .memfd(let name, let closeOnExec, let allowSealing):
            return { agent, answer -> Bool in
                let flags = (closeOnExec ? Linux.MFD_CLOEXEC : 0) | (allowSealing ? Linux.MFD_ALLOW_SEALING : 0)
                answer.record(timed { handoff_memfd_create(name, flags) }, producing: true)
                return true
            }
        case .lseek(let operand, let offset, let whence):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                answer.record(timed { Int(lseek(fd, off_t(offset), whence)) })
                return true
            }
        case .read(let operand, let count):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                let buffer = agent.io
                answer.recordRead(timed { Glibc.read(fd, buffer.baseAddress, min(count, buffer.count)) }, into: buffer,
                                  keepingData: agent.keepingData)
                return true
            }
        case .pread(let operand, let count, let offset):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                // The channel must look free, but a negative offset is EINVAL before the descriptor is looked at.
                if agent.isChannel(fd) && offset >= 0 { answer.fail(EBADF); return true }
                let buffer = agent.io
                answer.recordRead(timed { Glibc.pread(fd, buffer.baseAddress, min(count, buffer.count), off_t(offset)) },
                                  into: buffer, keepingData: agent.keepingData)
                return true
            }
        case .write(let operand, let data):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(EBADF); return true }
                answer.record(timed { data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } })
                return true
            }
        case .pwrite(let operand, let data, let offset):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                // The channel must look free, but a negative offset is EINVAL before the descriptor is looked at.
                if agent.isChannel(fd) && offset >= 0 { answer.fail(EBADF); return true }
                answer.record(timed { data.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) } })
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
        case .ftruncate(let operand, let length):
            return { agent, answer -> Bool in
                let fd = operand.value(agent.slots)
                if agent.isChannel(fd) { answer.fail(length < 0 ? EINVAL : EBADF); return true }
                answer.record(timed { ftruncate(fd, off_t(length)) })
                return true
            }
        case .mkfifo(let path, let mode):
            return { agent, answer -> Bool in
                answer.record(timed { mkfifo(path, mode_t(mode)) })
                return true
            }
        }
    }
}
