/// Errors a user can act on; each message says what happened and what to do.
public enum SidecarError: Error, Sendable, Equatable, CustomStringConvertible {
    case runtimeNotFound(searched: [String])
    case runtimeInvalid(path: String, reason: String)
    case portInUse(host: String, port: Int)
    case bindFailed(host: String, port: Int, reason: String)
    case serviceFailedToStart(String)
    case startTimedOut(seconds: Double)
    case shutdownTimedOut(seconds: Double)
    case notRunning(SidecarState)
    case restartFailed(String)
    case interpreterUnavailable(String)
    case serviceStopped(String)
    /// The service asked to be stopped (`POST /shutdown`, "release resources and exit"):
    /// a stop request, not a fault. A ``Supervisor`` ends ``Supervisor/run()`` instead of
    /// restarting; without one, call ``Sidecar/stop()``.
    case stopRequested(reason: String)
    /// The service stopped, but `Py_FinalizeEx` was skipped: it would have waited forever
    /// for these threads. No new embedded interpreter can start in this process.
    case interpreterNotFinalized(threads: [String])

    public var description: String {
        switch self {
        case .runtimeNotFound(let searched):
            return "no Python runtime found (looked in: \(searched.joined(separator: ", "))). "
                + "Run `make setup` in the project to create .venv with /usr/bin/python3.11, or pass --python-home."
        case .runtimeInvalid(let path, let reason):
            return "the Python runtime at \(path) cannot be used: \(reason)"
        case .portInUse(let host, let port):
            return "port \(port) on \(host) is already in use; choose another with --port (0 picks a free one)"
        case .bindFailed(let host, let port, let reason):
            return "cannot listen on \(host):\(port): \(reason)"
        case .serviceFailedToStart(let detail):
            return "the service failed to start:\n\(detail)"
        case .startTimedOut(let seconds):
            return "the service did not answer /health within \(seconds) s"
        case .shutdownTimedOut(let seconds):
            return "the service did not stop within the shutdown timeout (\(seconds) s)"
        case .notRunning(let state):
            return "the sidecar is not running (state: \(state))"
        case .restartFailed(let detail):
            return "restart failed: \(detail)"
        case .interpreterNotFinalized(let threads):
            return "the service stopped, but the interpreter could not be finalized: non-daemon Python threads "
                + "still running after the shutdown timeout: \(threads.joined(separator: ", "))"
        case .serviceStopped(let detail):
            return "the service stopped unexpectedly: \(detail)"
        case .stopRequested(let reason):
            return "the service asked to stop: \(reason)"
        case .interpreterUnavailable(let detail):
            return "the interpreter did not respond: \(detail)"
        }
    }
}
