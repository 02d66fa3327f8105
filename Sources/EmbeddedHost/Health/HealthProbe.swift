import Bridge
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `GET /health` over loopback, as the original sidecar polled it.
///
/// A few dozen lines of blocking POSIX I/O on a thread of its own, with one deadline
/// for connect, send and receive: the probe must not pull an HTTP client stack into
/// the host for one request to 127.0.0.1.
public struct HealthProbe: Sendable {
    public struct Response: Sendable, Equatable {
        public var statusCode: Int
        public var body: JSON?
    }

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case connect(String)
        case timedOut
        case malformed(String)
        case status(Int)
        /// 503 with `"status": "shutting_down"`: the service was asked to stop (POST /shutdown).
        case shuttingDown

        public var description: String {
            switch self {
            case .connect(let reason): "cannot connect: \(reason)"
            case .timedOut: "no answer before the probe timeout"
            case .malformed(let detail): "malformed answer: \(detail)"
            case .status(let code): "/health answered \(code)"
            case .shuttingDown: "/health says shutting_down (POST /shutdown)"
            }
        }
    }

    public var host: String
    public var port: Int
    public var timeout: Duration

    public init(host: String, port: Int, timeout: Duration = .milliseconds(2000)) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// Succeeds on a 200 whose body has `"status": "ok"`.
    public func check() async -> Result<Response, Failure> {
        let probe = self
        return await BlockingCall.run { probe.checkBlocking() }
    }

    func checkBlocking() -> Result<Response, Failure> {
        let deadline = ContinuousClock.now + timeout
        let fd: Int32
        switch connect(deadline: deadline) {
        case .success(let descriptor): fd = descriptor
        case .failure(let failure): return .failure(failure)
        }
        defer { close(fd) }
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let request = Array("GET /health HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            guard wait(fd, for: Int16(POLLOUT), until: deadline) else { return .failure(.timedOut) }
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return .failure(.connect(String(cString: strerror(errno)))) }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            guard wait(fd, for: Int16(POLLIN), until: deadline) else { return .failure(.timedOut) }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { return .failure(.connect(String(cString: strerror(errno)))) }
            if n == 0 { break }
            received.append(contentsOf: buffer[0..<n])
            if received.count > 1 << 20 { return .failure(.malformed("answer larger than 1 MiB")) }
        }
        return Self.parse(received)
    }

    static func parse(_ bytes: [UInt8]) -> Result<Response, Failure> {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let split = bytes.firstRange(of: separator) else { return .failure(.malformed("no header end")) }
        let head = String(decoding: bytes[..<split.lowerBound], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n", maxSplits: 1).first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
            return .failure(.malformed("status line \(statusLine.debugDescription)"))
        }
        var body = Array(bytes[split.upperBound...])
        if head.lowercased().contains("transfer-encoding: chunked") { body = dechunk(body) }
        let json = try? JSONDecoder().decode(JSON.self, from: Data(body))
        guard code == 200 else {
            if code == 503, case .object(let object) = json, object["status"] == .string("shutting_down") {
                return .failure(.shuttingDown)
            }
            return .failure(.status(code))
        }
        guard case .object(let object) = json, object["status"] == .string("ok") else {
            return .failure(.malformed("body without \"status\": \"ok\""))
        }
        return .success(Response(statusCode: code, body: json))
    }

    static func dechunk(_ body: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var index = body.startIndex
        while let lineEnd = body[index...].firstRange(of: Array("\r\n".utf8)) {
            let sizeText = String(decoding: body[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            let end = min(start + size, body.endIndex)
            output.append(contentsOf: body[start..<end])
            index = min(end + 2, body.endIndex)
        }
        return output
    }

    private func connect(deadline: ContinuousClock.Instant) -> Result<Int32, Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let info = list else { return .failure(.connect(String(cString: gai_strerror(status)))) }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(.connect(String(cString: strerror(errno)))) }
        if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else {
                let reason = String(cString: strerror(errno))
                close(fd)
                return .failure(.connect(reason))
            }
            guard wait(fd, for: Int16(POLLOUT), until: deadline) else {
                close(fd)
                return .failure(.timedOut)
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                close(fd)
                return .failure(.connect(String(cString: strerror(error))))
            }
        }
        return .success(fd)
    }

    private func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return false }
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }
}
