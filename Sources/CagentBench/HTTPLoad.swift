import Foundation
import Loopback
#if canImport(Glibc)
import Glibc
#endif

/// A keep-alive HTTP/1.1 load for 127.0.0.1: the shared loopback client
/// (``LoopbackConnection``), one dedicated thread per connection.
///
/// Why not URLSession (or CagentClient): its dispatch queues and callbacks add tens of
/// microseconds of jitter to every request, which is the same order as what is being
/// compared. Here a request is one `send` of prebuilt bytes and a response is read until
/// its `Content-Length` is complete; the timer brackets exactly that.
public struct HTTPLoad: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Per-request latencies (nanoseconds, in completion order per client) and the wall
    /// time from the first request sent to the last answer read, over all clients.
    public struct Outcome: Sendable {
        public var latenciesNanoseconds: [UInt64]
        public var wallNanoseconds: UInt64
        public var requestsPerSecond: Double {
            wallNanoseconds == 0 ? 0 : Double(latenciesNanoseconds.count) / (Double(wallNanoseconds) / 1e9)
        }
        public var p50Microseconds: Double { percentile(50) }
        public var p99Microseconds: Double { percentile(99) }

        public func percentile(_ p: Double) -> Double {
            let sorted = latenciesNanoseconds.map { Double($0) / 1000 }.sorted()
            return sorted.isEmpty ? 0 : Statistics.percentile(p, sorted: sorted)
        }
    }

    public var port: Int
    public var request: [UInt8]

    /// A `POST` of a JSON body with the bearer token, kept alive.
    public init(port: Int, token: String, path: String, jsonBody: String) {
        self.port = port
        self.request = HTTPRequest.postJSON(path, token: token, json: Array(jsonBody.utf8))
            .bytes(host: "127.0.0.1", port: port, keepAlive: true)
    }

    /// How long one request (or the connect) may take before the load fails.
    static let requestTimeout: Duration = .seconds(30)

    /// `clients` connections, each sending `warmup` unmeasured requests and then
    /// `requestsPerClient` measured ones, back to back. Blocks the calling thread.
    public func run(clients: Int, requestsPerClient: Int, warmup: Int) throws -> Outcome {
        let client = LoopbackClient(port: port, timeout: Self.requestTimeout)
        let connections = try (0..<clients).map { _ in try client.connect() }
        defer { connections.forEach { $0.close() } }
        for connection in connections {
            for _ in 0..<warmup { _ = try connection.exchange(request, deadline: .now + Self.requestTimeout) }
        }
        let results = ResultSlots(count: clients)
        let start = Monotonic.nanoseconds()
        let threads = connections.enumerated().map { index, connection in
            let request = self.request
            let thread = Thread {
                var latencies: [UInt64] = []
                latencies.reserveCapacity(requestsPerClient)
                do {
                    for _ in 0..<requestsPerClient {
                        let deadline = ContinuousClock.now + Self.requestTimeout
                        let begin = Monotonic.nanoseconds()
                        let status = try connection.exchange(request, deadline: deadline).status
                        guard status == 200 else { throw Failure(description: "HTTP status \(status)") }
                        latencies.append(Monotonic.nanoseconds() - begin)
                    }
                    results.set(index, .success((latencies, Monotonic.nanoseconds())))
                } catch {
                    results.set(index, .failure(error))
                }
            }
            thread.name = "cagent-bench-http-\(index)"
            thread.stackSize = 1 << 20
            return thread
        }
        threads.forEach { $0.start() }
        let finished = try results.waitAll()
        let end = finished.map(\.1).max() ?? start
        return Outcome(latenciesNanoseconds: finished.flatMap(\.0), wallNanoseconds: end - start)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: no allocation, no actor hop.
enum Monotonic {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// Where each client thread leaves its result; the caller waits for all of them.
private final class ResultSlots: @unchecked Sendable {
    typealias Value = Result<([UInt64], UInt64), any Error>
    private let condition = NSCondition()
    private var slots: [Value?]  // guarded by condition

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Value) {
        condition.lock()
        slots[index] = value
        condition.broadcast()
        condition.unlock()
    }

    func waitAll() throws -> [([UInt64], UInt64)] {
        condition.lock()
        while slots.contains(where: { $0 == nil }) { condition.wait() }
        let values = slots.compactMap { $0 }
        condition.unlock()
        return try values.map { try $0.get() }
    }
}
