import FoundationEssentials
import Logging
import Loopback

/// Keeps a ``SupervisedSidecar`` running and says what is happening.
///
/// It watches three things at once — the service ending on its own (a crash), `GET
/// /health` at the interval, and, when the backend has one, the watchdog's stall reports
/// — and handles one fault at a time on its actor:
///
/// - crash, or a start that fails (an agents module that raises on import): bring it back
///   after the backoff delay;
/// - ``HealthCheckConfig/maxRetries`` failed probes in a row (`unhealthy` for each): restart;
///
/// the backend says how (``SupervisedSidecar/recoveryPlan()``: warm first for the
/// embedded one) and the `restarting` event says which kind and why;
/// - stall: the recovery ladder (`stalled` → interrupt → `interrupted`, or restart, or
///   `wedged`), see ``handleStall(_:)``.
///
/// Every restart goes through the ``RestartPolicy``: growing delays, and after too many
/// the circuit opens (`circuit_open`) and ``run()`` throws. Its events go into the
/// sidecar's own stream, so ``events()`` is one ordered sequence for both.
public actor Supervisor {
    public nonisolated let sidecar: any SupervisedSidecar
    public nonisolated let configuration: HealthCheckConfig
    public private(set) var state: SupervisorState = .idle

    private var policy: RestartPolicy
    private var watchdog: (any SidecarWatchdog)?
    private let stopRequest = Once<Void>()
    private let finished = Once<Void>()
    /// The first time the service is running (success), or why it never got there: what
    /// ``run()`` threw, or ``SupervisorError/stoppedBeforeRunning``.
    private let ready = Once<Result<Void, any Error>>()
    private var running = false
    private var stopError: (any Error)?
    private let logger: Logger

    /// Throws ``SupervisorError/invalidConfiguration(_:)`` for an invalid configuration.
    public init(sidecar: any SupervisedSidecar, configuration: HealthCheckConfig = HealthCheckConfig(),
                logger: Logger = Logger(label: "cagent.supervisor")) throws(SupervisorError) {
        do {
            try configuration.validate()
        } catch {
            throw .invalidConfiguration(error)
        }
        self.sidecar = sidecar
        self.configuration = configuration
        self.policy = configuration.restartPolicy
        self.logger = logger
    }

    /// The sidecar's events and the supervisor's, in the order they happened.
    public nonisolated func events() -> AsyncStream<SidecarEvent> {
        sidecar.events()
    }

    /// Restarts since the last stable period (what the next backoff delay grows from).
    public var restartCount: Int { policy.restarts }

    /// Starts the service and keeps it running until ``stop()``; then stops it and returns.
    ///
    /// Throws ``SupervisorError/circuitOpen(restarts:lastError:)`` when it gave up (the
    /// service is stopped), ``SupervisorError/wedged(detail:)`` under the `exit` policy
    /// (the service cannot be stopped: end the process), or the stop's own error.
    public func run() async throws {
        guard !running, !finished.isFired else { throw SupervisorError.alreadyRunning }
        do {
            try await supervise()
            ready.fire(.failure(SupervisorError.stoppedBeforeRunning))
        } catch {
            // A start that failed for good (no runtime, port taken) is over: not `.starting`.
            if state == .starting { state = .stopped }
            ready.fire(.failure(error))
            throw error
        }
    }

    /// Returns once the service is running for the first time (at once when it already
    /// has been), so an app need not poll ``state``. Throws what ``run()`` threw when it
    /// ended before that (a configuration error, the circuit opening),
    /// ``SupervisorError/stoppedBeforeRunning`` when it was stopped first, or
    /// `CancellationError` when the waiting task is cancelled.
    public nonisolated func waitUntilRunning() async throws {
        guard let outcome = await ready.wait() else { throw CancellationError() }
        try outcome.get()
    }

    /// ``run()``'s body: start, then handle faults until stopped.
    private func supervise() async throws {
        running = true
        defer {
            running = false
            finished.fire()
        }
        watchdog = await sidecar.enableWatchdog(stallThreshold: configuration.stallThreshold)
        state = .starting
        var fault: Fault?
        do {
            try await sidecar.start()
            becameHealthy()
        } catch {
            // A configuration error is the same at every attempt: say it now.
            if Self.isPermanent(error) { throw error }
            fault = .startFailed(Self.describe(error))
        }
        do {
            while !stopRequest.isFired {
                if fault == nil { fault = await nextFault() }
                guard let current = fault else { break }
                fault = nil
                if case .stalled(let report) = current {
                    fault = try await handleStall(report)
                } else {
                    fault = try await restart(after: current)
                }
            }
        } catch let error as SupervisorError {
            switch error {
            case .circuitOpen, .restartExhausted: try? await sidecar.stop()
            default: break
            }
            throw error
        }
        state = .stopping
        do {
            try await sidecar.stop()
            state = .stopped
        } catch {
            state = .stopped
            stopError = error
            throw error
        }
    }

    /// Stops supervising and stops the service gracefully (within the sidecar's shutdown
    /// timeout); waits for ``run()`` to end when it is running.
    public func stop() async throws {
        stopRequest.fire()
        if running {
            await finished.wait()
            if let stopError { throw stopError }
        } else {
            state = .stopping
            try await sidecar.stop()
            state = .stopped
        }
    }

    /// A restart on request (SIGHUP, a reload), outside the backoff and circuit accounting.
    /// A cold one past ``HealthCheckConfig/coldRestartBudget`` is refused. `reason` goes
    /// into the `restarting` event.
    public func restart(_ kind: RestartKind, reason: String = "requested") async throws {
        guard state == .running else { throw SidecarError.restartFailed("the supervisor is \(state), not running") }
        if kind == .cold, let growth = await budgetSpent() {
            throw SidecarError.restartFailed("cold restarts have added \(growth >> 20) MB, the budget is \(configuration.coldRestartBudget >> 20) MB (--cold-restart-budget); restart warm, or restart the process")
        }
        try await sidecar.restart(kind, reason: reason, announce: true)
    }

    // MARK: - Faults

    enum Fault: Sendable {
        case startFailed(String)
        case crashed(String)
        case unhealthy(String)
        case stalled(StallReport)
        case stallPersisted(String)
        case restartFailed(String)

        var reason: String {
            switch self {
            case .startFailed(let detail): "failed to start: \(detail)"
            case .crashed(let detail): "crashed: \(detail)"
            case .unhealthy(let detail): "unhealthy: \(detail)"
            case .stalled(let report): "stalled for \(report.stalledFor.milliseconds) ms"
            case .stallPersisted(let detail): "stalled: \(detail)"
            case .restartFailed(let detail): "restart failed: \(detail)"
            }
        }
    }

    private enum Wake: Sendable {
        case fault(Fault)
        case stop
        case cancelled
    }

    /// Waits for the first of: a crash, too many failed probes, a stall, a stop request.
    private func nextFault() async -> Fault? {
        let sidecar = self.sidecar
        let watchdog = self.watchdog
        let stopRequest = self.stopRequest
        return await withTaskGroup(of: Wake.self) { group -> Fault? in
            group.addTask {
                do {
                    try await sidecar.waitUntilFailed()
                    return .cancelled
                } catch SidecarError.serviceStopped(let detail) {
                    return .fault(.crashed(detail))
                } catch SidecarError.stopRequested {
                    return .stop  // POST /shutdown: stop, do not restart
                } catch {
                    return .cancelled
                }
            }
            group.addTask { await self.probeUntilUnhealthy().map { .fault($0) } ?? .cancelled }
            if let watchdog {
                group.addTask { await watchdog.nextStall().map { .fault(.stalled($0)) } ?? .cancelled }
            }
            group.addTask {
                await stopRequest.wait()
                return .stop
            }
            defer { group.cancelAll() }
            while let wake = await group.next() {
                switch wake {
                case .fault(let fault): return fault
                case .stop: return nil
                case .cancelled: continue
                }
            }
            return nil
        }
    }

    /// Probes at the interval while the sidecar is running; returns after
    /// ``HealthCheckConfig/maxRetries`` consecutive failures.
    private func probeUntilUnhealthy() async -> Fault? {
        var failures = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.healthInterval)
            guard !Task.isCancelled else { return nil }
            // Restarts on request and the start itself are not the probe's business.
            guard case .running = await sidecar.state else {
                failures = 0
                continue
            }
            switch await sidecar.probeHealth(timeout: configuration.healthTimeout) {
            case .success:
                failures = 0
                noteHealthyProbe()
            case .failure(let failure):
                guard !Task.isCancelled else { return nil }
                failures += 1
                sidecar.publish(SidecarEvent(.unhealthy(reason: failure.description, failures: failures)))
                if failures >= configuration.maxRetries {
                    return .unhealthy("\(failures) consecutive health probes failed; last: \(failure.description)")
                }
            }
        }
        return nil
    }

    /// Restarts after `fault` through the policy; returns the next fault when the restart
    /// itself failed. Throws when the circuit opens.
    private func restart(after fault: Fault) async throws -> Fault? {
        let reason = fault.reason
        switch policy.recordFault(at: .now) {
        case .circuitOpen(let restarts):
            state = .circuitOpen
            logger.error("circuit open after \(restarts) restarts", metadata: ["last": "\(reason)"])
            sidecar.publish(SidecarEvent(.circuitOpen(restarts: restarts, lastError: reason)))
            throw SupervisorError.circuitOpen(restarts: restarts, lastError: reason)
        case .restart(let attempt, let delay):
            let plan = await sidecar.recoveryPlan()
            if plan.kind == .cold, let growth = await budgetSpent() {
                return try await exhausted(growth: growth, why: plan.why)
            }
            logger.warning("restarting (\(plan.kind.rawValue)) in \(delay.milliseconds) ms, attempt \(attempt)",
                           metadata: ["reason": "\(reason)", "why": "\(plan.why)"])
            sidecar.publish(SidecarEvent(.restarting(kind: plan.kind, reason: reason, why: plan.why, attempt: attempt, delay: delay)))
            state = .backingOff(attempt: attempt, delay: delay)
            if await stopRequest.wait(upTo: delay) { return nil }
            state = .restarting(attempt: attempt)
            do {
                try await sidecar.recover(plan, reason: reason)
                becameHealthy()
                return nil
            } catch {
                let detail = Self.describe(error)
                // A failed restart that left the previous service serving (a warm restart
                // of broken code) has nothing left to repair.
                if case .running = await sidecar.state, case .success = await sidecar.probeHealth(timeout: configuration.healthTimeout) {
                    logger.error("restart failed; the previous service keeps serving", metadata: ["error": "\(detail)"])
                    becameHealthy()
                    return nil
                }
                return .restartFailed(detail)
            }
        }
    }

    // MARK: - The recovery ladder for a stall

    /// 1. report `stalled` (stacks, agent, request id); 2. interrupt the run, and if the
    /// loop turns again report `interrupted` — done; 3. if the GIL is free but the loop
    /// stays blocked, restart (returns that fault); 4. if the GIL stays out of reach past
    /// the wedge timeout, `wedged` and the policy.
    private func handleStall(_ report: StallReport) async throws -> Fault? {
        sidecar.publish(SidecarEvent(.stalled(report)))
        guard let watchdog else { return .stallPersisted("no watchdog to interrupt it") }
        state = .stalled
        logger.error("event loop stalled", metadata: [
            "agent": "\(report.agent ?? "?")", "request_id": "\(report.requestID ?? "?")",
            "ms": "\(report.stalledFor.milliseconds)", "gil": "\(report.gilAvailable ? "available" : "held")",
        ])
        if watchdog.isLoopResponsive {
            // It ended on its own before anything was done: report it, claim nothing.
            state = .running
            return nil
        }
        let grace = max(configuration.stallThreshold, .milliseconds(200))
        if await watchdog.interrupt(report, grace: grace) {
            state = .running
            sidecar.publish(SidecarEvent(.interrupted(agent: report.agent, requestID: report.requestID)))
            return nil
        }
        if watchdog.gilUnavailableFor > .zero {
            return try await handleGILHeld(report, watchdog: watchdog)
        }
        let who = report.agent.map { " (agent \($0))" } ?? ""
        return .stallPersisted("the event loop stayed blocked after the interrupt\(who)")
    }

    /// The GIL is out of reach: wait for it up to the wedge timeout, then apply the policy.
    private func handleGILHeld(_ report: StallReport, watchdog: any SidecarWatchdog) async throws -> Fault? {
        let poll = min(configuration.stallThreshold, .milliseconds(100))
        while watchdog.gilUnavailableFor < configuration.wedgeTimeout {
            if stopRequest.isFired { return nil }
            if watchdog.isLoopResponsive {
                state = .running
                return nil
            }
            if watchdog.gilUnavailableFor == .zero {
                // The GIL came back but the loop is still blocked: a restart may work.
                return .stallPersisted("the event loop stayed blocked after the GIL came back")
            }
            try? await Task.sleep(for: poll)
        }
        let held = watchdog.gilUnavailableFor
        let detail = "the GIL has been held for \(held.milliseconds) ms by code that signals cannot interrupt "
            + "(C code holding it); nothing in this process can recover the service"
        let stacks = watchdog.captureStacks()
        state = .wedged
        logger.critical("wedged", metadata: ["detail": "\(detail)", "policy": "\(configuration.onWedged.rawValue)"])
        sidecar.publish(SidecarEvent(.wedged(stacks: stacks.isEmpty ? report.stacks : stacks, detail: detail, policy: configuration.onWedged)))
        switch configuration.onWedged {
        case .exit:
            throw SupervisorError.wedged(detail: detail)
        case .stay:
            // Degraded: no restarts (they need the loop). Back to running only if the
            // loop really turns again and /health answers.
            while !stopRequest.isFired {
                if await stopRequest.wait(upTo: configuration.healthInterval) { return nil }
                if watchdog.isLoopResponsive, watchdog.gilUnavailableFor == .zero,
                   case .success = await sidecar.probeHealth(timeout: configuration.healthTimeout),
                   case .running(let generation) = await sidecar.state {
                    state = .running
                    sidecar.publish(SidecarEvent(.healthy(generation: generation)))
                    return nil
                }
            }
            return nil
        }
    }

    // MARK: - The cold restart budget

    /// What cold restarts have added, when it leaves no room for another one; nil while
    /// there is room.
    private func budgetSpent() async -> Int? {
        let growth = await sidecar.coldRestartGrowth
        return growth >= configuration.coldRestartBudget ? growth : nil
    }

    /// A cold restart is needed and the budget is spent: say so, then the policy.
    private func exhausted(growth: Int, why: String) async throws -> Fault? {
        let budget = configuration.coldRestartBudget
        let detail = "cold restarts have added \(growth >> 20) MB to the process (budget \(budget >> 20) MB) and a cold restart is needed: \(why)"
        logger.critical("restart exhausted", metadata: ["detail": "\(detail)", "policy": "\(configuration.onExhausted.rawValue)"])
        sidecar.publish(SidecarEvent(.restartExhausted(growth: growth, budget: budget, why: why, policy: configuration.onExhausted)))
        switch configuration.onExhausted {
        case .exit:
            throw SupervisorError.restartExhausted(detail: detail)
        case .stay:
            // Up with the service as it is (perhaps none), no more restarts, until stopped.
            state = .exhausted
            await stopRequest.wait()
            return nil
        }
    }

    // MARK: - Bookkeeping

    private func becameHealthy() {
        state = .running
        ready.fire(.success(()))
        policy.recordHealthy(at: .now)
    }

    private func noteHealthyProbe() {
        if policy.resetIfStable(at: .now) {
            logger.info("stable for \(configuration.stablePeriod.milliseconds) ms: restart count and backoff reset")
        }
    }

    /// Errors no restart can fix: no runtime, a port taken by another program.
    static func isPermanent(_ error: any Error) -> Bool {
        switch error as? SidecarError {
        case .runtimeNotFound?, .runtimeInvalid?, .portInUse?, .bindFailed?: true
        default: false
        }
    }

    static func describe(_ error: any Error) -> String {
        (error as? SidecarError)?.description ?? String(describing: error)
    }
}
