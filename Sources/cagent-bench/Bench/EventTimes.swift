import EmbeddedHost
import Foundation
import SidecarCLI

/// When each event arrived (its own timestamp), for the supervision bench.
///
/// A waiter is resumed by the event it waits for, not by polling: the figures come from
/// the events' own timestamps either way, but a poll every few milliseconds would keep a
/// core busy beside the service being measured.
actor EventTimes {
    private struct Waiter {
        var type: String
        var count: Int
        var continuation: CheckedContinuation<Date, any Error>
    }

    private var events: [SidecarEvent] = []
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiter = 0

    init(_ stream: AsyncStream<SidecarEvent>) {
        Task { for await event in stream { await self.add(event) } }
    }

    var lastRestartDelay: Duration? {
        for event in events.reversed() {
            if case .restarting(_, _, _, _, let delay?) = event.kind { return delay }
        }
        return nil
    }

    /// The timestamp of the `count`-th event of `type`; gives up after two minutes, or
    /// when the supervisor gave up on the service.
    func wait(for type: String, count: Int) async throws -> Date {
        if let answer = try answer(type: type, count: count) { return answer }
        let id = nextWaiter
        nextWaiter += 1
        let expiry = Task { [weak self] in
            try await Task.sleep(for: .seconds(120))
            await self?.expire(id)
        }
        defer { expiry.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            waiters[id] = Waiter(type: type, count: count, continuation: continuation)
        }
    }

    private func add(_ event: SidecarEvent) {
        events.append(event)
        for (id, waiter) in waiters {
            do {
                guard let answer = try answer(type: waiter.type, count: waiter.count) else { continue }
                waiters[id] = nil
                waiter.continuation.resume(returning: answer)
            } catch {
                waiters[id] = nil
                waiter.continuation.resume(throwing: error)
            }
        }
    }

    private func expire(_ id: Int) {
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        waiter.continuation.resume(throwing: CLIError("no \(waiter.type) event #\(waiter.count) within two minutes"))
    }

    /// The timestamp when it has come, nil while it may still come, thrown when it never will.
    private func answer(type: String, count: Int) throws -> Date? {
        let matching = events.filter { $0.type == type }
        if matching.count >= count { return matching[count - 1].timestamp }
        if let failure = events.last(where: { $0.type == "circuit_open" || $0.type == "wedged" }) {
            throw CLIError("the service gave up: \(failure.json)")
        }
        return nil
    }
}
