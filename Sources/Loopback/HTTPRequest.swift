/// One HTTP/1.1 request, rendered to the bytes sent on the wire.
///
/// `Content-Length` is always written when there is a body (never chunked), and
/// `Connection: close` unless the connection is to be kept alive.
public struct HTTPRequest: Sendable {
    public var method: String
    public var path: String
    /// Extra header lines, in order (`Host`, `Content-Length`, `Connection` are added).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?

    public init(method: String, path: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }

    /// `POST path` of a JSON body, with the bearer token when there is one.
    public static func postJSON(_ path: String, token: String?, json: [UInt8]) -> HTTPRequest {
        HTTPRequest(method: "POST", path: path, headers: [("Content-Type", "application/json")], body: json)
            .authorized(token)
    }

    /// This request with `Authorization: Bearer token` first among its headers (none for nil).
    public func authorized(_ token: String?) -> HTTPRequest {
        guard let token else { return self }
        var copy = self
        copy.headers.insert(("Authorization", "Bearer \(token)"), at: 0)
        return copy
    }

    public func bytes(host: String, port: Int, keepAlive: Bool = false) -> [UInt8] {
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        if let body { text += "Content-Length: \(body.count)\r\n" }
        if !keepAlive { text += "Connection: close\r\n" }
        text += "\r\n"
        return Array(text.utf8) + (body ?? [])
    }
}
