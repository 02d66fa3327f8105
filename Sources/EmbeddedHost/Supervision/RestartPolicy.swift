import FoundationEssentials
import Loopback
#if canImport(Glibc)
import Glibc
#endif

/// Backoff and circuit breaker as a pure value: the supervisor asks it what to do after
/// each fault and tells it when the service became healthy; it never sleeps or reads a
/// clock itself, so every decision is testable with made-up instants.
///
/// Delays: attempt *n* waits `initialBackoff × multiplierⁿ⁻¹`, capped at `maxBackoff`.
/// After `maxRestarts` restarts without a stable period in between, the next fault opens
/// the circuit. A service that stays healthy for `stablePeriod` after a restart earns a
/// clean slate: the count and the backoff start over.
public struct RestartPolicy: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        /// Restart after `delay`; `attempt` counts from 1 since the last clean slate.
        case restart(attempt: Int, delay: Duration)
        /// Too many restarts: stop trying.
        case circuitOpen(restarts: Int)
    }

    public let initialBackoff: Duration
    public let multiplier: Double
    public let maxBackoff: Duration
    public let maxRestarts: Int
    public let stablePeriod: Duration

    /// Restarts since the last clean slate.
    public private(set) var restarts = 0
    /// When the service last became healthy after a fault (nil while faulty).
    public private(set) var healthySince: ContinuousClock.Instant?

    public init(initialBackoff: Duration, multiplier: Double, maxBackoff: Duration, maxRestarts: Int, stablePeriod: Duration) {
        self.initialBackoff = initialBackoff
        self.multiplier = multiplier
        self.maxBackoff = maxBackoff
        self.maxRestarts = maxRestarts
        self.stablePeriod = stablePeriod
    }

    /// The delay before restart number `attempt` (1-based).
    public func delay(forAttempt attempt: Int) -> Duration {
        let exponent = Double(max(0, attempt - 1))
        let seconds = initialBackoff.inSeconds * pow(multiplier, exponent)
        // pow overflows to +inf long before Duration would: cap in Double first.
        return seconds >= maxBackoff.inSeconds ? maxBackoff : .nanoseconds(Int64(seconds * 1e9))
    }

    /// A fault happened at `now`: restart (with which delay) or open the circuit.
    public mutating func recordFault(at now: ContinuousClock.Instant) -> Decision {
        resetIfStable(at: now)
        healthySince = nil
        guard restarts < maxRestarts else { return .circuitOpen(restarts: restarts) }
        restarts += 1
        return .restart(attempt: restarts, delay: delay(forAttempt: restarts))
    }

    /// The service answered after a start or restart at `now`.
    public mutating func recordHealthy(at now: ContinuousClock.Instant) {
        if healthySince == nil { healthySince = now }
    }

    /// Clears the count when the service has been healthy for the stable period; returns
    /// whether it did. Called on every successful probe, and before judging a fault.
    @discardableResult
    public mutating func resetIfStable(at now: ContinuousClock.Instant) -> Bool {
        guard restarts > 0, let since = healthySince, now - since >= stablePeriod else { return false }
        restarts = 0
        return true
    }
}
