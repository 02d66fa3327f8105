/// The head of an HTTP/1.1 response: its status and headers (names lowercased).
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: [String: String]

    /// The body's length when `Content-Length` gives it.
    public var contentLength: Int? { headers["content-length"].flatMap { Int($0) } }
    public var isChunked: Bool { headers["transfer-encoding"]?.lowercased() == "chunked" }

    /// Parses the text before the blank line; the status line must be `HTTP/1.x code …`.
    public static func parse(_ text: String) throws(LoopbackError) -> HTTPResponseHead {
        var lines = text.split(separator: Character("\r\n"), omittingEmptySubsequences: false)
        let statusLine = lines.isEmpty ? "" : lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw LoopbackError(.malformed, "status line \(String(statusLine).debugDescription)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            let pair = line.split(separator: ":", maxSplits: 1)
            guard pair.count == 2 else { continue }
            var value = pair[1]
            while value.first == " " || value.first == "\t" { value = value.dropFirst() }
            while value.last == " " || value.last == "\t" { value = value.dropLast() }
            headers[pair[0].lowercased()] = String(value)
        }
        return HTTPResponseHead(status: status, headers: headers)
    }
}

/// A whole HTTP/1.1 response.
public struct HTTPResponse: Sendable, Equatable {
    public var head: HTTPResponseHead
    public var body: [UInt8]

    public var status: Int { head.status }
    public var headers: [String: String] { head.headers }

    public init(head: HTTPResponseHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }

    static let headEnd: [UInt8] = Array("\r\n\r\n".utf8)

    /// Parses a response read to the end of its connection: the body is what follows the
    /// head, de-chunked when chunked, cut at `Content-Length` when longer.
    public static func parse(_ bytes: [UInt8]) throws(LoopbackError) -> HTTPResponse {
        guard let split = bytes.firstRange(ofBytes: headEnd) else { throw LoopbackError(.malformed, "no header end") }
        let head = try HTTPResponseHead.parse(String(decoding: bytes[..<split.lowerBound], as: UTF8.self))
        var body = Array(bytes[split.upperBound...])
        if head.isChunked {
            body = dechunk(body)
        } else if let length = head.contentLength, length < body.count {
            body.removeLast(body.count - length)
        }
        return HTTPResponse(head: head, body: body)
    }

    /// The payload of a chunked body, up to the last chunk or the end of the bytes.
    public static func dechunk(_ body: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var index = body.startIndex
        while let lineEnd = body[index...].firstRange(ofBytes: Array("\r\n".utf8)) {
            let sizeText = String(decoding: body[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            let end = min(start + size, body.endIndex)
            output.append(contentsOf: body[start..<end])
            index = min(end + 2, body.endIndex)
        }
        return output
    }
}
