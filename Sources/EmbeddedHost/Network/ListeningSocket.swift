#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The service's listening socket, bound by the host rather than by uvicorn.
///
/// Binding here reports a port in use before any Python starts, resolves `--port 0`
/// once, and keeps the port across restarts: each server generation listens on a
/// duplicate of this descriptor, so connections made during a restart wait in the
/// backlog instead of being refused.
public final class ListeningSocket: Sendable {
    public let descriptor: Int32
    public let host: String
    public let port: Int

    private init(descriptor: Int32, host: String, port: Int) {
        self.descriptor = descriptor
        self.host = host
        self.port = port
    }

    deinit { close(descriptor) }

    public static func bind(host: String, port: Int, backlog: Int32 = 2048) throws(SidecarError) -> ListeningSocket {
        guard (0...65535).contains(port) else {
            throw .bindFailed(host: host, port: port, reason: "the port must be between 0 and 65535")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .bindFailed(host: host, port: port, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }

        var lastError: Int32 = 0
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { lastError = errno; continue }
            var one: Int32 = 1
            // TIME_WAIT connections of an earlier run must not block the port.
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 || listen(fd, backlog) != 0 {
                lastError = errno
                close(fd)
                continue
            }
            return ListeningSocket(descriptor: fd, host: host, port: boundPort(fd) ?? port)
        }
        if lastError == EADDRINUSE { throw .portInUse(host: host, port: port) }
        throw .bindFailed(host: host, port: port, reason: String(cString: strerror(lastError)))
    }

    private static func boundPort(_ fd: Int32) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard status == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        default:
            return nil
        }
    }

    /// `http://host:port`, with brackets around an IPv6 literal.
    public var baseURLString: String {
        host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }
}
