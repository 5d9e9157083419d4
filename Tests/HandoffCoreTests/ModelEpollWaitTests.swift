// Reference model tests: epoll_wait (fs/eventpoll.c: do_epoll_wait, ep_poll, ep_send_events). Each expectation
// was first seen on the running kernel (6.18) by a catalog scenario under scenarios/epoll/.

@testable import HandoffCore
import Glibc
import HandoffProtocol
import Testing

extension ReferenceModelTests {
    private func ready(_ outcome: Outcome) -> [ReadyRegistration] { (outcome.ready ?? []).sorted() }

    @Test func epollWaitReportsLevelTriggeredRegistrationsByTheirNumber() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: r, events: [.in]))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: w, events: [.out]))
        #expect(ready(m.ok(.epollWait(epoll: epoll, maxEvents: 8, timeout: 0))) == [ReadyRegistration(fd: w, events: Linux.EPOLLOUT)])
        m.ok(.write(fd: w, data: bytes("x")))
        // Level-triggered: reported on every wait while it holds.
        for _ in 0..<2 {
            let outcome = m.ok(.epollWait(epoll: epoll, maxEvents: 8, timeout: 0))
            #expect(outcome.result == 2)
            #expect(ready(outcome) == [ReadyRegistration(fd: r, events: Linux.EPOLLIN), ReadyRegistration(fd: w, events: Linux.EPOLLOUT)])
        }
        // The registration belongs to the description: a closed number is still reported while a dup lives.
        let copy = m.fd(.dup(fd: r))
        m.ok(.close(fd: r))
        #expect(ready(m.ok(.epollWait(epoll: epoll, maxEvents: 8, timeout: 0))).map(\.fd) == [r, w])
        // EPOLLHUP and EPOLLERR are reported without being asked for.
        m.ok(.close(fd: w))
        #expect(ready(m.ok(.epollWait(epoll: epoll, maxEvents: 8, timeout: 0)))
            == [ReadyRegistration(fd: r, events: Linux.EPOLLIN | Linux.EPOLLHUP)])
        m.ok(.close(fd: copy))
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 8, timeout: 100)) == {
            var none = Outcome(result: 0)
            none.ready = []
            none.readyMask = ~0
            return none
        }())
    }

    @Test func epollWaitChecksInTheKernelsOrder() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let eventfd = m.fd(.eventfd(initial: 0, closeOnExec: false, nonBlocking: false))
        let path = m.fd(.reopen(target: "main", fd: epoll, flags: [.path]))
        // maxevents first (do_epoll_wait), then fdget (EBADF, O_PATH included), then is_file_epoll.
        m.fails(.epollWait(epoll: 40, maxEvents: 0, timeout: 0), EINVAL)
        m.fails(.epollWait(epoll: epoll, maxEvents: -1, timeout: 0), EINVAL)
        m.fails(.epollWait(epoll: 40, maxEvents: 1, timeout: 0), EBADF)
        m.fails(.epollWait(epoll: path, maxEvents: 1, timeout: 0), EBADF)
        m.fails(.epollWait(epoll: eventfd, maxEvents: 1, timeout: 0), EINVAL)
        // 6.18 looks the descriptor up first (the probe epoll-wait-descriptor-first).
        m.epollWaitDescriptorFirst = true
        m.fails(.epollWait(epoll: 40, maxEvents: 0, timeout: 0), EBADF)
        m.fails(.epollWait(epoll: path, maxEvents: -1, timeout: 0), EBADF)
        m.fails(.epollWait(epoll: epoll, maxEvents: 0, timeout: 0), EINVAL)
        m.fails(.epollWait(epoll: eventfd, maxEvents: 0, timeout: 0), EINVAL)
    }

    @Test func aOneshotRegistrationIsDisarmedOnceReportedUntilMod() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let eventfd = m.fd(.eventfd(initial: 1, closeOnExec: false, nonBlocking: false))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: eventfd, events: [.in, .oneshot]))
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 1, timeout: 0)).result == 1)
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 1, timeout: 0)).result == 0)
        // A poll of the epoll does not see it either, nor does a nested epoll.
        #expect(m.ok(.poll(fd: epoll, events: [.in], timeout: 0)).result == 0)
        m.ok(.epollCtl(epoll: epoll, op: .mod, fd: eventfd, events: [.in, .oneshot]))
        #expect(m.ok(.poll(fd: epoll, events: [.in], timeout: 0)).result == Int64(Linux.POLLIN))
        let outer = m.fd(.epollCreate(closeOnExec: false))
        m.ok(.epollCtl(epoll: outer, op: .add, fd: epoll, events: [.in]))
        // The outer epoll's wait polls the inner one without disarming what the inner one holds.
        #expect(ready(m.ok(.epollWait(epoll: outer, maxEvents: 4, timeout: 0))) == [ReadyRegistration(fd: epoll, events: Linux.EPOLLIN)])
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0)).result == 1)
        #expect(m.ok(.epollWait(epoll: outer, maxEvents: 4, timeout: 0)).result == 0)
    }

    @Test func moreReadyThanMaxIsAChoiceTheModelLeavesToTheKernel() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let a = m.fd(.eventfd(initial: 1, closeOnExec: false, nonBlocking: false))
        let b = m.fd(.eventfd(initial: 1, closeOnExec: false, nonBlocking: false))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: a, events: [.in]))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: b, events: [.in]))
        let one = m.ok(.epollWait(epoll: epoll, maxEvents: 1, timeout: 0))
        #expect(one.result == 1)
        #expect(one.readyChosen == true)
        // One-shots among more than max: which are disarmed is the kernel's ready-list order.
        m.ok(.epollCtl(epoll: epoll, op: .mod, fd: a, events: [.in, .oneshot]))
        #expect(m.apply(.epollWait(epoll: epoll, maxEvents: 1, timeout: 0), by: "main").beyondModel != nil)
    }

    @Test func edgeTriggeredItemsAreReportedAfterWakeupsOnly() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: r, events: [.in, .et]))
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 1, timeout: 0)).result == 0)
        // Each write wakes the readers (pipe_write): reported once per wake-up, not while it merely holds.
        for _ in 0..<2 {
            m.ok(.write(fd: w, data: bytes("x")))
            #expect(ready(m.ok(.epollWait(epoll: epoll, maxEvents: 1, timeout: 0))) == [ReadyRegistration(fd: r, events: Linux.EPOLLIN)])
            #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 1, timeout: 0)).result == 0)
        }
        // A wake-up with a key the registration does not ask for queues nothing: a read of a pipe that was not
        // full wakes nobody, and the writers' queue is not the readers'.
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: w, events: [.out, .et]))
        #expect(ready(m.ok(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0))) == [ReadyRegistration(fd: w, events: Linux.EPOLLOUT)])
        m.ok(.read(fd: r, count: 1))
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0)).result == 0)
        // Armed (MOD) while ready, it is on the ready list: reported once, by the next wait only.
        m.ok(.epollCtl(epoll: epoll, op: .mod, fd: r, events: [.in, .et]))
        #expect(ready(m.ok(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0))) == [ReadyRegistration(fd: r, events: Linux.EPOLLIN)])
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0)).result == 0)
        // A sleeper on the pipe woke others on its way (unfollowed): a ready item there is refused, not guessed.
        m.edgeWakeupsUnknown(near: m.fdget("main", r)?.description.target)
        #expect(m.apply(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0), by: "main").beyondModel != nil)
        // The last writer's close wakes both queues with no key.
        m.ok(.epollCtl(epoll: epoll, op: .del, fd: w, events: []))
        m.ok(.epollCtl(epoll: epoll, op: .mod, fd: r, events: [.in, .et]))
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0)).result == 1)
        m.ok(.close(fd: w))
        #expect(ready(m.ok(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0)))
            == [ReadyRegistration(fd: r, events: Linux.EPOLLIN | Linux.EPOLLHUP)])
    }

    /// The belt and braces of Model+Wakeups.swift: readiness that rises with no wake-up the model followed (a
    /// rule it lacks) makes the item unknown, so the gap is an ERROR rather than a finding against the kernel.
    @Test func readinessRisingWithoutAWakeupIsUnknown() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let counter = m.fd(.eventfd(initial: 0, closeOnExec: false, nonBlocking: true))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: counter, events: [.in, .et]))
        guard case .eventfd(let object)? = m.fdget("main", counter)?.description.target,
              let snapshot = m.wakeupSnapshot() else { Issue.record("no eventfd"); return }
        m.eventCounters[object] = 5  // what no operation's rule announced
        m.followWakeups(since: snapshot)
        #expect(m.apply(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0), by: "main").beyondModel != nil)
    }

    @Test func readinessTheModelDoesNotFollowIsBeyondIt() {
        var tcp = makeModel()
        let other = tcp.fd(.epollCreate(closeOnExec: false))
        let listener = tcp.fd(.listen(address: .tcp(port: 0), type: .stream, closeOnExec: false, nonBlocking: false, backlog: 8))
        tcp.ok(.epollCtl(epoll: other, op: .add, fd: listener, events: [.in]))
        #expect(tcp.apply(.epollWait(epoll: other, maxEvents: 1, timeout: 0), by: "main").beyondModel != nil)
        // A poll of that epoll is not compared rather than refused.
        #expect(tcp.ok(.poll(fd: other, events: [.in], timeout: 0)).resultMask == 0)
    }
}

extension ReferenceModelTests {
    /// reverse_path_check (found porting nested-epoll tests): a file five epolls deep may have 10 paths to
    /// unwatched tops; the 11th add is EINVAL and is not kept, whichever link comes last.
    @Test func wakeupPathsAreLimitedByLength() {
        var m = makeModel(limit: 256)
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        var chain = [m.fd(.epollCreate(closeOnExec: false))]
        m.ok(.epollCtl(epoll: chain[0], op: .add, fd: r, events: [.in]))
        for _ in 0..<3 {
            let next = m.fd(.epollCreate(closeOnExec: false))
            m.ok(.epollCtl(epoll: next, op: .add, fd: chain.last!, events: [.in]))
            chain.append(next)
        }
        for _ in 0..<10 {
            let top = m.fd(.epollCreate(closeOnExec: false))
            m.ok(.epollCtl(epoll: top, op: .add, fd: chain.last!, events: [.in]))
        }
        let eleventh = m.fd(.epollCreate(closeOnExec: false))
        m.fails(.epollCtl(epoll: eleventh, op: .add, fd: chain.last!, events: [.in]), EINVAL)
        #expect(m.epollInterest("main", fd: eleventh)?.isEmpty == true)
        // The same count when the file comes last.
        m.ok(.close(fd: r))
        m.ok(.epollCtl(epoll: eleventh, op: .add, fd: chain.last!, events: [.in]))
        let (r2, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(.epollCtl(epoll: chain[0], op: .add, fd: r2, events: [.in]), EINVAL)
        m.ok(.epollCtl(epoll: eleventh, op: .add, fd: r2, events: [.in]))
    }
}

@Suite struct ReadyComparisonTests {
    private func observed(_ entries: [ReadyRegistration]) -> Outcome {
        var outcome = Outcome(result: Int64(entries.count))
        outcome.ready = entries
        return outcome
    }

    /// The model's prediction: `entries` ready, `result` of them reported (fewer: the kernel chooses).
    private func predicted(_ entries: [ReadyRegistration], result: Int? = nil, mask: UInt32 = ~0) -> Outcome {
        var outcome = Outcome(result: Int64(result ?? entries.count))
        outcome.ready = entries
        outcome.readyMask = mask
        return outcome
    }

    @Test func theOrderIsIgnoredTheSetIsNot() {
        let a = ReadyRegistration(fd: 4, events: Linux.EPOLLIN), b = ReadyRegistration(fd: 5, events: Linux.EPOLLOUT)
        #expect(ScenarioExecution.sameReady(predicted([a, b]), observed([b, a])))
        #expect(!ScenarioExecution.sameReady(predicted([a, b]), observed([a])))
        #expect(!ScenarioExecution.sameReady(predicted([a]), observed([ReadyRegistration(fd: 4, events: Linux.EPOLLIN | Linux.EPOLLHUP)])))
        #expect(!ScenarioExecution.sameReady(predicted([a]), Outcome(result: 1)), "no list at all is a difference")
        // A bit outside the mask is not compared.
        #expect(ScenarioExecution.sameReady(predicted([a], mask: ~Linux.EPOLLHUP),
                                            observed([ReadyRegistration(fd: 4, events: Linux.EPOLLIN | Linux.EPOLLHUP)])))
        // Chosen: as many as the result, distinct, each one predicted.
        #expect(ScenarioExecution.sameReady(predicted([a, b], result: 1), observed([b])))
        #expect(!ScenarioExecution.sameReady(predicted([a, b], result: 1), observed([b, b])))
        #expect(!ScenarioExecution.sameReady(predicted([a, b], result: 1), observed([ReadyRegistration(fd: 6, events: Linux.EPOLLIN)])))
    }
}
