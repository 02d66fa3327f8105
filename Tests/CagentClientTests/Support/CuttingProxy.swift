import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 in front of the service that can break the first
/// connection on purpose, to test what the client does when a stream drops.
///
/// Blocking sockets, a thread per direction: test code, kept short.
final class CuttingProxy: Sendable {
    enum Fault: Sendable {
        /// The first connection is closed after this many complete SSE events (blank
        /// lines) plus a few bytes of the next one, so an event is cut in half.
        case cutAfterEvents(Int)
        /// Nothing the service sends reaches the client on any connection.
        case stall
        case none
    }

    let port: Int
    private let listener: Int32
    private let upstreamPort: Int
    private let fault: Fault
    private let state = Mutex(State())

    private struct State {
        var requests: [String] = []
        var descriptors: [Int32] = []
        var closed = false
    }

    /// The request heads received, one per connection, in order.
    var requests: [String] { state.withLock { $0.requests } }

    init(upstreamPort: Int, fault: Fault) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else { throw ServiceProcess.Failure(description: "proxy: cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.upstreamPort = upstreamPort
        self.fault = fault
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    func close() {
        let descriptors = state.withLock { state in
            state.closed = true
            return state.descriptors
        }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        for fd in descriptors { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        var index = 0
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            guard let upstream = Self.connect(port: upstreamPort) else {
                Glibc.close(client)
                continue
            }
            let closed = state.withLock { state in
                state.descriptors += [client, upstream]
                return state.closed
            }
            if closed { return }
            let connection = index
            index += 1
            Thread { [self] in pumpRequest(from: client, to: upstream) }.start()
            Thread { [self] in pumpResponse(from: upstream, to: client, connection: connection) }.start()
        }
    }

    private func pumpRequest(from client: Int32, to upstream: Int32) {
        var head = Data()
        var recorded = false
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { break }
            if !recorded {
                head.append(contentsOf: buffer[0..<n])
                if let end = head.range(of: Data("\r\n\r\n".utf8)) {
                    let text = String(decoding: head[..<end.lowerBound], as: UTF8.self)
                    state.withLock { $0.requests.append(text) }
                    recorded = true
                }
            }
            if !sendAll(upstream, buffer[0..<n]) { break }
        }
        shutdown(upstream, Int32(SHUT_WR))
    }

    private func pumpResponse(from upstream: Int32, to client: Int32, connection: Int) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        // Blank lines seen (the response head's and chunk framing count too: the cut only
        // has to fall somewhere in the middle of the stream).
        var blankLines = 0
        var tail: [UInt8] = []
        var sentAfterLimit = 0
        defer {
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
        }
        while true {
            let n = recv(upstream, &buffer, buffer.count, 0)
            if n <= 0 { return }
            switch fault {
            case .stall:
                continue
            case .cutAfterEvents(let limit) where connection == 0:
                for byte in buffer[0..<n] {
                    if blankLines >= limit {
                        // A few bytes into what follows, then the cut.
                        if sentAfterLimit == 6 { return }
                        sentAfterLimit += 1
                    }
                    tail = Array((tail + [byte]).suffix(4))
                    if tail == [0x0D, 0x0A, 0x0D, 0x0A] || tail.suffix(2) == [0x0A, 0x0A] { blankLines += 1 }
                    if !sendAll(client, [byte][...]) { return }
                }
            default:
                if !sendAll(client, buffer[0..<n]) { return }
            }
        }
    }

    private func sendAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    private static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if status != 0 {
            Glibc.close(fd)
            return nil
        }
        return fd
    }
}
