import CagentClient
import Testing

/// The WHATWG "interpreting an event stream" rules, one by one.
@Suite struct ServerSentEventParserTests {
    private func parse(_ chunks: [String]) -> [ServerSentEvent] {
        var parser = ServerSentEventParser()
        return chunks.flatMap { parser.feed(Array($0.utf8)) }
    }

    private func parse(_ text: String) -> [ServerSentEvent] { parse([text]) }

    @Test func aSimpleEventWithTypeIDAndData() {
        #expect(parse("event: thinking\nid: 3\ndata: {\"n\":1}\n\n") == [
            ServerSentEvent(type: "thinking", data: "{\"n\":1}", lastEventID: "3", hasID: true),
        ])
    }

    @Test func dataLinesAreJoinedWithLineFeeds() {
        #expect(parse("data: one\ndata: two\ndata:\ndata: four\n\n").map(\.data) == ["one\ntwo\n\nfour"])
    }

    @Test func anEventWithoutTypeIsAMessage() {
        #expect(parse("data: x\n\n").first?.type == "message")
    }

    @Test(arguments: ["\r\n", "\n", "\r"])
    func everyLineEndingWorks(ending: String) {
        let text = ["event: a", "id: 1", "data: x", "data: y", "", "data: z", "", ""].joined(separator: ending)
        let events = parse(text)
        #expect(events.map(\.data) == ["x\ny", "z"])
        #expect(events.map(\.type) == ["a", "message"])
        #expect(events.map(\.lastEventID) == ["1", "1"])
    }

    @Test func aCRLFSplitAcrossChunksIsOneLineEnding() {
        // Were the LF taken as a second line end, the blank line would dispatch early.
        let events = parse(["data: a\r", "\ndata: b\r", "\n\r", "\n"])
        #expect(events.map(\.data) == ["a\nb"])
    }

    @Test func everyChunkingGivesTheSameEvents() {
        let text = "\u{FEFF}: hello\r\nevent: thinking\r\nid: 7\r\ndata: {\"text\": \"é ✓ 🎉\"}\r\n\r\ndata: second\n\n"
        let whole = parse(text)
        #expect(whole.count == 2)
        let bytes = Array(text.utf8)
        for size in 1...7 {
            var parser = ServerSentEventParser()
            var events: [ServerSentEvent] = []
            for start in stride(from: 0, to: bytes.count, by: size) {
                events += parser.feed(bytes[start..<min(start + size, bytes.count)])
            }
            #expect(events == whole, "chunks of \(size) bytes")
        }
    }

    @Test func commentsAreIgnored() {
        #expect(parse(": keepalive\n\n:\ndata: x\n: in between\n\n").map(\.data) == ["x"])
    }

    @Test func oneLeadingSpaceIsRemovedFromValuesAndNoMore() {
        #expect(parse("data:no space\n\ndata:  two spaces\n\n").map(\.data) == ["no space", " two spaces"])
    }

    @Test func aFieldWithoutColonHasAnEmptyValue() {
        // "data" alone appends an empty line; "event" alone resets nothing harmful.
        #expect(parse("data\ndata\n\n").map(\.data) == ["\n"])
        #expect(parse("event\ndata: x\n\n").first?.type == "message")
    }

    @Test func unknownFieldsAreIgnored() {
        #expect(parse("foo: bar\ndata: x\n\n") == [ServerSentEvent(data: "x")])
    }

    @Test func anEventWithoutDataIsNotDispatchedButItsIDStays() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("id: 5\nevent: ignored\n\n".utf8)).isEmpty)
        #expect(parser.lastEventID == "5")
        let next = parser.feed(Array("data: x\n\n".utf8))
        #expect(next == [ServerSentEvent(type: "message", data: "x", lastEventID: "5", hasID: false)],
                "the type does not carry over; the id does")
    }

    @Test func theLastEventIDPersistsAndAnEmptyIDResetsIt() {
        let events = parse("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")
        #expect(events.map(\.lastEventID) == ["1", "1", ""])
        #expect(events.map(\.hasID) == [true, false, true])
    }

    @Test func anIDWithNULIsIgnored() {
        let events = parse("id: 1\ndata: a\n\nid: 2\u{0}x\ndata: b\n\n")
        #expect(events.map(\.lastEventID) == ["1", "1"])
    }

    @Test func retryTakesOnlyDigits() {
        var parser = ServerSentEventParser()
        _ = parser.feed(Array("retry: 1500\n\n".utf8))
        #expect(parser.retryMilliseconds == 1500)
        _ = parser.feed(Array("retry: 20ms\nretry: -5\nretry:\n\n".utf8))
        #expect(parser.retryMilliseconds == 1500)
        _ = parser.feed(Array("retry:250\n\n".utf8))
        #expect(parser.retryMilliseconds == 250)
    }

    @Test func aByteOrderMarkIsDroppedOnlyAtTheStart() {
        #expect(parse("\u{FEFF}data: x\n\n").map(\.data) == ["x"])
        // Split across chunks too.
        var parser = ServerSentEventParser()
        var events = parser.feed([0xEF])
        events += parser.feed([0xBB, 0xBF] + Array("data: y\n\n".utf8))
        #expect(events.map(\.data) == ["y"])
        // Later, it is part of the field name: an unknown field.
        #expect(parse("data: a\n\n\u{FEFF}data: b\n\n").map(\.data) == ["a"])
    }

    @Test func bytesThatOnlyLookLikeABOMStartAreKept() {
        // EF BB followed by something else: not a BOM; the bytes are invalid UTF-8 here
        // and decode as replacement characters inside the field name (an unknown field).
        var parser = ServerSentEventParser()
        let events = parser.feed([0xEF, 0xBB] + Array("data: x\n\ndata: y\n\n".utf8))
        #expect(events.map(\.data) == ["y"])
    }

    @Test func anIncompleteEventAtTheEndIsDiscarded() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("id: 1\ndata: a\n\nid: 2\ndata: half".utf8)).map(\.data) == ["a"])
        parser.finish()
        #expect(parser.lastEventID == "1", "the unfinished event's id is not taken")
        // A new connection starts clean, with the last id kept.
        #expect(parser.feed(Array("data: b\n\n".utf8)) == [ServerSentEvent(data: "b", lastEventID: "1")])
    }

    @Test func startsFromAGivenLastEventID() {
        var parser = ServerSentEventParser(lastEventID: "41")
        #expect(parser.feed(Array("data: x\n\n".utf8)).first?.lastEventID == "41")
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        var parser = ServerSentEventParser()
        let events = parser.feed(Array("data: a".utf8) + [0xFF] + Array("b\n\n".utf8))
        #expect(events.map(\.data) == ["a\u{FFFD}b"])
    }

    @Test func whatTheServiceSendsParsesIntoRunEvents() throws {
        // sse-starlette's framing: CRLF line ends, a keepalive without id.
        let wire = "event: thinking\r\ndata: {\"n\": 0}\r\nid: 0\r\n\r\n"
            + "event: keepalive\r\ndata: {}\r\n\r\n"
            + "event: result\r\ndata: {\"result\": {\"ok\": true}, \"execution_time\": 0.5, \"agent_id\": \"echo\"}\r\nid: 1\r\n\r\n"
        let events = try parse(wire).map { try RunEvent(type: $0.type, data: $0.data, id: $0.hasID ? $0.lastEventID : nil) }
        #expect(events == [
            RunEvent(id: "0", kind: .thinking(["n": 0])),
            RunEvent(id: nil, kind: .keepalive),
            RunEvent(id: "1", kind: .result(ExecuteResult(result: ["ok": true], executionTime: 0.5, agentID: "echo"))),
        ])
        #expect(events.map(\.isTerminal) == [false, false, true])
    }

    @Test func malformedRunEventsAreRefused() {
        #expect(throws: RunEvent.DecodingFailure.notAnObject(type: "thinking", data: "[1]")) {
            try RunEvent(type: "thinking", data: "[1]", id: "0")
        }
        #expect(throws: RunEvent.DecodingFailure.malformed(type: "result", data: "{}")) {
            try RunEvent(type: "result", data: "{}", id: "0")
        }
        #expect(throws: RunEvent.DecodingFailure.malformed(type: "error", data: "{\"code\":1}")) {
            try RunEvent(type: "error", data: "{\"code\": 1}", id: "0")
        }
    }
}
