import Foundation
@testable import EmbeddedHost

/// Collects events and lets a test wait for one (by order, never by time: the bound is
/// only generous insurance so that a broken build fails instead of hanging).
actor EventLog {
    private(set) var events: [SidecarEvent] = []
    private var waiters: [UInt64: (predicate: @Sendable ([SidecarEvent]) -> Bool, continuation: CheckedContinuation<Bool, Never>)] = [:]
    private var nextID: UInt64 = 0

    init(_ stream: AsyncStream<SidecarEvent>) {
        Task { await self.consume(stream) }
    }

    private func consume(_ stream: AsyncStream<SidecarEvent>) async {
        for await event in stream { append(event) }
    }

    private func append(_ event: SidecarEvent) {
        events.append(event)
        for (id, waiter) in waiters where waiter.predicate(events) {
            waiters.removeValue(forKey: id)
            waiter.continuation.resume(returning: true)
        }
    }

    var types: [String] { events.map(\.type) }

    func count(_ type: String) -> Int { events.filter { $0.type == type }.count }

    /// Waits until `count` events of `type` have arrived; false if the bound passed first.
    @discardableResult
    func waitFor(_ type: String, count: Int = 1, within bound: Duration = .seconds(90)) async -> Bool {
        await waitUntil(within: bound) { events in events.filter { $0.type == type }.count >= count }
    }

    func waitUntil(within bound: Duration, _ predicate: @escaping @Sendable ([SidecarEvent]) -> Bool) async -> Bool {
        if predicate(events) { return true }
        nextID += 1
        let id = nextID
        return await withCheckedContinuation { continuation in
            waiters[id] = (predicate, continuation)
            Task {
                try? await Task.sleep(for: bound)
                self.expire(id)
            }
        }
    }

    private func expire(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.continuation.resume(returning: false)
    }
}
