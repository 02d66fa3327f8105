import Bridge
import FoundationEssentials
import Loopback

/// One lifecycle change, for UI feedback and the CLI's `--events-file`.
public struct SidecarEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case starting(generation: Int)
        case healthy(generation: Int)
        /// `reason` is what happened; `why` says why this `kind` (the recovery rule, see
        /// ``RecoveryPlan``). `attempt` and `delay` are set when the ``Supervisor``
        /// restarts on its own (the delay is the backoff it waits first); nil on request.
        case restarting(kind: RestartKind, reason: String, why: String, attempt: Int? = nil, delay: Duration? = nil)
        /// A health probe failed; `failures` counts consecutive ones.
        case unhealthy(reason: String, failures: Int)
        /// The event loop did not run the watchdog's heartbeat within the stall threshold.
        case stalled(StallReport)
        /// The stalled run was interrupted and the loop runs again: no restart needed.
        case interrupted(agent: String?, requestID: String?)
        /// The GIL did not come back: nothing in-process can recover the service.
        /// `policy` is what happens next (exit, stay).
        case wedged(stacks: String, detail: String, policy: WedgedPolicy)
        /// Too many restarts: the supervisor stopped trying.
        case circuitOpen(restarts: Int, lastError: String)
        /// A cold restart was needed past the budget: `growth` (bytes) is what cold
        /// restarts have added so far, `why` why cold was needed; `policy` comes next.
        case restartExhausted(growth: Int, budget: Int, why: String, policy: WedgedPolicy)
        /// A cold restart was refused; `instead` is what was done.
        case restartRefused(reasons: [String], instead: RestartKind)
        /// A restart that did not happen; the previous service keeps serving.
        case restartFailed(kind: RestartKind, error: String)
        case stopping
        case stopped(clean: Bool, detail: String?)
        case failed(error: String)
    }

    public let kind: Kind
    public let timestamp: Date

    public init(_ kind: Kind, timestamp: Date = Date()) {
        self.kind = kind
        self.timestamp = timestamp
    }

    /// The wire name: `starting`, `healthy`, `restarting`, ...
    public var type: String {
        switch kind {
        case .starting: "starting"
        case .healthy: "healthy"
        case .restarting: "restarting"
        case .unhealthy: "unhealthy"
        case .stalled: "stalled"
        case .interrupted: "interrupted"
        case .wedged: "wedged"
        case .circuitOpen: "circuit_open"
        case .restartExhausted: "restart_exhausted"
        case .restartRefused: "restart_refused"
        case .restartFailed: "restart_failed"
        case .stopping: "stopping"
        case .stopped: "stopped"
        case .failed: "failed"
        }
    }

    /// `{"type": ..., "ts": <unix seconds>, ...fields}`: one line of the events file.
    public var json: JSON {
        var object: [String: JSON] = ["type": .string(type), "ts": .double(timestamp.timeIntervalSince1970)]
        switch kind {
        case .starting(let generation), .healthy(let generation):
            object["generation"] = .integer(generation)
        case .restarting(let kind, let reason, let why, let attempt, let delay):
            object["kind"] = .string(kind.rawValue)
            object["reason"] = .string(reason)
            object["why"] = .string(why)
            if let attempt { object["attempt"] = .integer(attempt) }
            if let delay { object["delay_ms"] = .integer(Int(delay.milliseconds)) }
        case .unhealthy(let reason, let failures):
            object["reason"] = .string(reason)
            object["failures"] = .integer(failures)
        case .stalled(let report):
            object["stalled_ms"] = .integer(Int(report.stalledFor.milliseconds))
            object["stacks"] = .string(report.stacks)
            object["agent"] = report.agent.map { .string($0) } ?? .null
            object["request_id"] = report.requestID.map { .string($0) } ?? .null
            object["gil"] = .string(report.gilAvailable ? "available" : "held")
        case .interrupted(let agent, let requestID):
            object["agent"] = agent.map { .string($0) } ?? .null
            object["request_id"] = requestID.map { .string($0) } ?? .null
        case .wedged(let stacks, let detail, let policy):
            object["stacks"] = .string(stacks)
            object["detail"] = .string(detail)
            object["policy"] = .string(policy.rawValue)
        case .circuitOpen(let restarts, let lastError):
            object["restarts"] = .integer(restarts)
            object["last_error"] = .string(lastError)
        case .restartExhausted(let growth, let budget, let why, let policy):
            object["growth_mb"] = .double((Double(growth) / 1_048_576 * 10).rounded() / 10)
            object["budget_mb"] = .integer(budget >> 20)
            object["why"] = .string(why)
            object["policy"] = .string(policy.rawValue)
        case .restartRefused(let reasons, let instead):
            object["reasons"] = .array(reasons.map { .string($0) })
            object["instead"] = .string(instead.rawValue)
        case .restartFailed(let kind, let error):
            object["kind"] = .string(kind.rawValue)
            object["error"] = .string(error)
        case .stopping:
            break
        case .stopped(let clean, let detail):
            object["clean"] = .bool(clean)
            if let detail { object["detail"] = .string(detail) }
        case .failed(let error):
            object["error"] = .string(error)
        }
        return .object(object)
    }
}
