/// An incremental parser for `text/event-stream`, following the WHATWG HTML standard
/// (§9.2.6 "Interpreting an event stream"), fed bytes as they arrive.
///
/// Written here rather than taken from a package: the maintained Swift SSE packages
/// (mattt/EventSource among them) parse the bytes of `URLSession.bytes(for:)`, which
/// FoundationNetworking on Linux does not have; the parser itself is a hundred lines
/// and fully unit-tested. What it implements:
///
/// - lines end with CRLF, LF or CR, including a CR at the end of one chunk and its LF at
///   the start of the next; a UTF-8 byte order mark at the very start is dropped;
/// - `data` lines are joined with `\n`; an event with no data is not dispatched;
/// - lines starting with `:` are comments; a field without a colon has an empty value;
///   one space after the colon is removed;
/// - `id` sets the last event id (ignored when it contains NUL), and it persists across
///   events; `retry` with only ASCII digits sets the reconnection time;
/// - an event still incomplete when the stream ends is discarded;
/// - bytes are split into lines before UTF-8 decoding (CR and LF never occur inside a
///   multi-byte sequence), so a chunk boundary inside a character is harmless; invalid
///   UTF-8 becomes U+FFFD.
public struct ServerSentEventParser: Sendable {
    /// The last event id seen, what a reconnection sends as `Last-Event-ID`.
    public private(set) var lastEventID = ""
    /// The reconnection time the server asked for with `retry`, in milliseconds.
    public private(set) var retryMilliseconds: Int?

    private var line: [UInt8] = []
    private var afterCR = false
    private var atStart = true
    private var bomCandidate: [UInt8] = []
    private var data = ""
    private var hasData = false
    private var eventType = ""
    private var idBuffer: String
    private var sawIDField = false

    /// `lastEventID`: where a reconnected stream resumes, so events without an `id`
    /// field still report it.
    public init(lastEventID: String = "") {
        self.lastEventID = lastEventID
        self.idBuffer = lastEventID
    }

    /// Parses another chunk; returns the events it completed, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            if atStart {
                // The BOM is EF BB BF, only at the very start of the stream.
                let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                if byte == bom[bomCandidate.count] {
                    bomCandidate.append(byte)
                    if bomCandidate.count == bom.count {
                        atStart = false
                        bomCandidate = []
                    }
                    continue
                }
                atStart = false
                let held = bomCandidate
                bomCandidate = []
                for heldByte in held { consume(heldByte, into: &events) }
            }
            consume(byte, into: &events)
        }
        return events
    }

    /// The stream ended: an incomplete event is discarded, as the standard says. The
    /// parser can then be fed a new connection's bytes (the last event id stays).
    public mutating func finish() {
        line = []
        afterCR = false
        atStart = true
        bomCandidate = []
        data = ""
        hasData = false
        eventType = ""
        idBuffer = lastEventID
        sawIDField = false
    }

    private mutating func consume(_ byte: UInt8, into events: inout [ServerSentEvent]) {
        switch byte {
        case 0x0A where afterCR:
            afterCR = false
        case 0x0A, 0x0D:
            afterCR = byte == 0x0D
            processLine(into: &events)
        default:
            afterCR = false
            line.append(byte)
        }
    }

    private mutating func processLine(into events: inout [ServerSentEvent]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            dispatch(into: &events)
            return
        }
        if line.first == UInt8(ascii: ":") { return }
        let field: String
        var value: Substring
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = String(decoding: line[..<colon], as: UTF8.self)
            var valueBytes = line[(colon + 1)...]
            if valueBytes.first == UInt8(ascii: " ") { valueBytes = valueBytes.dropFirst() }
            value = Substring(String(decoding: valueBytes, as: UTF8.self))
        } else {
            field = String(decoding: line, as: UTF8.self)
            value = ""
        }
        switch field {
        case "event":
            eventType = String(value)
        case "data":
            if hasData { data.append("\n") }
            data.append(contentsOf: value)
            hasData = true
        case "id":
            if !value.contains("\0") {
                idBuffer = String(value)
                sawIDField = true
            }
        case "retry":
            if !value.isEmpty, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
                retryMilliseconds = Int(value) ?? Int.max
            }
        default:
            break
        }
    }

    private mutating func dispatch(into events: inout [ServerSentEvent]) {
        lastEventID = idBuffer
        defer {
            data = ""
            hasData = false
            eventType = ""
            sawIDField = false
        }
        guard hasData else { return }
        events.append(ServerSentEvent(
            type: eventType.isEmpty ? "message" : eventType, data: data, lastEventID: lastEventID, hasID: sawIDField))
    }
}
