/// Every message between the host and its Python half, by name: the Swift side of
/// `Sources/EmbeddedHost/Python/cagent_host/messages.py`. `HostMessagesTests` checks
/// that the two sets agree, name for name.

/// What the runner tells the host: `notify(notice, payload)`, on the interpreter
/// thread with the GIL held (``InterpreterThread`` handles them).
enum HostNotice: String, Sendable, CaseIterable {
    /// Payload: the generation's `Controller`.
    case controller
    /// `{"service_generation", "restart": "warm" | null}`.
    case serving
    /// `{"error"}`: the previous service keeps serving.
    case warmRestartFailed = "warm_restart_failed"
    /// `{"reasons"}`: done warm instead.
    case coldRestartRefused = "cold_restart_refused"
    /// `{"command"}`: the loop has taken a command.
    case command
    /// `{"reason"}`: the service asked to be stopped (`POST /shutdown`).
    case stopRequested = "stop_requested"
    /// `{}`: what a restart replaced is stopped and collected, the new service warmed up.
    case retired
}

/// What the host asks of the running loop: `Controller.request(command)`.
enum HostCommand: String, Sendable, CaseIterable {
    case stop, warm, cold
    /// Stop the servers a warm restart replaced (they serve until the new one is healthy).
    case retire
}

/// What the watchdog's signal handlers ask the host: `ask(question)`
/// (``InterpreterLink/take(_:)`` answers).
enum HostAsk: String, Sendable, CaseIterable {
    /// Answer: null (not armed) or the request id to interrupt ("" for any run).
    case interrupt
    /// Answer: a bool.
    case abort
}
