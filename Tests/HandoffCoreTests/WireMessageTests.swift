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

    /// Runs of spaces, a value holding `=`, an empty key; a word that is not ASCII decodes when it is valid
    /// UTF-8 and makes the packet malformed when it is not; a slice decodes from its own start.
    @Test func splitsOnSpacesAndTheFirstEqualsSign() {
        let spaced = WireMessage.decode(Array("  ok   r=1  k=a=b =v ".utf8))
        #expect(spaced == WireMessage("ok", [("r", "1"), ("k", "a=b"), ("", "v")]))
        #expect(WireMessage.decode(Array("   ".utf8)) == nil)
        #expect(WireMessage.decode(Array("ok r=1 junk".utf8)) == nil)
        #expect(WireMessage.decode(Array("ok n=é".utf8)) == WireMessage("ok", [("n", "é")]))
        #expect(WireMessage.decode([0x6f, 0x6b, 0x20, 0x6e, 0x3d, 0xff]) == nil)
        #expect(WireMessage.decode(Array("ok r=1 e=0".utf8)[3...]) == WireMessage("r=1", [("e", "0")]))
    }

    @Test func byteListsAndIntsEncodeCommaSeparated() {
        var message = WireMessage("hello")
        message.set("env", byteLists: [Array("A=1".utf8), [], [0xff]])
        message.set("none", byteLists: [])
        message.set("fds", ints: [-1, 0, 42])
        message.set("unsupported", list: ["recv", "send"])
        #expect(message.encoded() == Array("hello env=413d31,,ff none= fds=-1,0,42 unsupported=recv,send".utf8))
        #expect(WireMessage.decode(message.encoded())?.byteLists("env") == [Array("A=1".utf8), [], [0xff]])
    }

    @Test func emptyListsAreEmpty() {
        let decoded = WireMessage.decode(Array("ok fds= d=".utf8))
        #expect(decoded?.ints("fds") == [])
        #expect(decoded?.bytes("d") == [])
    }
}
