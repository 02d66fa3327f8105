import FoundationEssentials

/// A Python agent service the app can start, stop and restart, whatever runs it.
///
/// The embedded backend runs the service inside this process; a subprocess backend
/// runs it as a child. Both publish the same ``SidecarEvent``s.
public protocol Sidecar: AnyObject, Sendable {
    /// The per-launch token every endpoint but `/health` requires.
    var token: String { get }
    var state: SidecarState { get async }
    /// Where the service listens, once it has started: `http://127.0.0.1:8765` (an IPv6
    /// host in brackets), no trailing slash.
    var address: String? { get async }
    /// A new subscription to lifecycle events; any number may be open.
    func events() -> AsyncStream<SidecarEvent>
    /// Returns once `/health` answers; throws ``SidecarError`` otherwise.
    func start() async throws
    /// Graceful stop within the configured shutdown timeout.
    func stop() async throws
    func restart(_ kind: RestartKind) async throws
}

extension Sidecar {
    /// ``address`` as a `URL`, for clients built on URLs (`CagentClient`).
    public var baseURL: URL? {
        get async { await address.flatMap { URL(string: $0) } }
    }
}

/// How a restart replaces the service.
public enum RestartKind: String, Sendable, Codable, CaseIterable {
    /// A new uvicorn server in the same interpreter, the service's modules imported anew.
    case warm
    /// A new interpreter generation: `Py_FinalizeEx`, then initialize again.
    case cold
    /// A new child process (subprocess backend).
    case respawn
}

/// Where a sidecar is in its life; see ``EmbeddedSidecar`` for the transitions.
public enum SidecarState: Sendable, Equatable {
    case idle
    case starting
    case running(generation: Int)
    case restarting(RestartKind)
    case stopping
    case stopped
    case failed(String)
}
