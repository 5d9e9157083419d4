import HandoffCore
import HandoffProtocol
import Testing

/// Each operation's declared `ProcessEffect` against what the operation itself says: its binding, whether it
/// may run in the background or inside `repeat`, and the arguments the validator and the runner read for it.
/// A process operation declared plain (the default) fails here, not at run time.
@Suite struct ProcessEffectTests {
    /// What the effects that change which processes exist or what they run have in common.
    static let changesProcesses: Set<ProcessEffect> = [.createsProcess, .replacesImage, .endsProcess, .launches, .attaches]

    @Test(arguments: OperationKind.allCases)
    func effectFitsTheDeclaration(_ kind: OperationKind) {
        let declaration = kind.declaration
        let effect = declaration.effect
        // A new process is named by `as`: only creating and attaching name one.
        #expect((declaration.binds == .process) == [.createsProcess, .attaches].contains(effect),
                "\(kind.keyword): binds \(declaration.binds) but declares \(effect)")
        // What may not run in the background changes processes: it must say how.
        if !declaration.background {
            #expect(effect != .none, "\(kind.keyword) may not run in the background but declares no effect")
        }
        if Self.changesProcesses.contains(effect) {
            #expect(!declaration.background && !declaration.repeatable,
                    "\(kind.keyword) declares \(effect) but may run in the background or inside repeat")
        }
        // Reaping names the child, by a process argument.
        if effect == .reapsChild {
            #expect(declaration.arguments.contains { $0.type == .process && $0.required })
        }
    }

    /// The arguments the validator and the runner read for an effect are those of the operation declaring it.
    @Test(arguments: OperationKind.allCases)
    func effectFitsTheOperation(_ kind: OperationKind) {
        let operation = sampleWireOperation(kind)
        let effect = kind.declaration.effect
        #expect((operation.createdProcess != nil) == (effect == .createsProcess), "\(kind.keyword)")
        if operation.privatizesTable { #expect(effect == .privatizesTable, "\(kind.keyword)") }
        switch effect {
        case .launches: if case .processes(.launch) = operation {} else { Issue.record("\(kind.keyword) declares launches") }
        case .attaches: if case .processes(.attach) = operation {} else { Issue.record("\(kind.keyword) declares attaches") }
        case .replacesImage: if case .processes(.exec) = operation {} else { Issue.record("\(kind.keyword) declares replacesImage") }
        case .reapsChild: if case .processes(.wait) = operation {} else { Issue.record("\(kind.keyword) declares reapsChild") }
        case .none, .createsProcess, .endsProcess, .throughPidfd, .privatizesTable: break
        }
    }

    @Test func closeRangePrivatizesOnlyWithUnshare() {
        let shared: HandoffProtocol.Operation<WireNaming> = .closeRange(first: 3, last: 9, flags: 0)
        let unshared: HandoffProtocol.Operation<WireNaming> = .closeRange(first: 3, last: 9, flags: Linux.CLOSE_RANGE_UNSHARE)
        #expect(!shared.privatizesTable)
        #expect(unshared.privatizesTable)
        #expect(HandoffProtocol.Operation<WireNaming>.unshareFiles.privatizesTable)
        #expect(HandoffProtocol.Operation<WireNaming>.cloneFiles(child: .new).createdProcess?.sharingTable == true)
        #expect(HandoffProtocol.Operation<WireNaming>.fork(child: .new).createdProcess?.sharingTable == false)
    }

    /// The only operations with an effect: a plain one declares nothing, and a new effect is a decision.
    @Test func effectsAreDeclaredForExactlyTheseOperations() {
        let declared = Dictionary(uniqueKeysWithValues: OperationKind.allCases.compactMap { kind in
            kind.declaration.effect == .none ? nil : (kind.keyword, kind.declaration.effect)
        })
        #expect(declared == [
            "fork": .createsProcess, "clone_files": .createsProcess, "exec": .replacesImage, "exit": .endsProcess,
            "wait": .reapsChild, "pidfd_send_signal": .throughPidfd, "waitid": .throughPidfd, "launch": .launches,
            "attach": .attaches, "unshare_files": .privatizesTable, "close_range": .privatizesTable,
        ])
    }
}
