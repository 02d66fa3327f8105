import FoundationEssentials
import Loopback

/// Every knob of the ``Supervisor``, with the original sidecar's defaults.
///
/// The defaults are the Electron sidecar's (poll every 5 s, 2 s probe timeout, 3 failed
/// probes before a restart, 5 restarts before giving up, backoff 1 s ×2 up to 60 s) plus
/// what only an in-process host can watch: the event-loop stall threshold and what to do
/// when the GIL never comes back. Validate with ``validate()`` before use; the
/// ``Supervisor`` refuses an invalid configuration.
public struct HealthCheckConfig: Sendable, Equatable {
    /// Time between two `GET /health` probes.
    public var healthInterval: Duration = .milliseconds(5000)
    /// How long one probe may take (connect, send, answer).
    public var healthTimeout: Duration = .milliseconds(2000)
    /// Consecutive failed probes before the service is restarted.
    public var maxRetries: Int = 3
    /// Restarts allowed (without a stable period in between) before the circuit opens.
    public var maxRestarts: Int = 5
    /// Delay before the first restart; each further one is ×``backoffMultiplier``.
    public var backoffInitial: Duration = .milliseconds(1000)
    public var backoffMultiplier: Double = 2
    /// The cap of the backoff delay.
    public var maxBackoff: Duration = .milliseconds(60000)
    /// A heartbeat scheduled on the event loop that has not run within this is a stall.
    public var stallThreshold: Duration = .milliseconds(1000)
    /// Healthy this long after a restart: the restart count and the backoff start over.
    public var stablePeriod: Duration = .seconds(60)
    /// Graceful stop before it is forced.
    public var shutdownTimeout: Duration = .milliseconds(5000)
    /// How long the GIL may stay out of reach during a stall before the service is
    /// declared `wedged` (mod_wsgi's deadlock timeout plays this part there).
    public var wedgeTimeout: Duration = .milliseconds(5000)
    /// What follows `wedged`.
    public var onWedged: WedgedPolicy = .exit
    /// The resident memory cold restarts may add to the process, in bytes (each new
    /// interpreter keeps what extension modules allocated with their own `malloc`: ~1.6 MB
    /// a cold restart of the service, ~40 MB for the first; `docs/restarts.md`). A cold
    /// restart that would be needed past it is not made: `restart_exhausted`, then
    /// ``onExhausted``. 0 disables cold restarts.
    public var coldRestartBudget: Int = 256 << 20
    /// What follows `restart_exhausted`.
    public var onExhausted: WedgedPolicy = .exit

    public init() {}

    /// Rejects values the supervisor cannot work with; the message names the value
    /// and the `cagent-sidecar run` flag that sets it.
    public func validate() throws(HealthCheckConfigError) {
        func positive(_ value: Duration, _ name: String, _ flag: String) throws(HealthCheckConfigError) {
            guard value > .zero else { throw .invalid("\(name) must be greater than 0 (got \(value.formatted)); set it with \(flag)") }
        }
        try positive(healthInterval, "the health interval", "--health-interval")
        try positive(healthTimeout, "the health probe timeout", "--health-timeout")
        guard maxRetries >= 1 else {
            throw .invalid("max retries must be at least 1 (got \(maxRetries)); set it with --max-retries")
        }
        guard maxRestarts >= 0 else {
            throw .invalid("max restarts must be 0 or more (got \(maxRestarts)); set it with --max-restarts")
        }
        try positive(backoffInitial, "the initial backoff", "--backoff-initial")
        guard backoffMultiplier.isFinite, backoffMultiplier >= 1 else {
            throw .invalid("the backoff multiplier must be a number of at least 1 (got \(backoffMultiplier)); set it with --backoff-multiplier")
        }
        guard maxBackoff >= backoffInitial else {
            throw .invalid("the maximum backoff (\(maxBackoff.formatted)) must not be below the initial backoff (\(backoffInitial.formatted)); set it with --max-backoff")
        }
        guard stallThreshold >= .milliseconds(10) else {
            throw .invalid("the stall threshold must be at least 10 ms (got \(stallThreshold.formatted)); set it with --stall-threshold")
        }
        try positive(stablePeriod, "the stable period", "--stable-period")
        try positive(shutdownTimeout, "the shutdown timeout", "--shutdown-timeout")
        guard coldRestartBudget >= 0 else {
            throw .invalid("the cold restart budget must be 0 or more MB (got \(coldRestartBudget >> 20)); set it with --cold-restart-budget")
        }
        guard wedgeTimeout >= stallThreshold else {
            throw .invalid("the wedge timeout (\(wedgeTimeout.formatted)) must not be below the stall threshold (\(stallThreshold.formatted)); set it with --wedge-timeout")
        }
    }

    /// The backoff and circuit-breaker part, as a fresh ``RestartPolicy``.
    public var restartPolicy: RestartPolicy {
        RestartPolicy(
            initialBackoff: backoffInitial, multiplier: backoffMultiplier, maxBackoff: maxBackoff,
            maxRestarts: maxRestarts, stablePeriod: stablePeriod)
    }
}

/// What the supervisor does once the GIL has not come back within the wedge timeout.
/// What the supervisor does when it cannot recover in-process: the service is `wedged`
/// (``HealthCheckConfig/onWedged``), or the cold restart it needs is past the budget
/// (``HealthCheckConfig/onExhausted``).
public enum WedgedPolicy: String, Sendable, Codable, CaseIterable {
    /// ``Supervisor/run()`` throws (``SupervisorError/wedged(detail:)`` or
    /// ``SupervisorError/restartExhausted(detail:)``); the CLI exits with status 75
    /// (`EX_TEMPFAIL`) so an outer supervisor (systemd, launchd) restarts the app.
    case exit
    /// Stay up, degraded: no more restarts (wedged: `healthy` again only if the loop turns
    /// again; exhausted: the service as it is, until stopped).
    case stay

    /// The exit status the CLI uses for ``exit``.
    public static let exitStatus: Int32 = 75
}

public enum HealthCheckConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): "invalid supervision setting: \(message)"
        }
    }
}

extension Duration {
    var formatted: String { "\(milliseconds) ms" }
}
