// Helpers shared by the reference model's tests (ReferenceModelTests and the Model*Tests files).

@testable import HandoffCore
import Glibc
import Testing

// Helpers ----------------------------------------------------------------------------------------------------

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

let getflMask: Int64 = 3 | 0o2000 | 0o4000

extension ReferenceModel {
    /// Applies an operation that must succeed and returns its outcome.
    @discardableResult
    mutating func ok(_ operation: Operation, by process: String = "main",
                     sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Outcome {
        let outcome = apply(operation, by: process)
        #expect(outcome.errno == 0, "\(operation) failed with errno \(outcome.errno)", sourceLocation: sourceLocation)
        #expect(!outcome.blocks, "\(operation) blocks", sourceLocation: sourceLocation)
        return outcome
    }

    /// Applies an operation that must fail with `errno`.
    mutating func fails(_ operation: Operation, _ errno: Int32, by process: String = "main",
                        sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let outcome = apply(operation, by: process)
        #expect(outcome == .failure(errno), "\(operation) -> \(outcome)", sourceLocation: sourceLocation)
    }

    mutating func fd(_ operation: Operation, by process: String = "main",
                     sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Int32 {
        let outcome = ok(operation, by: process, sourceLocation: sourceLocation)
        return outcome.fds.first ?? -1
    }

    mutating func pair(_ operation: Operation, by process: String = "main") -> (Int32, Int32) {
        let outcome = ok(operation, by: process)
        return (outcome.fds[0], outcome.fds[1])
    }

    func desc(_ process: String, _ fd: Int32) -> DescriptionID? { table(of: process)[fd]?.description }

    func cloexec(_ process: String, _ fd: Int32) -> Bool? { table(of: process)[fd]?.closeOnExec }

    func numbers(_ process: String = "main") -> [Int32] { table(of: process).keys.sorted() }
}

func makeModel(limit: Int32 = 64) -> ReferenceModel { ReferenceModel(nofileLimit: limit) }

let eof = Outcome(result: 0, data: [])

func readOutcome(_ text: String) -> Outcome { Outcome(result: Int64(text.utf8.count), data: bytes(text)) }

func recvOutcome(_ data: [UInt8], fds: [Int32] = [], flags: Int32 = 0) -> Outcome {
    Outcome(result: Int64(data.count), fds: fds, data: data, messageFlags: flags)
}

let creatRW: Set<OpenFlag> = [.creat, .rdwr]

// MARK: - Sockets with addresses ----------------------------------------------------------------------------

func listenOp(_ address: SocketAddress, _ type: SocketType = .stream, closeOnExec: Bool = false,
              nonBlocking: Bool = false, backlog: Int32 = 16) -> Operation {
    .listen(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking, backlog: backlog)
}

func connectOp(_ address: SocketAddress, _ type: SocketType = .stream, closeOnExec: Bool = false,
               nonBlocking: Bool = false) -> Operation {
    .connect(address: address, type: type, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
}

func acceptOp(_ fd: Int32, closeOnExec: Bool = false, nonBlocking: Bool = false) -> Operation {
    .accept(socket: fd, closeOnExec: closeOnExec, nonBlocking: nonBlocking)
}

func nbRecv(_ fd: Int32, _ count: Int = 16, room: Int = 0) -> Operation {
    .recv(socket: fd, count: count, room: room, closeOnExec: false, nonBlocking: true)
}

extension ReferenceModel {
    /// listen + connect + accept: (listener, client, server).
    mutating func connection(_ address: SocketAddress, _ type: SocketType = .stream)
        -> (Int32, Int32, Int32) {
        let l = fd(listenOp(address, type))
        if case .tcp(0) = address { assignPort(40000, process: "main", fd: l) }
        let target: SocketAddress
        if case .tcp(0) = address { target = .tcp(port: 40000) } else { target = address }
        let c = fd(connectOp(target, type))
        let s = fd(acceptOp(l))
        return (l, c, s)
    }
}
