import FoundationEssentials
import Loopback
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The embedded backend's watchdog: event-loop heartbeat, GIL probe, stacks, interrupt.
///
/// A native thread (never Python's: it must keep working while C code holds the GIL)
/// ticks a few times per stall threshold. Each tick it makes sure one heartbeat is on its
/// way: its sequence number written to a pipe the loop reads, without the GIL
/// (``InterpreterLink``); the loop acknowledges it in an atomic. A heartbeat not run
/// within the threshold is a stall, whatever blocks the loop (a `time.sleep`, a
/// pure-Python loop, C code): it is reported once, with every thread's stack (dumped
/// without the GIL), the run executing on the loop when the ``GILProber`` can take the
/// GIL for a moment, and whether it could; from then on the prober's wait measures how
/// long the GIL stays out of reach (the wedge timeout). The watchdog watches only while the
/// interpreter link says the loop is serving, so restarts and imports never count.
final class EmbeddedWatchdog: SidecarWatchdog {
    private struct State {
        var link: InterpreterLink?
        var enabled = false
        var threshold: Duration = .seconds(1)
        var threadStarted = false
        var stopped = false
        var sequence = 0
        /// The heartbeat in flight and since when; `sent` false while the pipe refused it.
        var pending: (sequence: Int, since: ContinuousClock.Instant, sent: Bool)?
        var reported = false
        var reports: [StallReport] = []
        var waiters: [UInt64: CheckedContinuation<StallReport?, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())
    private let prober = GILProber()

    /// Turns the watchdog on with `threshold`; starts its thread the first time.
    func enable(threshold: Duration) {
        let start = state.withLock { state -> Bool in
            state.enabled = true
            state.threshold = threshold
            defer { state.threadStarted = true }
            return !state.threadStarted
        }
        if start {
            let thread = HostThread { [self] in loop() }
            thread.name = "cagent-watchdog"
            thread.start()
        }
    }

    var isEnabled: Bool { state.withLock { $0.enabled } }
    var threshold: Duration { state.withLock { $0.threshold } }

    /// Watches this interpreter thread from now on (nil: nothing to watch).
    func attach(_ link: InterpreterLink?) {
        state.withLock { state in
            state.link = link
            state.pending = nil
            state.reported = false
        }
    }

    /// Ends the watchdog's threads (a prober stuck on the GIL ends when it gets it) and
    /// every waiter.
    func shutdown() {
        let waiters = state.withLock { state in
            state.stopped = true
            state.link = nil
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
        prober.stop()
    }

    // MARK: - SidecarWatchdog

    func nextStall() async -> StallReport? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<StallReport?, Never>) in
                let immediate = state.withLock { state -> StallReport?? in
                    if state.stopped || Task.isCancelled { return .some(nil) }
                    if !state.reports.isEmpty { return .some(state.reports.removeFirst()) }
                    state.waiters[id] = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
    }

    var isLoopResponsive: Bool {
        state.withLock { state in
            guard let pending = state.pending else { return true }
            return ContinuousClock.now - pending.since < state.threshold
        }
    }

    var gilUnavailableFor: Duration { prober.busyFor }

    func captureStacks() -> String {
        state.withLock { $0.link }?.dumpStacks() ?? ""
    }

    func interrupt(_ stall: StallReport, grace: Duration) async -> Bool {
        // The heartbeat this stall is about: once the loop has acknowledged it, this stall
        // is over, whatever comes after (a second run may stall it again at once; that
        // one is a stall of its own, reported and handled on its own).
        guard let (link, stalled) = state.withLock({ state in state.link.map { ($0, state.pending?.sequence) } }) else {
            return false
        }
        func over() -> Bool {
            guard let stalled else { return loopTurned }
            return link.acknowledged.load(ordering: .acquiring) >= stalled
        }
        link.armInterrupt(requestID: stall.requestID)
        defer { link.disarm() }
        let deadline = ContinuousClock.now + grace
        var resent = false
        link.deliver(InterpreterLink.interruptSignal)
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: tick)
            if over() { return true }
            if !resent, deadline - ContinuousClock.now < grace / 2 {
                // The first signal may have landed between two checks of a C loop that
                // retries on EINTR; one more costs nothing.
                resent = true
                link.armInterrupt(requestID: stall.requestID)
                link.deliver(InterpreterLink.interruptSignal)
            }
        }
        return over()
    }

    /// Raises into whatever blocks the loop, so that a command queued for it (a restart,
    /// a stop) can run. Returns false when no generation is live.
    @discardableResult
    func abortLoop() -> Bool {
        guard let link = state.withLock({ $0.link }) else { return false }
        link.armAbort()
        return link.deliver(InterpreterLink.abortSignal)
    }

    // MARK: - The watchdog thread

    /// True when no heartbeat is overdue: the one in flight is younger than the threshold
    /// or has been acknowledged.
    private var loopTurned: Bool {
        state.withLock { state in
            guard let link = state.link, let pending = state.pending else { return true }
            return link.acknowledged.load(ordering: .acquiring) >= pending.sequence
        }
    }

    private var tick: Duration {
        let quarter = threshold / 4
        return min(max(quarter, .milliseconds(5)), .milliseconds(100))
    }

    private func loop() {
        while true {
            let interval = tick
            HostThread.sleep(forTimeInterval: interval.inSeconds)
            guard let step = nextStep() else { return }
            switch step {
            case .idle:
                continue
            case .send(let link, let sequence):
                if link.sendHeartbeat(sequence) { state.withLock { if $0.pending?.sequence == sequence { $0.pending?.sent = true } } }
            case .report(let link, let since):
                report(link: link, since: since)
            }
        }
    }

    private enum Step {
        case idle
        case send(InterpreterLink, Int)
        case report(InterpreterLink, ContinuousClock.Instant)
    }

    /// Advances the heartbeat state machine by one tick; nil: stop the thread.
    private func nextStep() -> Step? {
        state.withLock { state -> Step? in
            if state.stopped { return nil }
            guard state.enabled, let link = state.link, link.watchable.load(ordering: .acquiring) else {
                state.pending = nil
                state.reported = false
                return .idle
            }
            let now = ContinuousClock.now
            if let pending = state.pending {
                if link.acknowledged.load(ordering: .acquiring) >= pending.sequence {
                    state.pending = nil
                    state.reported = false
                } else if !pending.sent {
                    return .send(link, pending.sequence)
                } else if now - pending.since >= state.threshold, !state.reported {
                    state.reported = true
                    return .report(link, pending.since)
                } else {
                    return .idle
                }
            }
            state.sequence += 1
            state.pending = (state.sequence, now, false)
            return .send(link, state.sequence)
        }
    }

    private func report(link: InterpreterLink, since: ContinuousClock.Instant) {
        let stacks = link.dumpStacks()
        // A moment with the GIL names the run; C code holding it leaves them unknown.
        let bound = min(threshold, .milliseconds(250))
        let run = prober.perform(timeout: bound) { () -> RunMarker in
            let (agent, requestID) = link.currentRun()
            return RunMarker(agent: agent, requestID: requestID)
        }
        let report = StallReport(
            stalledFor: ContinuousClock.now - since, stacks: stacks,
            agent: run?.agent, requestID: run?.requestID, gilAvailable: run != nil)
        let waiter = state.withLock { state -> CheckedContinuation<StallReport?, Never>? in
            if let (id, waiter) = state.waiters.first {
                state.waiters.removeValue(forKey: id)
                return waiter
            }
            state.reports.append(report)
            return nil
        }
        waiter?.resume(returning: report)
    }
}

private struct RunMarker: Sendable {
    var agent: String?
    var requestID: String?
}
