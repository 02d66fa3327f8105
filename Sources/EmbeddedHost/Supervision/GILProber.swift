import Dispatch
import FoundationEssentials
import Loopback
import Synchronization

/// One thread that does the watchdog's Python work, so the watchdog itself never waits
/// on the GIL.
///
/// `PyGILState_Ensure` cannot time out: a thread that asks for the GIL while C code holds
/// it waits until that code lets go, possibly forever. mod_wsgi's deadlock watchdog has the
/// same problem and the same answer: a thread whose only job is to try, and another that
/// notices how long it has been trying. ``busyFor`` is that measure; ``submit(_:)`` and
/// ``perform(timeout:_:)`` refuse new work while a job is stuck, so stuck jobs never pile up.
final class GILProber: Sendable {
    private struct State {
        var job: (@Sendable () -> Void)?
        var busySince: ContinuousClock.Instant?
        var stopped = false
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    init(name: String = "cagent-gil-prober") {
        let thread = HostThread { [self] in work() }
        thread.name = name
        thread.start()
    }

    private func work() {
            while true {
                wake.wait()
                let job: (@Sendable () -> Void)? = state.withLock { state in
                    if state.stopped { return nil }
                    defer { state.job = nil }
                    return state.job
                }
                guard let job else {
                    if state.withLock({ $0.stopped }) { return }
                    continue
                }
                job()
                state.withLock { $0.busySince = nil }
            }
    }

    /// How long the current job has been running (waiting for the GIL, in practice).
    var busyFor: Duration {
        state.withLock { $0.busySince.map { ContinuousClock.now - $0 } ?? .zero }
    }

    /// Starts `work` unless a job is still running; returns whether it was started.
    @discardableResult
    func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.stopped, state.busySince == nil else { return false }
            state.busySince = .now
            state.job = work
            return true
        }
        if accepted { wake.signal() }
        return accepted
    }

    /// Runs `work` and waits for it up to `timeout`; nil when it was refused (a job is
    /// stuck) or did not finish in time. Blocks the calling thread: not for the
    /// cooperative pool.
    func perform<T: Sendable>(timeout: Duration, _ work: @escaping @Sendable () -> T) -> T? {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        guard submit({
            let value = work()
            result.withLock { $0 = value }
            done.signal()
        }) else { return nil }
        guard done.wait(timeout: .now() + .nanoseconds(Int(timeout.milliseconds) * 1_000_000)) == .success else { return nil }
        return result.withLock { $0 }
    }

    /// Ends the thread once its current job (if any) returns; a job stuck on the GIL keeps
    /// it until then.
    func stop() {
        state.withLock { $0.stopped = true }
        wake.signal()
    }
}
