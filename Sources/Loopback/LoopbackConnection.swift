#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection to a loopback HTTP/1.1 server, over non-blocking POSIX sockets,
/// with a deadline on every call.
///
/// Why not an HTTP client stack: the host must not link one (nor Foundation) for a
/// handful of requests to 127.0.0.1, and the bench must not add a dispatch queue's
/// jitter to the latencies it measures. A request is one `send` of prebuilt bytes; a
/// response is read by `Content-Length`, chunks, or to the end of the connection.
/// Kept alive when its requests say so (``exchange(_:limit:deadline:)`` again).
///
/// Used by one thread at a time: hence `@unchecked Sendable` without a lock.
public final class LoopbackConnection: @unchecked Sendable {
    private let fd: Int32
    private var pending: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var closed = false

    /// Connects to `host:port` (numeric, IPv4 or IPv6, or a name `getaddrinfo` resolves).
    public init(host: String, port: Int, deadline: ContinuousClock.Instant) throws(LoopbackError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let info = list else { throw LoopbackError(.connect, String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw LoopbackError(.connect, Self.lastError()) }
        if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else {
                let reason = Self.lastError()
                Glibc.close(fd)
                throw LoopbackError(.connect, reason)
            }
            guard Self.wait(fd, for: Int16(POLLOUT), until: deadline) else {
                Glibc.close(fd)
                throw LoopbackError(.timedOut, "connect to \(host):\(port)")
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                Glibc.close(fd)
                throw LoopbackError(.connect, String(cString: strerror(error)))
            }
        }
        // Small requests and answers on a kept-alive connection: no Nagle delay.
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.fd = fd
    }

    deinit { close() }

    public func close() {
        if !closed {
            closed = true
            Glibc.close(fd)
        }
    }

    /// Sends a request and reads its whole answer; the connection stays usable when the
    /// server keeps it alive.
    public func exchange(_ request: [UInt8], limit: Int = .max, deadline: ContinuousClock.Instant) throws(LoopbackError) -> HTTPResponse {
        try send(request, deadline: deadline)
        let head = try readHead(deadline: deadline)
        return HTTPResponse(head: head, body: try readBody(of: head, limit: limit, deadline: deadline))
    }

    public func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(LoopbackError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
            } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                guard Self.wait(fd, for: Int16(POLLOUT), until: deadline) else { throw LoopbackError(.timedOut, "send") }
            } else {
                throw LoopbackError(.io, "send: \(Self.lastError())")
            }
        }
    }

    /// The status line and headers; the body stays to be read.
    public func readHead(deadline: ContinuousClock.Instant) throws(LoopbackError) -> HTTPResponseHead {
        var end: Range<Int>?
        while true {
            end = pending.firstRange(ofBytes: HTTPResponse.headEnd)
            if end != nil { break }
            guard try receive(deadline: deadline) else {
                throw LoopbackError(.closed, pending.isEmpty ? "no answer" : "no header end")
            }
        }
        let text = String(decoding: pending[..<end!.lowerBound], as: UTF8.self)
        pending.removeSubrange(..<end!.upperBound)
        return try HTTPResponseHead.parse(text)
    }

    /// The body after `head`: by `Content-Length`, by chunks, or to the end of the
    /// connection; longer than `limit` bytes is malformed.
    public func readBody(of head: HTTPResponseHead, limit: Int = .max, deadline: ContinuousClock.Instant) throws(LoopbackError) -> [UInt8] {
        if let length = head.contentLength {
            guard length <= limit else { throw LoopbackError(.malformed, "body larger than \(limit) bytes") }
            return try read(count: length, deadline: deadline)
        }
        if head.isChunked {
            var body: [UInt8] = []
            while let chunk = try readChunk(deadline: deadline) {
                body += chunk
                guard body.count <= limit else { throw LoopbackError(.malformed, "body larger than \(limit) bytes") }
            }
            return body
        }
        return try readToEnd(limit: limit, deadline: deadline)
    }

    public func read(count: Int, deadline: ContinuousClock.Instant) throws(LoopbackError) -> [UInt8] {
        while pending.count < count {
            guard try receive(deadline: deadline) else { throw LoopbackError(.closed, "mid-body") }
        }
        let data = Array(pending[..<count])
        pending.removeFirst(count)
        return data
    }

    public func readToEnd(limit: Int = .max, deadline: ContinuousClock.Instant) throws(LoopbackError) -> [UInt8] {
        while try receive(deadline: deadline) {
            guard pending.count <= limit else { throw LoopbackError(.malformed, "body larger than \(limit) bytes") }
        }
        defer { pending.removeAll() }
        return pending
    }

    /// What has arrived (at least one byte, waiting for it), or nil at the end of the connection.
    public func readSome(deadline: ContinuousClock.Instant) throws(LoopbackError) -> [UInt8]? {
        if pending.isEmpty, !(try receive(deadline: deadline)) { return nil }
        defer { pending.removeAll() }
        return pending
    }

    /// One chunk's payload; nil at the last (zero-size) chunk or the end of the connection.
    public func readChunk(deadline: ContinuousClock.Instant) throws(LoopbackError) -> [UInt8]? {
        guard let sizeLine = try readLine(deadline: deadline),
              let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else { return nil }
        if size == 0 { return nil }
        let data = try read(count: size, deadline: deadline)
        _ = try read(count: 2, deadline: deadline)
        return data
    }

    private func readLine(deadline: ContinuousClock.Instant) throws(LoopbackError) -> String? {
        let newline: [UInt8] = [13, 10]
        var end: Range<Int>?
        while true {
            end = pending.firstRange(ofBytes: newline)
            if end != nil { break }
            guard try receive(deadline: deadline) else { return nil }
        }
        let line = String(decoding: pending[..<end!.lowerBound], as: UTF8.self)
        pending.removeSubrange(..<end!.upperBound)
        return line
    }

    /// Appends what arrives before the deadline to `pending`; false at the end of the connection.
    private func receive(deadline: ContinuousClock.Instant) throws(LoopbackError) -> Bool {
        while true {
            guard Self.wait(fd, for: Int16(POLLIN), until: deadline) else { throw LoopbackError(.timedOut, "recv") }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                pending.append(contentsOf: buffer[0..<n])
                return true
            }
            if n == 0 { return false }
            if errno != EAGAIN && errno != EINTR { throw LoopbackError(.io, "recv: \(Self.lastError())") }
        }
    }

    /// Waits for `events` on `fd` until `deadline`; false when the deadline passed first.
    private static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return false }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&descriptor, 1, remaining.pollTimeout)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
