import HandoffProtocol
import Testing

@Suite struct WireMessageTests {
    @Test func roundTripsFieldsAndBytes() {
        var message = WireMessage("send")
        message.set("fd", 3)
        message.set("fds", ints: [4, 5, 6])
        message.set("d", bytes: Array("hi there".utf8))
        let decoded = WireMessage.decode(message.encoded())
        #expect(decoded == message)
        #expect(decoded?.ints("fds") == [4, 5, 6])
        #expect(decoded?.bytes("d") == Array("hi there".utf8))
        #expect(decoded?.int("fd") == 3)
    }

    @Test func rejectsMalformedPackets() {
        #expect(WireMessage.decode(Array("".utf8)) == nil)
        #expect(WireMessage.decode(Array("open path".utf8)) == nil)
        #expect(WireMessage.decode(Array("x d=zz".utf8))?.bytes("d") == nil)
        #expect(WireMessage.decode(Array("x fds=1,a".utf8))?.ints("fds") == nil)
    }

    @Test func emptyListsAreEmpty() {
        let decoded = WireMessage.decode(Array("ok fds= d=".utf8))
        #expect(decoded?.ints("fds") == [])
        #expect(decoded?.bytes("d") == [])
    }
}
