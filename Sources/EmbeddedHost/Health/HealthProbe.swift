import Bridge
import Loopback

/// `GET /health` over loopback, as the original sidecar polled it.
///
/// The shared loopback client (``LoopbackClient``) on a thread of its own, with one
/// deadline for connect, send and receive: the probe must not pull an HTTP client stack
/// into the host for one request to 127.0.0.1.
public struct HealthProbe: Sendable {
    public struct Response: Sendable, Equatable {
        public var statusCode: Int
        public var body: JSON?
    }

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case connect(String)
        case timedOut
        case malformed(String)
        case status(Int)
        /// 503 with `"status": "shutting_down"`: the service was asked to stop (POST /shutdown).
        case shuttingDown

        public var description: String {
            switch self {
            case .connect(let reason): "cannot connect: \(reason)"
            case .timedOut: "no answer before the probe timeout"
            case .malformed(let detail): "malformed answer: \(detail)"
            case .status(let code): "/health answered \(code)"
            case .shuttingDown: "/health says shutting_down (POST /shutdown)"
            }
        }
    }

    public var host: String
    public var port: Int
    public var timeout: Duration

    public init(host: String, port: Int, timeout: Duration = .milliseconds(2000)) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// Succeeds on a 200 whose body has `"status": "ok"`.
    public func check() async -> Result<Response, Failure> {
        let probe = self
        return await BlockingCall.run { probe.checkBlocking() }
    }

    func checkBlocking() -> Result<Response, Failure> {
        let client = LoopbackClient(host: host, port: port, timeout: timeout, maximumBody: 1 << 20)
        do {
            return Self.interpret(try client.send(HTTPRequest(method: "GET", path: "/health")))
        } catch {
            return .failure(Failure(error))
        }
    }

    /// A whole answer read to the end of its connection, as the probe judges it.
    static func parse(_ bytes: [UInt8]) -> Result<Response, Failure> {
        do {
            return interpret(try HTTPResponse.parse(bytes))
        } catch {
            return .failure(Failure(error))
        }
    }

    static func interpret(_ response: HTTPResponse) -> Result<Response, Failure> {
        let json = try? JSON(parsing: response.body)
        guard response.status == 200 else {
            if response.status == 503, case .object(let object) = json, object["status"] == .string("shutting_down") {
                return .failure(.shuttingDown)
            }
            return .failure(.status(response.status))
        }
        guard case .object(let object) = json, object["status"] == .string("ok") else {
            return .failure(.malformed("body without \"status\": \"ok\""))
        }
        return .success(Response(statusCode: response.status, body: json))
    }
}

extension HealthProbe.Failure {
    /// The client's failure in the probe's words: a peer that hangs up before the end of
    /// the head sent no HTTP answer, as before the shared client.
    init(_ error: LoopbackError) {
        switch error.kind {
        case .connect, .io: self = .connect(error.detail)
        case .timedOut: self = .timedOut
        case .closed, .malformed: self = .malformed(error.detail)
        }
    }
}
