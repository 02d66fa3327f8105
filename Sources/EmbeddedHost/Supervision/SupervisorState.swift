import FoundationEssentials

/// Where the ``Supervisor`` is. Transitions (one at a time, on the supervisor's actor):
///
/// ```
/// idle → starting → running
/// starting → stopped                          (a start that no restart can fix; run() throws)
/// running → (crash | failed probes) → backingOff → restarting → running
/// running → stalled → running                 (interrupted, or it ended by itself)
/// running → stalled → backingOff → restarting → running   (the interrupt did not help)
/// running → stalled → wedged                  (the GIL never came back; exit or stay)
/// wedged → running                            (stay: only if the loop turns again)
/// backingOff/restarting → circuitOpen         (too many restarts; run() throws)
/// any fault → exhausted                       (a cold restart past the budget; exit or stay)
/// any → stopping → stopped                    (stop())
/// ```
public enum SupervisorState: Sendable, Equatable {
    case idle
    case starting
    case running
    /// The recovery ladder is working on a stall.
    case stalled
    /// Waiting `delay` before restart `attempt`.
    case backingOff(attempt: Int, delay: Duration)
    case restarting(attempt: Int)
    /// Degraded: the GIL did not come back and the policy is `stay`.
    case wedged
    /// A cold restart was needed past the budget and the policy is `stay`.
    case exhausted
    case circuitOpen
    case stopping
    case stopped
}

/// Why ``Supervisor/run()`` ended without being asked to.
public enum SupervisorError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(HealthCheckConfigError)
    /// Too many restarts without a stable period; the service is not running.
    case circuitOpen(restarts: Int, lastError: String)
    /// The GIL did not come back and the policy is `exit`. The interpreter thread is stuck
    /// in C code: the process cannot stop it, only end (the CLI exits with status 75).
    case wedged(detail: String)
    /// A cold restart was needed past ``HealthCheckConfig/coldRestartBudget`` and the
    /// policy is `exit` (the CLI exits with status 75).
    case restartExhausted(detail: String)
    case alreadyRunning
    /// ``Supervisor/stop()`` came before the service was ever running
    /// (``Supervisor/waitUntilRunning()`` throws it).
    case stoppedBeforeRunning

    public var description: String {
        switch self {
        case .invalidConfiguration(let error):
            return error.description
        case .circuitOpen(let restarts, let lastError):
            return "giving up after \(restarts) restart\(restarts == 1 ? "" : "s") without a stable period (circuit open); last error: \(lastError)"
        case .wedged(let detail):
            return "the service is wedged: \(detail)"
        case .restartExhausted(let detail):
            return "the cold restart budget is spent: \(detail)"
        case .alreadyRunning:
            return "this supervisor is already running"
        case .stoppedBeforeRunning:
            return "the supervisor was stopped before the service was running"
        }
    }
}
