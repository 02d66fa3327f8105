import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `POST /shutdown` with the token, over loopback: the first step of stopping a child
/// service, so it releases runs and MCP sessions before it gets SIGTERM.
///
/// Plain blocking POSIX I/O with socket timeouts, like ``HealthProbe``: one request to
/// 127.0.0.1 does not justify an HTTP client stack in the host.
struct ShutdownRequest: Sendable {
    var host: String
    var port: Int
    var token: String
    var timeout: Duration

    enum Outcome: Sendable, Equatable {
        case answered(status: Int)
        case failed(String)
    }

    func send() async -> Outcome {
        let request = self
        return await BlockingCall.run(timeout: timeout + .milliseconds(200)) { request.sendBlocking() }
            ?? .failed("no answer within \(timeout)")
    }

    private func sendBlocking() -> Outcome {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let info = list else { return .failed(String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed(String(cString: strerror(errno))) }
        defer { close(fd) }
        let micros = max(1000, Int(timeout.components.seconds) * 1_000_000 + Int(timeout.components.attoseconds / 1_000_000_000_000))
        var limit = timeval(tv_sec: micros / 1_000_000, tv_usec: micros % 1_000_000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            return .failed("cannot connect: \(String(cString: strerror(errno)))")
        }
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let head = "POST /shutdown HTTP/1.1\r\nHost: \(hostHeader)\r\nAuthorization: Bearer \(token)\r\n"
            + "Content-Length: 0\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return .failed("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !received.contains(0x0A) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return .failed(n == 0 ? "closed without an answer" : "no answer: \(String(cString: strerror(errno)))") }
            received.append(contentsOf: buffer[0..<n])
        }
        let statusLine = String(decoding: received.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let code = Int(parts[1]) else { return .failed("malformed status line \(statusLine.debugDescription)") }
        return .answered(status: code)
    }
}
