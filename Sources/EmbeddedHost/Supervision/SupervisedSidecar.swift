import FoundationEssentials

/// What the ``Supervisor`` needs from a backend, beyond ``Sidecar``.
///
/// The embedded backend conforms today; the subprocess backend plugs in the same way
/// (its crash is the child exiting, its restart is `.respawn`, and it has no watchdog:
/// the OS isolates a stuck child, which a `SIGKILL` ends).
public protocol SupervisedSidecar: Sidecar {
    /// Adds an event to this sidecar's own stream, so that the supervisor's events and
    /// the backend's reach every subscriber as one ordered sequence.
    func publish(_ event: SidecarEvent)

    /// Returns only by throwing: ``SidecarError/serviceStopped(_:)`` when the running
    /// service ends without being asked to (a crash), ``SidecarError/stopRequested(reason:)``
    /// when the service asked to be stopped (`POST /shutdown`), or `CancellationError`.
    /// An end that came before the call is reported too.
    func waitUntilFailed() async throws

    /// One health probe of the running service; `healthy` when `/health` says ok.
    /// The default implementation sends `GET /health` to ``healthEndpoint``.
    func probeHealth(timeout: Duration) async -> Result<Void, HealthProbe.Failure>

    /// Where `/health` answers, while the service runs.
    var healthEndpoint: HealthEndpoint? { get async }

    /// How this backend will bring the service back now, after a fault (a crash, failed
    /// probes, a stall that persisted, a failed restart), and why that way: it depends on
    /// the backend's state, not on the fault. The supervisor publishes it in its
    /// `restarting` event, then calls ``recover(_:reason:)``.
    func recoveryPlan() async -> RecoveryPlan

    /// Brings the service back by `plan`. The default starts a service that is not
    /// running and restarts (`announce: false`) one that is.
    func recover(_ plan: RecoveryPlan, reason: String) async throws

    /// ``Sidecar/restart(_:)`` with the reason recorded; `announce: false` when the
    /// supervisor has already published its own `restarting` event.
    func restart(_ kind: RestartKind, reason: String, announce: Bool) async throws

    /// Resident memory the cold restarts of this sidecar have added to the process so far
    /// (bytes); 0 for a backend without cold restarts.
    var coldRestartGrowth: Int { get async }

    /// Turns on the backend's watchdog with this stall threshold and returns it, or nil
    /// when the backend has none.
    func enableWatchdog(stallThreshold: Duration) async -> (any SidecarWatchdog)?
}

public struct HealthEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

extension SupervisedSidecar {
    public var coldRestartGrowth: Int { 0 }

    public func recover(_ plan: RecoveryPlan, reason: String) async throws {
        switch await state {
        case .running, .restarting: try await restart(plan.kind, reason: reason, announce: false)
        default: try await start()
        }
    }

    public func probeHealth(timeout: Duration) async -> Result<Void, HealthProbe.Failure> {
        guard let endpoint = await healthEndpoint else { return .failure(.connect("the service is not listening")) }
        return await HealthProbe(host: endpoint.host, port: endpoint.port, timeout: timeout).check().map { _ in () }
    }
}

/// Deeper probes than HTTP, for a backend whose service shares the host's process.
///
/// Every method is safe to call from any task and never waits on the GIL without a bound.
public protocol SidecarWatchdog: Sendable {
    /// Waits for the next stall of the running service (a new one is reported only after
    /// the loop has turned again); nil once the watchdog is stopped or the task cancelled.
    func nextStall() async -> StallReport?

    /// Whether the event loop ran a heartbeat within the stall threshold, now.
    var isLoopResponsive: Bool { get }

    /// How long the GIL has been out of reach (zero when it was taken recently).
    var gilUnavailableFor: Duration { get }

    /// Every Python thread's stack, captured without the GIL.
    func captureStacks() -> String

    /// Raises in the run that blocks the loop; returns true once the loop has run a
    /// heartbeat again, false if it has not within `grace` (nothing was recovered).
    func interrupt(_ stall: StallReport, grace: Duration) async -> Bool
}
