import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A keep-alive HTTP/1.1 load client for 127.0.0.1 over blocking POSIX sockets, one
/// dedicated thread per connection.
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
        let text = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(jsonBody.utf8.count)\r\n\r\n\(jsonBody)"
        self.request = Array(text.utf8)
    }

    /// `clients` connections, each sending `warmup` unmeasured requests and then
    /// `requestsPerClient` measured ones, back to back. Blocks the calling thread.
    public func run(clients: Int, requestsPerClient: Int, warmup: Int) throws -> Outcome {
        let connections = try (0..<clients).map { _ in try Connection(port: port) }
        defer { connections.forEach { $0.close() } }
        for connection in connections {
            for _ in 0..<warmup { _ = try connection.exchange(request) }
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
                        let begin = Monotonic.nanoseconds()
                        let status = try connection.exchange(request)
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

/// One kept-alive connection; used by one thread at a time.
private final class Connection: @unchecked Sendable {
    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var pending: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPLoad.Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw HTTPLoad.Failure(description: "connect to 127.0.0.1:\(port): \(message)")
        }
    }

    func close() { Glibc.close(fd) }

    /// Sends one request and reads its whole response; returns the status.
    func exchange(_ request: [UInt8]) throws -> Int {
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HTTPLoad.Failure(description: "send: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var headerEnd: Int?
        while true {
            if headerEnd == nil, let end = Self.headerEnd(in: pending) { headerEnd = end }
            if let end = headerEnd {
                let head = String(decoding: pending[0..<end], as: UTF8.self)
                guard let length = Self.contentLength(head) else {
                    throw HTTPLoad.Failure(description: "response without Content-Length: \(head.prefix(200))")
                }
                if pending.count >= end + 4 + length {
                    let status = head.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
                    pending.removeFirst(end + 4 + length)
                    return status
                }
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else {
                throw HTTPLoad.Failure(description: n == 0 ? "connection closed by the server" : "recv: \(String(cString: strerror(errno)))")
            }
            pending.append(contentsOf: buffer[0..<n])
        }
    }

    private static func headerEnd(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    private static func contentLength(_ head: String) -> Int? {
        for line in head.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }
}
