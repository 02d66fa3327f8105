import Synchronization

/// Waiters for a sidecar's unexpected end, shared by both backends.
///
/// ``wait()`` returns only by throwing: ``SidecarError/serviceStopped(_:)`` once
/// ``fire(_:)`` is called, or `CancellationError` when the waiting task is cancelled.
final class FailureSignal: Sendable {
    private struct State {
        var waiters: [UInt64: CheckedContinuation<String?, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    func wait() async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let message = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                // Under the lock: a cancellation either came before (seen here) or its
                // handler runs after the waiter is stored (and finds it).
                let cancelled = state.withLock { state in
                    if Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if cancelled { continuation.resume(returning: nil) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
        if let message { throw SidecarError.serviceStopped(message) }
        throw CancellationError()
    }

    /// Wakes every waiter with `message`.
    func fire(_ message: String) {
        let waiters = state.withLock { state in
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: message) }
    }
}
