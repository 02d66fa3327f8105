/// An event a test can wait for by the name of its type (`SidecarEvent` conforms in the
/// test targets that collect them).
public protocol NamedEvent: Sendable {
    var type: String { get }
}

/// The tests' one event collector: reads a stream in the background, keeps every event,
/// and lets a test wait for some to arrive or for the stream to end. Waits are by order,
/// never by time: the bound only makes a broken build fail (`WaitTimedOut`, with the
/// events seen so far) instead of hanging.
public actor EventLog<Event: NamedEvent> {
    public private(set) var events: [Event] = []
    /// Whether the stream has ended (after the producer's `closeEvents()`).
    private var ended = false
    private var waiters: [UInt64: Waiter] = [:]
    private var nextID: UInt64 = 0

    private struct Waiter {
        let holds: @Sendable ([Event], _ ended: Bool) -> Bool
        let continuation: CheckedContinuation<Bool, Never>
        let timer: Task<Void, Never>
    }

    public init(_ stream: AsyncStream<Event>) {
        Task { await self.consume(stream) }
    }

    public var types: [String] { events.map(\.type) }

    public func count(_ type: String) -> Int { events.filter { $0.type == type }.count }

    /// Returns once `count` events of `type` have arrived.
    public func waitFor(
        _ type: String, count: Int = 1, within bound: Duration = .seconds(90), file: String = #fileID, line: Int = #line
    ) async throws {
        try await wait("\(count) '\(type)' event(s) arrived", within: bound, file: file, line: line) { events, _ in
            events.filter { $0.type == type }.count >= count
        }
    }

    /// Returns once `predicate` holds for the events so far.
    public func waitUntil(
        _ what: String, within bound: Duration = .seconds(90), file: String = #fileID, line: Int = #line,
        _ predicate: @escaping @Sendable ([Event]) -> Bool
    ) async throws {
        try await wait(what, within: bound, file: file, line: line) { events, _ in predicate(events) }
    }

    /// Every event, once the stream has ended (call after the producer's `closeEvents()`).
    public func finished(within bound: Duration = .seconds(90), file: String = #fileID, line: Int = #line) async throws -> [Event] {
        try await wait("the event stream ended", within: bound, file: file, line: line) { _, ended in ended }
        return events
    }

    private func consume(_ stream: AsyncStream<Event>) async {
        for await event in stream {
            events.append(event)
            wake()
        }
        ended = true
        wake()
    }

    private func wake() {
        for (id, waiter) in waiters where waiter.holds(events, ended) {
            waiters.removeValue(forKey: id)
            waiter.timer.cancel()
            waiter.continuation.resume(returning: true)
        }
    }

    private func wait(
        _ what: String, within bound: Duration, file: String, line: Int,
        _ holds: @escaping @Sendable ([Event], _ ended: Bool) -> Bool
    ) async throws {
        if holds(events, ended) { return }
        nextID += 1
        let id = nextID
        let met = await withCheckedContinuation { continuation in
            let timer = Task {
                try? await Task.sleep(for: bound)
                self.expire(id)
            }
            waiters[id] = Waiter(holds: holds, continuation: continuation, timer: timer)
        }
        guard met else {
            throw WaitTimedOut(what: "\(what) (events so far: \(types))", timeout: bound, file: file, line: line)
        }
    }

    private func expire(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.continuation.resume(returning: false)
    }
}
