import Foundation
import Loopback
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The client against a scripted server on 127.0.0.1: keep-alive, and the deadline.
struct LoopbackConnectionTests {
    @Test func twoExchangesOnOneKeptAliveConnection() throws {
        let server = try ScriptedServer(answers: ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none",
                                                  "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\ntwo"])
        let client = LoopbackClient(port: server.port, timeout: .seconds(10))
        let connection = try client.connect()
        defer { connection.close() }
        let request = HTTPRequest(method: "GET", path: "/").bytes(host: client.host, port: client.port, keepAlive: true)
        let first = try connection.exchange(request, deadline: .now + .seconds(10))
        let second = try connection.exchange(request, deadline: .now + .seconds(10))
        #expect(first.status == 200 && first.body == Array("one".utf8))
        #expect(second.status == 404 && second.body == Array("two".utf8))
    }

    @Test func aSilentServerRunsIntoTheDeadline() throws {
        let server = try ScriptedServer(answers: [])
        let started = ContinuousClock.now
        #expect(throws: LoopbackError(.timedOut, "recv")) {
            try LoopbackClient(port: server.port, timeout: .milliseconds(200)).send(HTTPRequest(method: "GET", path: "/"))
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func aClosedPortIsAConnectFailure() throws {
        let port = try ScriptedServer(answers: []).port  // closed again at once
        #expect {
            try LoopbackClient(port: port, timeout: .seconds(5)).send(HTTPRequest(method: "GET", path: "/"))
        } throws: { ($0 as? LoopbackError)?.kind == .connect }
    }
}

/// Listens on 127.0.0.1, accepts one connection and answers each request (one read) with
/// the next of `answers`; with none, accepts and stays silent. Closed when released.
private final class ScriptedServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init(answers: [String]) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        fd = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 4) == 0 && getsockname(listener, pointer, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw LoopbackError(.io, "cannot listen")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        guard !answers.isEmpty else { return }
        Thread.detachNewThread {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            for answer in answers {
                guard buffer.withUnsafeMutableBytes({ recv(client, $0.baseAddress, $0.count, 0) }) > 0 else { return }
                let bytes = Array(answer.utf8)
                _ = bytes.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    deinit { close(fd) }
}
