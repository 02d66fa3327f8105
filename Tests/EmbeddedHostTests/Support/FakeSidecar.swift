import Foundation
import Synchronization
@testable import EmbeddedHost

/// A backend without Python, scripted by the test: what the supervisor sees of a real one
/// (state, events, crashes, health, a watchdog), nothing else. It also shows that a
/// backend other than the embedded one plugs into the ``Supervisor`` unchanged.
actor FakeSidecar: SupervisedSidecar {
    nonisolated let token = "fake"
    private(set) var state: SidecarState = .idle
    private let broadcaster = EventBroadcaster()
    private var generation = 0
    private var failureWaiters: [CheckedContinuation<SidecarError?, Never>] = []
    private var stopReason: String?
    /// The next this many starts fail.
    var failingStarts = 0
    /// Every start fails.
    var alwaysFailStarts = false
    /// Every start throws this (a configuration error: no runtime, port taken).
    var startError: SidecarError?
    var healthy = true
    private(set) var starts = 0
    private(set) var restarts: [(kind: RestartKind, reason: String)] = []
    let fakeWatchdog: FakeWatchdog?

    init(watchdog: FakeWatchdog? = nil) {
        self.fakeWatchdog = watchdog
    }

    var address: String? { nil }
    var healthEndpoint: HealthEndpoint? { nil }
    /// How it says it recovers, and the memory it says cold restarts added.
    var plan = RecoveryPlan(kind: .respawn, why: "a fake replaces its service")
    var coldRestartGrowth = 0

    func recoveryPlan() -> RecoveryPlan { plan }

    func set(plan: RecoveryPlan, coldRestartGrowth: Int) {
        self.plan = plan
        self.coldRestartGrowth = coldRestartGrowth
    }

    nonisolated func events() -> AsyncStream<SidecarEvent> { broadcaster.subscribe() }
    nonisolated func publish(_ event: SidecarEvent) { broadcaster.publish(event) }
    nonisolated func closeEvents() { broadcaster.finish() }

    func set(failingStarts: Int? = nil, alwaysFailStarts: Bool? = nil, healthy: Bool? = nil, startError: SidecarError? = nil) {
        if let startError { self.startError = startError }
        if let failingStarts { self.failingStarts = failingStarts }
        if let alwaysFailStarts { self.alwaysFailStarts = alwaysFailStarts }
        if let healthy { self.healthy = healthy }
    }

    func start() async throws {
        starts += 1
        generation += 1
        state = .starting
        publish(SidecarEvent(.starting(generation: generation)))
        if let startError {
            state = .failed(startError.description)
            throw startError
        }
        if alwaysFailStarts || failingStarts > 0 {
            failingStarts = max(0, failingStarts - 1)
            state = .failed("start failed on purpose")
            publish(SidecarEvent(.failed(error: "start failed on purpose")))
            throw SidecarError.serviceFailedToStart("start failed on purpose")
        }
        state = .running(generation: generation)
        healthy = true
        publish(SidecarEvent(.healthy(generation: generation)))
    }

    func stop() async throws {
        // Like the embedded backend: nothing to stop after a crash or a failed start.
        switch state {
        case .stopped, .idle, .failed: return
        default: break
        }
        publish(SidecarEvent(.stopping))
        state = .stopped
        publish(SidecarEvent(.stopped(clean: true, detail: stopReason)))
    }

    func restart(_ kind: RestartKind) async throws {
        try await restart(kind, reason: "requested", announce: true)
    }

    func restart(_ kind: RestartKind, reason: String, announce: Bool) async throws {
        guard case .running = state else { throw SidecarError.notRunning(state) }
        restarts.append((kind, reason))
        if announce { publish(SidecarEvent(.restarting(kind: kind, reason: reason, why: RecoveryPlan.requestedWhy))) }
        generation += 1
        state = .running(generation: generation)
        healthy = true
        fakeWatchdog?.loopTurnsAgain()
        publish(SidecarEvent(.healthy(generation: generation)))
    }

    /// The service ends on its own.
    func crash(_ message: String = "crashed on purpose") {
        state = .failed(message)
        publish(SidecarEvent(.failed(error: message)))
        let waiting = failureWaiters
        failureWaiters.removeAll()
        for waiter in waiting { waiter.resume(returning: .serviceStopped(message)) }
    }

    /// The service asks to be stopped (POST /shutdown).
    func requestStop(_ reason: String) {
        stopReason = reason
        let waiting = failureWaiters
        failureWaiters.removeAll()
        for waiter in waiting { waiter.resume(returning: .stopRequested(reason: reason)) }
    }

    func waitUntilFailed() async throws {
        if case .failed(let message) = state { throw SidecarError.serviceStopped(message) }
        if let stopReason { throw SidecarError.stopRequested(reason: stopReason) }
        let end = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<SidecarError?, Never>) in
                if Task.isCancelled { continuation.resume(returning: nil) } else { failureWaiters.append(continuation) }
            }
        } onCancel: {
            Task { await self.cancelWaiters() }
        }
        if let end { throw end }
        throw CancellationError()
    }

    private func cancelWaiters() {
        let waiting = failureWaiters
        failureWaiters.removeAll()
        for waiter in waiting { waiter.resume(returning: nil) }
    }

    func probeHealth(timeout: Duration) async -> Result<Void, HealthProbe.Failure> {
        healthy ? .success(()) : .failure(.status(503))
    }

    func enableWatchdog(stallThreshold: Duration) async -> (any SidecarWatchdog)? { fakeWatchdog }
}

/// A scripted watchdog: the test injects stalls and decides what an interrupt achieves.
final class FakeWatchdog: SidecarWatchdog {
    struct Script {
        var responsive = true
        var interruptWorks = true
        var gilHeld = false
        var interrupts = 0
    }

    let script = Mutex(Script())
    private let queue = Mutex<(reports: [StallReport], waiter: CheckedContinuation<StallReport?, Never>?)>(([], nil))

    /// The loop stops turning; the supervisor hears of it.
    func stall(agent: String? = "fault_sleep", requestID: String? = "r1", gilHeld: Bool = false, interruptWorks: Bool = true) {
        script.withLock {
            $0.responsive = false
            $0.gilHeld = gilHeld
            $0.interruptWorks = interruptWorks
        }
        deliver(StallReport(stalledFor: .milliseconds(1000), stacks: "Thread 0x1 (most recent call first):\n  File \"faults.py\", line 1 in run\n",
                                       agent: agent, requestID: requestID, gilAvailable: !gilHeld))
    }

    func loopTurnsAgain() {
        script.withLock {
            $0.responsive = true
            $0.gilHeld = false
        }
    }

    private func deliver(_ report: StallReport) {
        let waiter = queue.withLock { queue -> CheckedContinuation<StallReport?, Never>? in
            if let waiter = queue.waiter {
                queue.waiter = nil
                return waiter
            }
            queue.reports.append(report)
            return nil
        }
        waiter?.resume(returning: report)
    }

    /// One consumer at a time (the supervisor).
    func nextStall() async -> StallReport? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<StallReport?, Never>) in
                let ready = queue.withLock { queue -> StallReport?? in
                    if Task.isCancelled { return .some(nil) }
                    if !queue.reports.isEmpty { return .some(queue.reports.removeFirst()) }
                    queue.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            queue.withLock { queue in
                defer { queue.waiter = nil }
                return queue.waiter
            }?.resume(returning: nil)
        }
    }

    var isLoopResponsive: Bool { script.withLock { $0.responsive } }
    var gilUnavailableFor: Duration { script.withLock { $0.gilHeld } ? .seconds(3600) : .zero }
    func captureStacks() -> String { "Thread 0x1 (most recent call first):\n  File \"faults.py\", line 2 in run\n" }

    func interrupt(_ stall: StallReport, grace: Duration) async -> Bool {
        let works = script.withLock { script -> Bool in
            script.interrupts += 1
            if script.interruptWorks && !script.gilHeld { script.responsive = true }
            return script.responsive
        }
        return works
    }
}
