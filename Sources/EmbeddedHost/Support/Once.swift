import Dispatch
import Synchronization

/// A value that is set once and remembered, and that any number of tasks can wait for.
///
/// The host's one waiter primitive: a stop request, a service's end, a blocking call's
/// answer, a direct call's result. What it guarantees, and what the types it replaced
/// (`Latch`, `FailureSignal`, `ResumeOnce`, `DirectOutcome`) each guaranteed only in part:
///
/// - **fire before wait**: a waiter that arrives after ``fire(_:)`` returns at once with
///   the value. A waiter that checks some state and then waits can no longer miss what
///   happened in between (a crash in that gap used to be noticed only by failed probes);
/// - **first fire wins**: later calls change nothing and return false, so racers (an
///   answer, a timeout, a cancellation) can all fire without coordinating;
/// - **cancellable waits**: a cancelled waiting task returns nil at once, and leaves
///   nothing registered behind.
///
/// Everything happens under one `Mutex`; continuations are resumed outside it.
final class Once<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [UInt64: CheckedContinuation<Value?, Never>] = [:]
        /// Threads blocked in ``waitBlocking()``.
        var sleepers: [DispatchSemaphore] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// The value, once fired.
    var value: Value? { state.withLock { $0.value } }

    var isFired: Bool { state.withLock { $0.value != nil } }

    /// Sets the value and wakes every waiter; only the first call does anything.
    /// Returns whether this call was that first one.
    @discardableResult
    func fire(_ value: Value) -> Bool {
        let woken = state.withLock { state -> ([CheckedContinuation<Value?, Never>], [DispatchSemaphore])? in
            guard state.value == nil else { return nil }
            state.value = value
            defer {
                state.waiters.removeAll()
                state.sleepers.removeAll()
            }
            return (Array(state.waiters.values), state.sleepers)
        }
        guard let (waiters, sleepers) = woken else { return false }
        for waiter in waiters { waiter.resume(returning: value) }
        for sleeper in sleepers { sleeper.signal() }
        return true
    }

    /// The value, blocking the calling thread until it is fired: for a thread that is not
    /// a task (the interpreter's, waiting to be told what to do after its loop crashed).
    func waitBlocking() -> Value {
        let sleeper = DispatchSemaphore(value: 0)
        if let value = state.withLock({ state -> Value? in
            if state.value == nil { state.sleepers.append(sleeper) }
            return state.value
        }) {
            return value
        }
        sleeper.wait()
        return state.withLock { $0.value! }
    }

    /// The value: at once when already fired, else when it is. Nil only when the waiting
    /// task is (or gets) cancelled.
    @discardableResult
    func wait() async -> Value? {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                // Under the lock: a fire either came before (its value is read here) or
                // finds this waiter stored; a cancellation either came before (seen here)
                // or its handler runs after the waiter is stored (and removes it).
                let now = state.withLock { state -> Value?? in
                    if let value = state.value { return .some(value) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
    }

    /// Waits at most `duration`; returns whether it was fired (then ``value`` is set).
    func wait(upTo duration: Duration) async -> Bool {
        if isFired { return true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await self.wait() }
            await group.next()
            group.cancelAll()
        }
        return isFired
    }
}

extension Once where Value == Void {
    /// ``fire(_:)`` for a plain flag (a stop request).
    @discardableResult
    func fire() -> Bool { fire(()) }
}

extension Once where Value == SidecarError {
    /// A sidecar's end as its `waitUntilFailed()` reports it: throws the error it was
    /// fired with, or `CancellationError` when the waiting task is cancelled.
    func waitAndThrow() async throws {
        guard let error = await wait() else { throw CancellationError() }
        throw error
    }
}
