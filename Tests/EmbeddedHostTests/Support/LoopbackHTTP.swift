import Bridge
import EmbeddedHost
import Foundation
import Loopback

/// The shared loopback client (``LoopbackClient``) as the tests use it: async (on a
/// thread of its own), `Data` and ``JSON`` bodies, and SSE streams.
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
        let response = try Self.failing {
            try LoopbackClient(host: host, port: port, timeout: timeout).send(request(method, path, body: body))
        }
        return Response(status: response.status, headers: response.headers, body: Data(response.body))
    }

    /// Opens `GET path` as an event stream; read events with ``EventStream/next()``.
    func stream(_ path: String, lastEventID: String? = nil) async throws -> EventStream {
        let client = self
        return try await BlockingCall.run {
            Result { () throws -> EventStream in
                try Self.failing {
                    let deadline = ContinuousClock.now + client.timeout
                    let connection = try LoopbackConnection(host: client.host, port: client.port, deadline: deadline)
                    var request = client.request("GET", path, body: nil)
                    request.headers.append(("Accept", "text/event-stream"))
                    if let lastEventID { request.headers.append(("Last-Event-ID", lastEventID)) }
                    try connection.send(request.bytes(host: client.host, port: client.port), deadline: deadline)
                    let head = try connection.readHead(deadline: deadline)
                    return EventStream(connection: connection, timeout: client.timeout, status: head.status, chunked: head.isChunked)
                }
            }
        }.get()
    }

    private func request(_ method: String, _ path: String, body: Data?) -> HTTPRequest {
        HTTPRequest(method: method, path: path, headers: body == nil ? [] : [("Content-Type", "application/json")],
                    body: body.map { Array($0) })
            .authorized(token)
    }

    /// The client's failure as the tests' ``Failure``.
    fileprivate static func failing<T>(_ work: () throws -> T) throws -> T {
        do {
            return try work()
        } catch let error as LoopbackError {
            throw Failure(description: error.description)
        }
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
    private let connection: LoopbackConnection
    /// For each read: how long the server may stay silent.
    private let timeout: Duration
    private let chunked: Bool
    private var buffer = Data()

    fileprivate init(connection: LoopbackConnection, timeout: Duration, status: Int, chunked: Bool) {
        self.connection = connection
        self.timeout = timeout
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
            let deadline = ContinuousClock.now + timeout
            let more = try LoopbackHTTP.failing {
                chunked ? try connection.readChunk(deadline: deadline) : try connection.readSome(deadline: deadline)
            }
            guard let more, !more.isEmpty else { return nil }
            buffer.append(contentsOf: more)
        }
    }
}
