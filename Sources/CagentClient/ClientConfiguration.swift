import Foundation

/// Where the service is, the token, and how long to wait.
public struct ClientConfiguration: Sendable {
    /// `http://127.0.0.1:8765`, as the sidecar's `baseURL` gives it.
    public var baseURL: URL
    /// The per-launch token, sent as `Authorization: Bearer` to every endpoint but `/health`.
    public var token: String?
    /// For `/health`, `/agents`, starting a run and `/shutdown`.
    public var requestTimeout: Duration = .seconds(30)
    /// For `POST /agent/execute` without its own run timeout: the service's default run
    /// timeout (300 s) plus a margin. With one, the run timeout plus ``requestTimeout``.
    public var executeTimeout: Duration = .seconds(330)
    /// An event stream silent for this long is taken as dropped and reconnected. The
    /// service sends a keepalive every 15 s by default.
    public var streamIdleTimeout: Duration = .seconds(45)
    public var reconnection = Reconnection()

    /// How a dropped event stream is resumed with `Last-Event-ID`.
    public struct Reconnection: Sendable, Equatable {
        /// Consecutive failed attempts before the stream throws; an attempt that delivers
        /// an event starts the count over. 0 turns reconnection off.
        public var maxAttempts: Int = 5
        /// The wait before each attempt, unless the server sent `retry:`.
        public var delay: Duration = .milliseconds(300)

        public init(maxAttempts: Int = 5, delay: Duration = .milliseconds(300)) {
            self.maxAttempts = maxAttempts
            self.delay = delay
        }
    }

    public init(baseURL: URL, token: String?) {
        self.baseURL = baseURL
        self.token = token
    }
}
