import Foundation
import Loopback
import Testing
@testable import EmbeddedHost
import TestSupport

/// The supervisor's decisions over a scripted backend (no Python): tiny intervals, and
/// assertions on what happened and in which order, never on how long it took.
@Suite(.timeLimit(.minutes(2)))
struct SupervisorTests {
    private func config(_ change: (inout HealthCheckConfig) -> Void = { _ in }) -> HealthCheckConfig {
        var config = HealthCheckConfig()
        config.healthInterval = .milliseconds(10)
        config.healthTimeout = .milliseconds(10)
        config.backoffInitial = .milliseconds(10)
        config.maxBackoff = .milliseconds(40)
        config.stallThreshold = .milliseconds(10)
        config.wedgeTimeout = .milliseconds(50)
        change(&config)
        return config
    }

    private func restarts(_ events: [SidecarEvent]) -> [(attempt: Int?, delay: Int64?, kind: RestartKind)] {
        events.compactMap {
            if case .restarting(let kind, _, _, let attempt, let delay) = $0.kind { (attempt, delay?.milliseconds, kind) } else { nil }
        }
    }

    /// A supervisor running over a scripted backend, with its events collected: the steps
    /// every test here starts and ends with.
    private struct Running {
        let sidecar: FakeSidecar
        let log: EventLog<SidecarEvent>
        let supervisor: Supervisor
        let run: Task<Void, any Error>

        /// Stops the supervisor, then waits for run() to return and `stopped` to arrive.
        func stop() async throws {
            try await supervisor.stop()
            try await run.value
            try await log.waitFor("stopped")
        }
    }

    /// Starts supervising `sidecar` (set up beforehand) and waits for its first `healthy`.
    private func supervise(_ sidecar: FakeSidecar = FakeSidecar(), _ configuration: HealthCheckConfig? = nil) async throws -> Running {
        let log = EventLog(sidecar.events())
        let supervisor = try Supervisor(sidecar: sidecar, configuration: configuration ?? config())
        let run = Task { try await supervisor.run() }
        try await log.waitFor("healthy")
        return Running(sidecar: sidecar, log: log, supervisor: supervisor, run: run)
    }

    @Test func crashesRestartWithGrowingCappedDelaysUntilTheCircuitOpens() async throws {
        let running = try await supervise()
        let (sidecar, log) = (running.sidecar, running.log)
        for crash in 1...6 {
            try await log.waitFor("healthy", count: crash)
            await sidecar.crash()
        }
        await #expect(throws: SupervisorError.circuitOpen(restarts: 5, lastError: "crashed: crashed on purpose")) { try await running.run.value }
        #expect(await running.supervisor.state == .circuitOpen)
        let events = await log.events
        let seen = restarts(events)
        #expect(seen.map(\.attempt) == [1, 2, 3, 4, 5])
        #expect(seen.map(\.delay) == [10, 20, 40, 40, 40])
        #expect(seen.allSatisfy { $0.kind == .respawn })
        #expect(events.last?.type == "circuit_open")
        // Each restart: the crash, the announcement, then the new start.
        let types = events.map(\.type)
        #expect(Array(types.prefix(7)) == ["starting", "healthy", "failed", "restarting", "starting", "healthy", "failed"])
    }

    /// A cold restart needed past the budget is not made: restart_exhausted, then the
    /// policy (exit: run() throws after stopping the service; stay: up, no restart).
    @Test(arguments: [WedgedPolicy.exit, .stay])
    func aColdRestartPastTheBudgetIsExhausted(policy: WedgedPolicy) async throws {
        let sidecar = FakeSidecar()
        await sidecar.set(plan: RecoveryPlan(kind: .cold, why: "the interpreter has ended"), coldRestartGrowth: 300 << 20)
        let running = try await supervise(sidecar, config { $0.coldRestartBudget = 256 << 20; $0.onExhausted = policy })
        await sidecar.crash()
        try await running.log.waitFor("restart_exhausted")
        let exhausted = await running.log.events.first { $0.type == "restart_exhausted" }
        #expect(exhausted?.kind == .restartExhausted(growth: 300 << 20, budget: 256 << 20, why: "the interpreter has ended", policy: policy))
        #expect(await sidecar.starts == 1, "no second start")
        switch policy {
        case .exit:
            await #expect(throws: SupervisorError.self) { try await running.run.value }
        case .stay:
            try await waitUntil("the supervisor settles in .exhausted") { await running.supervisor.state == .exhausted }
            try await running.supervisor.stop()
            try await running.run.value
        }
        #expect(restarts(await running.log.events).isEmpty, "nothing announced a restart")
    }

    /// POST /shutdown: the service asked to stop. run() stops it and returns; no restart.
    @Test func aStopTheServiceAsksForEndsRunWithoutARestart() async throws {
        let running = try await supervise()
        let (sidecar, log) = (running.sidecar, running.log)
        await sidecar.requestStop("POST /shutdown")
        try await running.run.value
        try await log.waitFor("stopped")
        #expect(await log.types == ["starting", "healthy", "stopping", "stopped"])
        #expect(await sidecar.restarts.isEmpty)
        #expect(await sidecar.starts == 1)
        #expect(await running.supervisor.state == .stopped)
        if case .stopped(_, let detail)? = await log.events.last?.kind { #expect(detail == "POST /shutdown") }
    }

    @Test func failedProbesAreReportedThenRestartTheService() async throws {
        let running = try await supervise(FakeSidecar(), config { $0.maxRetries = 3 })
        let (sidecar, log) = (running.sidecar, running.log)
        await sidecar.set(healthy: false)
        try await log.waitFor("healthy", count: 2)
        try await running.stop()
        let types = await log.types
        #expect(types == ["starting", "healthy", "unhealthy", "unhealthy", "unhealthy", "restarting", "healthy", "stopping", "stopped"])
        let failures = await log.events.compactMap { if case .unhealthy(_, let n) = $0.kind { n } else { nil } }
        #expect(failures == [1, 2, 3])
        #expect(await sidecar.restarts.map(\.kind) == [.respawn])
        #expect(await sidecar.restarts.first?.reason.hasPrefix("unhealthy: 3 consecutive health probes failed") == true)
        #expect(await running.supervisor.state == .stopped)
    }

    @Test func aServiceThatFailsAtStartCountsAsACrash() async throws {
        let sidecar = FakeSidecar()
        await sidecar.set(failingStarts: 2)
        let running = try await supervise(sidecar)
        try await running.stop()
        let log = running.log
        #expect(await log.types == ["starting", "failed", "restarting", "starting", "failed", "restarting", "starting", "healthy", "stopping", "stopped"])
        #expect(restarts(await log.events).map(\.attempt) == [1, 2])
    }

    @Test func aServiceThatNeverStartsOpensTheCircuit() async throws {
        let sidecar = FakeSidecar()
        await sidecar.set(alwaysFailStarts: true)
        let log = EventLog(sidecar.events())
        let supervisor = try Supervisor(sidecar: sidecar, configuration: config { $0.maxRestarts = 2 })
        await #expect(throws: SupervisorError.self) { try await supervisor.run() }
        #expect(await sidecar.starts == 3)
        try await log.waitFor("circuit_open")
        #expect(await log.types == ["starting", "failed", "restarting", "starting", "failed", "restarting", "starting", "failed", "circuit_open"])
    }

    @Test func countersResetAfterTheStablePeriod() async throws {
        let running = try await supervise(FakeSidecar(), config { $0.stablePeriod = .milliseconds(100) })
        let (sidecar, log, supervisor) = (running.sidecar, running.log, running.supervisor)
        await sidecar.crash()
        try await log.waitFor("healthy", count: 2)
        await sidecar.crash()
        try await log.waitFor("healthy", count: 3)
        #expect(await supervisor.restartCount == 2)
        // Healthy probes past the stable period clear the count.
        try await waitUntil("the restart count is cleared") { await supervisor.restartCount == 0 }
        await sidecar.crash()
        try await log.waitFor("healthy", count: 4)
        try await running.stop()
        #expect(restarts(await log.events).map(\.attempt) == [1, 2, 1])
        #expect(restarts(await log.events).map(\.delay) == [10, 20, 10])
    }

    @Test func stopDuringTheBackoffStopsAtOnce() async throws {
        let running = try await supervise(FakeSidecar(), config {
            $0.backoffInitial = .seconds(3600)
            $0.maxBackoff = .seconds(3600)
        })
        let (sidecar, supervisor) = (running.sidecar, running.supervisor)
        await sidecar.crash()
        try await running.log.waitFor("restarting")
        try await supervisor.stop()
        try await running.run.value
        #expect(await supervisor.state == .stopped)
        #expect(await sidecar.starts == 1, "no restart after the stop")
    }

    @Test func aStallThatTheInterruptEndsIsReportedAndNeedsNoRestart() async throws {
        let watchdog = FakeWatchdog()
        let running = try await supervise(FakeSidecar(watchdog: watchdog))
        let (sidecar, log) = (running.sidecar, running.log)
        watchdog.stall(agent: "fault_sleep", requestID: "r1")
        try await log.waitFor("interrupted")
        try await running.stop()
        #expect(await log.types == ["starting", "healthy", "stalled", "interrupted", "stopping", "stopped"])
        let interrupted = await log.events.first { $0.type == "interrupted" }
        #expect(interrupted?.kind == .interrupted(agent: "fault_sleep", requestID: "r1"))
        #expect(await sidecar.restarts.isEmpty)
    }

    @Test func aStallTheInterruptCannotEndIsRestarted() async throws {
        let watchdog = FakeWatchdog()
        let running = try await supervise(FakeSidecar(watchdog: watchdog))
        let (sidecar, log) = (running.sidecar, running.log)
        watchdog.stall(interruptWorks: false)
        try await log.waitFor("healthy", count: 2)
        try await running.stop()
        #expect(await log.types == ["starting", "healthy", "stalled", "restarting", "healthy", "stopping", "stopped"])
        #expect(await sidecar.restarts.first?.reason == "stalled: the event loop stayed blocked after the interrupt (agent fault_sleep)")
        #expect(restarts(await log.events).map(\.attempt) == [1])
    }

    @Test func aGILThatNeverComesBackIsWedgedAndExitsUnderTheExitPolicy() async throws {
        let watchdog = FakeWatchdog()
        let running = try await supervise(FakeSidecar(watchdog: watchdog))
        let (sidecar, log) = (running.sidecar, running.log)
        watchdog.stall(agent: nil, requestID: nil, gilHeld: true)
        await #expect(throws: SupervisorError.self) { try await running.run.value }
        #expect(await running.supervisor.state == .wedged)
        try await log.waitFor("wedged")
        #expect(await log.types == ["starting", "healthy", "stalled", "wedged"])
        guard case .wedged(let stacks, let detail, .exit)? = await log.events.last?.kind else {
            Issue.record("no wedged event")
            return
        }
        #expect(stacks.contains("faults.py"))
        #expect(detail.contains("GIL"))
        #expect(await sidecar.restarts.isEmpty, "no restart was claimed")
    }

    @Test func underTheStayPolicyAWedgedServiceIsHealthyAgainOnlyWhenTheLoopTurns() async throws {
        let watchdog = FakeWatchdog()
        let running = try await supervise(FakeSidecar(watchdog: watchdog), config { $0.onWedged = .stay })
        let (log, supervisor) = (running.log, running.supervisor)
        watchdog.stall(gilHeld: true)
        try await log.waitFor("wedged")
        #expect(await supervisor.state == .wedged)
        watchdog.loopTurnsAgain()
        try await log.waitFor("healthy", count: 2)
        #expect(await supervisor.state == .running)
        try await running.stop()
        #expect(await log.types == ["starting", "healthy", "stalled", "wedged", "healthy", "stopping", "stopped"])
    }
}
