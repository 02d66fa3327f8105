import Loopback

/// `POST /shutdown` with the token, over loopback: the first step of stopping a child
/// service, so it releases runs and MCP sessions before it gets SIGTERM.
///
/// The shared loopback client, like ``HealthProbe``: one request to 127.0.0.1 does not
/// justify an HTTP client stack in the host.
struct ShutdownRequest: Sendable {
    var host: String
    var port: Int
    var token: String
    var timeout: Duration

    enum Outcome: Sendable, Equatable {
        case answered(status: Int)
        case failed(String)
    }

    func send() async -> Outcome {
        let request = self
        return await BlockingCall.run(timeout: timeout + .milliseconds(200)) { request.sendBlocking() }
            ?? .failed("no answer within \(timeout)")
    }

    private func sendBlocking() -> Outcome {
        let deadline = ContinuousClock.now + timeout
        let request = HTTPRequest(method: "POST", path: "/shutdown", body: []).authorized(token)
        do {
            let connection = try LoopbackConnection(host: host, port: port, deadline: deadline)
            defer { connection.close() }
            try connection.send(request.bytes(host: host, port: port), deadline: deadline)
            // The status is the answer; the body is not waited for.
            return .answered(status: try connection.readHead(deadline: deadline).status)
        } catch {
            return .failed(error.description)
        }
    }
}
