import ArgumentParser
import EmbeddedHost
import FoundationEssentials

/// `cagent-sidecar run`'s supervision flags (and `cagent-bench`'s, which start `run` children). Every duration is in seconds (fractions
/// allowed: `--stall-threshold 0.25`), like the older `--shutdown-timeout` and
/// `--start-timeout`.
public struct SupervisionOptions: ParsableArguments {
    public init() {}

    @Option(help: "Seconds between two GET /health probes.")
    public var healthInterval: Double = 5

    @Option(help: "Seconds one health probe may take.")
    public var healthTimeout: Double = 2

    @Option(help: "Consecutive failed health probes before a restart.")
    public var maxRetries: Int = 3

    @Option(help: "Restarts without a stable period before giving up (the circuit opens and the program exits with status 1).")
    public var maxRestarts: Int = 5

    @Option(help: "Seconds before the first restart.")
    public var backoffInitial: Double = 1

    @Option(help: "Each further restart waits this many times longer.")
    public var backoffMultiplier: Double = 2

    @Option(help: "Longest wait before a restart, in seconds.")
    public var maxBackoff: Double = 60

    @Option(help: "Seconds the event loop may go without running the watchdog's heartbeat before it counts as stalled.")
    public var stallThreshold: Double = 1

    @Option(help: "Seconds of health after a restart that reset the restart count and the backoff.")
    public var stablePeriod: Double = 60

    @Option(help: "Seconds the GIL may stay out of reach during a stall before the service is wedged.")
    public var wedgeTimeout: Double = 5

    @Option(help: "When wedged: exit (status 75, for an outer supervisor to restart the app) or stay (up, degraded).")
    public var onWedged: String = "exit"

    @Option(help: "MB of resident memory cold restarts may add to the process (each keeps ~2 MB, the first ~40 MB); past it a needed cold restart is not made (restart_exhausted). 0 disables cold restarts.")
    public var coldRestartBudget: Int = 256

    @Option(help: "When a cold restart is needed past the budget: exit (status 75) or stay (up as it is, no more restarts).")
    public var onExhausted: String = "exit"

    public func validate() throws {
        _ = try healthCheckConfig(shutdownTimeout: 5)
    }

    /// The flags as a validated ``HealthCheckConfig``; errors name the flag.
    public func healthCheckConfig(shutdownTimeout: Double) throws -> HealthCheckConfig {
        var config = HealthCheckConfig()
        config.healthInterval = try duration(healthInterval, "--health-interval")
        config.healthTimeout = try duration(healthTimeout, "--health-timeout")
        config.maxRetries = maxRetries
        config.maxRestarts = maxRestarts
        config.backoffInitial = try duration(backoffInitial, "--backoff-initial")
        config.backoffMultiplier = backoffMultiplier
        config.maxBackoff = try duration(maxBackoff, "--max-backoff")
        config.stallThreshold = try duration(stallThreshold, "--stall-threshold")
        config.stablePeriod = try duration(stablePeriod, "--stable-period")
        config.wedgeTimeout = try duration(wedgeTimeout, "--wedge-timeout")
        config.shutdownTimeout = try duration(shutdownTimeout, "--shutdown-timeout")
        config.onWedged = try policy(onWedged, "--on-wedged")
        config.onExhausted = try policy(onExhausted, "--on-exhausted")
        guard coldRestartBudget >= 0, coldRestartBudget <= Int.max >> 20 else {
            throw ValidationError("--cold-restart-budget must be 0 or more MB (got \(coldRestartBudget))")
        }
        config.coldRestartBudget = coldRestartBudget << 20
        do {
            try config.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return config
    }

    /// `--on-wedged` and `--on-exhausted` as a ``WedgedPolicy``; the error names the flag.
    private func policy(_ value: String, _ flag: String) throws -> WedgedPolicy {
        guard let policy = WedgedPolicy(rawValue: value) else {
            throw ValidationError("\(flag) must be exit or stay (got \(value))")
        }
        return policy
    }

    /// A flag's seconds as a `Duration`; the error names the flag.
    private func duration(_ seconds: Double, _ flag: String) throws -> Duration {
        guard seconds.isFinite, seconds >= 0, seconds <= 86_400 * 365 else {
            throw ValidationError("\(flag) must be a number of seconds between 0 and one year (got \(seconds))")
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
