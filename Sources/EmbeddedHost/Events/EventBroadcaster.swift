import FoundationEssentials
import Synchronization

/// Fans events out to any number of `AsyncStream` subscribers.
///
/// A subscriber that stops listening is dropped; one that is slow keeps its own
/// buffer, so it never delays the sidecar.
public final class EventBroadcaster: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<SidecarEvent>.Continuation] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = Mutex(State())

    public init() {}

    public func subscribe() -> AsyncStream<SidecarEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: SidecarEvent.self)
        let id: UInt64? = state.withLock { state in
            if state.finished { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public func publish(_ event: SidecarEvent) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.yield(event) }
    }

    /// Ends every subscription; later subscriptions end at once.
    public func finish() {
        let subscribers = state.withLock { state in
            state.finished = true
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}
