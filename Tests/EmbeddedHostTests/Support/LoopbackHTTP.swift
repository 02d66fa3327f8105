import Bridge
import EmbeddedHost
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small blocking HTTP/1.1 client for 127.0.0.1, enough for the tests: one request
/// per connection, Content-Length, chunked or read-to-close bodies, and SSE streams.
struct LoopbackHTTP: Sendable {
    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: JSON? { try? JSONDecoder().decode(JSON.self, from: body) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    var host = "127.0.0.1"
    var port: Int
    var token: String?
    var timeout: Duration = .seconds(30)

    func get(_ path: String) async throws -> Response {
        try await request("GET", path)
    }

    func post(_ path: String, json: JSON) async throws -> Response {
        try await request("POST", path, body: try JSONEncoder().encode(json))
    }

    func request(_ method: String, _ path: String, body: Data? = nil) async throws -> Response {
        let client = self
        return try await BlockingCall.run {
            Result { try client.requestBlocking(method, path, body: body) }
        }.get()
    }

    func requestBlocking(_ method: String, _ path: String, body: Data?) throws -> Response {
        let connection = try Connection(host: host, port: port, timeout: timeout)
        try connection.send(head(method, path, body: body, extra: ["Connection: close"]) + (body ?? Data()))
        let (status, headers) = try connection.readHead()
        let data: Data
        if let length = headers["content-length"].flatMap(Int.init) {
            data = try connection.read(count: length)
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            data = try connection.readChunked()
        } else {
            data = try connection.readToEnd()
        }
        return Response(status: status, headers: headers, body: data)
    }

    /// Opens `GET path` as an event stream; read events with ``EventStream/next()``.
    func stream(_ path: String, lastEventID: String? = nil) async throws -> EventStream {
        let client = self
        return try await BlockingCall.run {
            Result { () throws -> EventStream in
                let connection = try Connection(host: client.host, port: client.port, timeout: client.timeout)
                var extra = ["Accept: text/event-stream", "Connection: close"]
                if let lastEventID { extra.append("Last-Event-ID: \(lastEventID)") }
                try connection.send(client.head("GET", path, body: nil, extra: extra))
                let (status, headers) = try connection.readHead()
                return EventStream(connection: connection, status: status, chunked: headers["transfer-encoding"]?.lowercased() == "chunked")
            }
        }.get()
    }

    private func head(_ method: String, _ path: String, body: Data?, extra: [String]) -> Data {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: \(host):\(port)"]
        if let token { lines.append("Authorization: Bearer \(token)") }
        if let body {
            lines.append("Content-Type: application/json")
            lines.append("Content-Length: \(body.count)")
        }
        lines += extra
        return Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }
}

/// Server-sent events read off one connection, parsed per the WHATWG rules the
/// tests need (event, id, data lines; comments skipped).
final class EventStream: @unchecked Sendable {
    struct Event: Sendable, Equatable {
        var event: String
        var id: String?
        var data: String
        var json: JSON? { try? JSONDecoder().decode(JSON.self, from: Data(data.utf8)) }
    }

    let status: Int
    private let connection: Connection
    private let chunked: Bool
    private var buffer = Data()

    fileprivate init(connection: Connection, status: Int, chunked: Bool) {
        self.connection = connection
        self.status = status
        self.chunked = chunked
    }

    /// The next event, or nil when the server ended the stream.
    func next() async throws -> Event? {
        try await BlockingCall.run { Result { try self.nextBlocking() } }.get()
    }

    /// Every event until the server ends the stream.
    func all() async throws -> [Event] {
        var events: [Event] = []
        while let event = try await next() { events.append(event) }
        return events
    }

    func close() { connection.close() }

    private func nextBlocking() throws -> Event? {
        var event = "message"
        var id: String?
        var data: [String] = []
        while true {
            guard let line = try readLine() else { return nil }
            if line.isEmpty {
                if data.isEmpty && id == nil { event = "message"; continue }
                return Event(event: event, id: id, data: data.joined(separator: "\n"))
            }
            if line.hasPrefix(":") { continue }
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let field = String(parts[0])
            var value = parts.count > 1 ? String(parts[1]) : ""
            if value.hasPrefix(" ") { value.removeFirst() }
            switch field {
            case "event": event = value
            case "id": id = value
            case "data": data.append(value)
            default: break
            }
        }
    }

    private func readLine() throws -> String? {
        while true {
            if let range = buffer.firstRange(of: Data("\n".utf8)) {
                var line = buffer[buffer.startIndex..<range.lowerBound]
                buffer.removeSubrange(buffer.startIndex..<range.upperBound)
                if line.last == 0x0D { line = line.dropLast() }
                return String(decoding: line, as: UTF8.self)
            }
            let more = chunked ? try connection.readChunk() : try connection.readSome()
            guard let more, !more.isEmpty else { return nil }
            buffer.append(more)
        }
    }
}

/// One TCP connection with a deadline on every read.
final class Connection: @unchecked Sendable {
    private let fd: Int32
    private let timeout: Duration
    private var pending = Data()
    private var closed = false

    init(host: String, port: Int, timeout: Duration) throws {
        self.timeout = timeout
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if status != 0 {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw LoopbackHTTP.Failure(description: "connect to \(host):\(port): \(reason)")
        }
    }

    deinit { close() }

    func close() {
        if !closed { closed = true; Glibc.close(fd) }
    }

    func send(_ data: Data) throws {
        var offset = 0
        while offset < data.count {
            let n = data[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw LoopbackHTTP.Failure(description: "send: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    func readHead() throws -> (Int, [String: String]) {
        let separator = Data("\r\n\r\n".utf8)
        while pending.firstRange(of: separator) == nil {
            guard let more = try receive() else { throw LoopbackHTTP.Failure(description: "connection closed before the response head") }
            pending.append(more)
        }
        let range = pending.firstRange(of: separator)!
        let head = String(decoding: pending[pending.startIndex..<range.lowerBound], as: UTF8.self)
        pending.removeSubrange(pending.startIndex..<range.upperBound)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw LoopbackHTTP.Failure(description: "bad status line in \(head)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return (status, headers)
    }

    func read(count: Int) throws -> Data {
        while pending.count < count {
            guard let more = try receive() else { throw LoopbackHTTP.Failure(description: "connection closed mid-body") }
            pending.append(more)
        }
        let data = pending.prefix(count)
        pending.removeFirst(count)
        return Data(data)
    }

    func readToEnd() throws -> Data {
        while let more = try receive() { pending.append(more) }
        defer { pending.removeAll() }
        return pending
    }

    func readSome() throws -> Data? {
        if !pending.isEmpty {
            defer { pending.removeAll() }
            return pending
        }
        return try receive()
    }

    /// One chunk's payload; nil at the last (zero-size) chunk or the end of the connection.
    func readChunk() throws -> Data? {
        guard let sizeLine = try readLine(), let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else {
            return nil
        }
        if size == 0 { return nil }
        let data = try read(count: size)
        _ = try read(count: 2)
        return data
    }

    func readChunked() throws -> Data {
        var body = Data()
        while let chunk = try readChunk() { body.append(chunk) }
        return body
    }

    private func readLine() throws -> String? {
        let newline = Data("\r\n".utf8)
        while pending.firstRange(of: newline) == nil {
            guard let more = try receive() else { return nil }
            pending.append(more)
        }
        let range = pending.firstRange(of: newline)!
        let line = String(decoding: pending[pending.startIndex..<range.lowerBound], as: UTF8.self)
        pending.removeSubrange(pending.startIndex..<range.upperBound)
        return line
    }

    private func receive() throws -> Data? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000)
        let ready = poll(&descriptor, 1, milliseconds)
        if ready == 0 { throw LoopbackHTTP.Failure(description: "no data within \(timeout)") }
        var buffer = [UInt8](repeating: 0, count: 16384)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw LoopbackHTTP.Failure(description: "recv: \(String(cString: strerror(errno)))") }
        return n == 0 ? nil : Data(buffer[0..<n])
    }
}
