/// Requests to one loopback HTTP/1.1 server, one connection each (`Connection: close`),
/// every call bounded by `timeout`: the host's health probe and `POST /shutdown`, the
/// bench, the tests. Blocking: run it on a thread of its own (the host's
/// `BlockingCall`), never on the cooperative pool.
///
/// For several requests on one kept-alive connection, ``connect()`` and
/// ``LoopbackConnection/exchange(_:limit:deadline:)``.
public struct LoopbackClient: Sendable {
    public var host: String
    public var port: Int
    public var timeout: Duration
    /// Longer bodies are a malformed answer.
    public var maximumBody: Int

    public init(host: String = "127.0.0.1", port: Int, timeout: Duration, maximumBody: Int = .max) {
        self.host = host
        self.port = port
        self.timeout = timeout
        self.maximumBody = maximumBody
    }

    /// Sends `request` and reads the whole answer, within `timeout` for all of it.
    public func send(_ request: HTTPRequest) throws(LoopbackError) -> HTTPResponse {
        let deadline = ContinuousClock.now + timeout
        let connection = try LoopbackConnection(host: host, port: port, deadline: deadline)
        defer { connection.close() }
        return try connection.exchange(request.bytes(host: host, port: port), limit: maximumBody, deadline: deadline)
    }

    /// A connection of its own, within `timeout`.
    public func connect() throws(LoopbackError) -> LoopbackConnection {
        try LoopbackConnection(host: host, port: port, deadline: ContinuousClock.now + timeout)
    }
}
