import Bridge
import Foundation
import Loopback
import Testing
@testable import EmbeddedHost

/// The backoff, the circuit breaker and the configuration, as pure values.
@Suite struct RestartPolicyTests {
    private let t0 = ContinuousClock.now

    @Test func delaysGrowByTheMultiplierAndStopAtTheCap() {
        let policy = HealthCheckConfig().restartPolicy
        let delays = (1...9).map { policy.delay(forAttempt: $0).milliseconds }
        #expect(delays == [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000])
        #expect(policy.delay(forAttempt: 10_000) == .milliseconds(60000), "no overflow far past the cap")
    }

    @Test func theCircuitOpensAfterMaxRestarts() {
        var policy = HealthCheckConfig().restartPolicy
        var decisions: [RestartPolicy.Decision] = []
        for second in 0..<7 { decisions.append(policy.recordFault(at: t0 + .seconds(second))) }
        #expect(decisions == [
            .restart(attempt: 1, delay: .seconds(1)), .restart(attempt: 2, delay: .seconds(2)),
            .restart(attempt: 3, delay: .seconds(4)), .restart(attempt: 4, delay: .seconds(8)),
            .restart(attempt: 5, delay: .seconds(16)), .circuitOpen(restarts: 5), .circuitOpen(restarts: 5),
        ])
    }

    @Test func maxRestartsZeroOpensAtTheFirstFault() {
        var config = HealthCheckConfig()
        config.maxRestarts = 0
        var policy = config.restartPolicy
        let decision = policy.recordFault(at: t0)
        #expect(decision == .circuitOpen(restarts: 0))
    }

    @Test func aStablePeriodResetsTheCountAndTheBackoff() {
        var policy = HealthCheckConfig().restartPolicy
        _ = policy.recordFault(at: t0)
        policy.recordHealthy(at: t0 + .seconds(1))
        _ = policy.recordFault(at: t0 + .seconds(30))
        policy.recordHealthy(at: t0 + .seconds(31))
        #expect(policy.restarts == 2)
        let early = policy.resetIfStable(at: t0 + .seconds(90))
        #expect(!early, "59 s healthy is not yet stable")
        let stable = policy.resetIfStable(at: t0 + .seconds(91))
        #expect(stable)
        #expect(policy.restarts == 0)
        let next = policy.recordFault(at: t0 + .seconds(100))
        #expect(next == .restart(attempt: 1, delay: .seconds(1)))
    }

    @Test func aFaultAfterTheStablePeriodStartsOverEvenWithoutAProbe() {
        var policy = HealthCheckConfig().restartPolicy
        _ = policy.recordFault(at: t0)
        _ = policy.recordFault(at: t0)
        policy.recordHealthy(at: t0 + .seconds(1))
        let next = policy.recordFault(at: t0 + .seconds(61))
        #expect(next == .restart(attempt: 1, delay: .seconds(1)))
    }

    @Test func aFaultBeforeTheStablePeriodKeepsCounting() {
        var policy = HealthCheckConfig().restartPolicy
        _ = policy.recordFault(at: t0)
        policy.recordHealthy(at: t0 + .seconds(1))
        let next = policy.recordFault(at: t0 + .seconds(60))
        #expect(next == .restart(attempt: 2, delay: .seconds(2)))
    }

    @Test func theDefaultsAreTheOriginalSidecars() throws {
        let config = HealthCheckConfig()
        #expect(config.healthInterval == .milliseconds(5000))
        #expect(config.healthTimeout == .milliseconds(2000))
        #expect(config.maxRetries == 3)
        #expect(config.maxRestarts == 5)
        #expect(config.backoffInitial == .milliseconds(1000))
        #expect(config.backoffMultiplier == 2)
        #expect(config.maxBackoff == .milliseconds(60000))
        #expect(config.stallThreshold == .milliseconds(1000))
        #expect(config.stablePeriod == .seconds(60))
        #expect(config.shutdownTimeout == .milliseconds(5000))
        #expect(config.onWedged == .exit)
        try config.validate()
    }

    @Test(arguments: [
        "--health-interval", "--health-timeout", "--max-retries", "--max-restarts", "--backoff-initial",
        "--backoff-multiplier", "--max-backoff", "--stall-threshold", "--stable-period", "--shutdown-timeout",
        "--wedge-timeout",
    ])
    func invalidValuesAreRejectedNamingTheFlag(flag: String) {
        var config = HealthCheckConfig()
        switch flag {
        case "--health-interval": config.healthInterval = .zero
        case "--health-timeout": config.healthTimeout = .milliseconds(-1)
        case "--max-retries": config.maxRetries = 0
        case "--max-restarts": config.maxRestarts = -1
        case "--backoff-initial": config.backoffInitial = .zero
        case "--backoff-multiplier": config.backoffMultiplier = .nan
        case "--max-backoff": config.maxBackoff = .milliseconds(10)
        case "--stall-threshold": config.stallThreshold = .milliseconds(1)
        case "--stable-period": config.stablePeriod = .zero
        case "--shutdown-timeout": config.shutdownTimeout = .zero
        default: config.wedgeTimeout = .milliseconds(100)
        }
        #expect {
            try config.validate()
        } throws: { error in
            "\(error)".contains(flag)
        }
        #expect(throws: SupervisorError.self) { try Supervisor(sidecar: FakeSidecar(), configuration: config) }
    }

    @Test func eventsHaveTheirWireFields() throws {
        let at = Date(timeIntervalSince1970: 1_700_000_000)
        let restarting = SidecarEvent(.restarting(kind: .cold, reason: "crashed: x", why: "the interpreter has ended", attempt: 2, delay: .milliseconds(2000)), timestamp: at)
        #expect(restarting.json == ["type": "restarting", "ts": 1_700_000_000.0, "kind": "cold", "reason": "crashed: x", "why": "the interpreter has ended", "attempt": 2, "delay_ms": 2000])
        let stalled = SidecarEvent(.stalled(StallReport(stalledFor: .milliseconds(1234), stacks: "s", agent: "a", requestID: "r", gilAvailable: true)), timestamp: at)
        #expect(stalled.json == ["type": "stalled", "ts": 1_700_000_000.0, "stalled_ms": 1234, "stacks": "s", "agent": "a", "request_id": "r", "gil": "available"])
        #expect(SidecarEvent(.unhealthy(reason: "r", failures: 2), timestamp: at).json == ["type": "unhealthy", "ts": 1_700_000_000.0, "reason": "r", "failures": 2])
        #expect(SidecarEvent(.interrupted(agent: nil, requestID: "r"), timestamp: at).json == ["type": "interrupted", "ts": 1_700_000_000.0, "agent": nil, "request_id": "r"])
        #expect(SidecarEvent(.wedged(stacks: "s", detail: "d", policy: .exit), timestamp: at).json == ["type": "wedged", "ts": 1_700_000_000.0, "stacks": "s", "detail": "d", "policy": "exit"])
        #expect(SidecarEvent(.circuitOpen(restarts: 5, lastError: "e"), timestamp: at).json == ["type": "circuit_open", "ts": 1_700_000_000.0, "restarts": 5, "last_error": "e"])
        #expect(SidecarEvent(.restarting(kind: .warm, reason: "requested", why: "requested"), timestamp: at).json == ["type": "restarting", "ts": 1_700_000_000.0, "kind": "warm", "reason": "requested", "why": "requested"])
    }
}
