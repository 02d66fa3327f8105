import Bridge
import Foundation
import Testing
@testable import EmbeddedHost

struct HealthProbeTests {
    private func parse(_ text: String) -> Result<HealthProbe.Response, HealthProbe.Failure> {
        HealthProbe.parse(Array(text.utf8))
    }

    @Test func aHealthyAnswer() throws {
        let response = try parse("HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n{\"status\":\"ok\"}\n").get()
        #expect(response.statusCode == 200)
        #expect(response.body?["status"] == "ok")
    }

    @Test func aChunkedAnswer() throws {
        let text = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\n{\"statu\r\n8\r\ns\":\"ok\"}\r\n0\r\n\r\n"
        #expect(try parse(text).get().body == ["status": "ok"])
    }

    @Test func otherStatusesAndBodiesFail() {
        #expect(parse("HTTP/1.1 503 Service Unavailable\r\n\r\n{}") == .failure(.status(503)))
        #expect(parse("HTTP/1.1 200 OK\r\n\r\n{\"status\":\"starting\"}") == .failure(.malformed("body without \"status\": \"ok\"")))
        #expect(parse("garbage") == .failure(.malformed("no header end")))
        #expect(parse("SSH-2.0-OpenSSH\r\n\r\n") == .failure(.malformed("status line \"SSH-2.0-OpenSSH\"")))
    }

    @Test func aClosedPortFailsFast() async throws {
        let port: Int
        do {
            let socket = try ListeningSocket.bind(host: "127.0.0.1", port: 0)
            port = socket.port
        }  // closed again here
        let result = await HealthProbe(host: "127.0.0.1", port: port, timeout: .seconds(5)).check()
        guard case .failure(.connect) = result else {
            Issue.record("expected a connect failure, got \(result)")
            return
        }
    }

    @Test func aSilentServerTimesOut() async throws {
        // Listening but never answering: the kernel accepts, nobody reads.
        let socket = try ListeningSocket.bind(host: "127.0.0.1", port: 0)
        let result = await HealthProbe(host: "127.0.0.1", port: socket.port, timeout: .milliseconds(300)).check()
        #expect(result == .failure(.timedOut))
    }
}

struct ListeningSocketTests {
    @Test func portZeroPicksAFreePortAndABusyPortIsReported() throws {
        let first = try ListeningSocket.bind(host: "127.0.0.1", port: 0)
        #expect(first.port > 0)
        #expect(first.baseURLString == "http://127.0.0.1:\(first.port)")
        #expect(throws: SidecarError.portInUse(host: "127.0.0.1", port: first.port)) {
            try ListeningSocket.bind(host: "127.0.0.1", port: first.port)
        }
    }

    @Test func ipv6LoopbackIsBracketed() throws {
        guard let socket = try? ListeningSocket.bind(host: "::1", port: 0) else { return }  // no IPv6 here
        #expect(socket.baseURLString == "http://[::1]:\(socket.port)")
    }

    @Test func badInputIsAClearError() {
        #expect(throws: SidecarError.bindFailed(host: "127.0.0.1", port: 70000, reason: "the port must be between 0 and 65535")) {
            try ListeningSocket.bind(host: "127.0.0.1", port: 70000)
        }
        #expect {
            try ListeningSocket.bind(host: "no such host.invalid", port: 0)
        } throws: { error in
            if case SidecarError.bindFailed = error { true } else { false }
        }
    }
}

struct EventBroadcasterTests {
    @Test func everySubscriberGetsEveryEventInOrder() async {
        let broadcaster = EventBroadcaster()
        let first = broadcaster.subscribe()
        let second = broadcaster.subscribe()
        broadcaster.publish(SidecarEvent(.starting(generation: 1)))
        broadcaster.publish(SidecarEvent(.healthy(generation: 1)))
        broadcaster.finish()
        var types: [[String]] = []
        for stream in [first, second] {
            var seen: [String] = []
            for await event in stream { seen.append(event.type) }
            types.append(seen)
        }
        #expect(types == [["starting", "healthy"], ["starting", "healthy"]])
        // After finish, a new subscription ends at once.
        for await _ in broadcaster.subscribe() { Issue.record("event after finish") }
    }

    @Test func eventJSONCarriesTypeTimestampAndFields() {
        let event = SidecarEvent(.restarting(kind: .cold, reason: "requested", why: "requested"), timestamp: Date(timeIntervalSince1970: 10))
        #expect(event.json == ["type": "restarting", "ts": 10.0, "kind": "cold", "reason": "requested", "why": "requested"])
        let refused = SidecarEvent(.restartRefused(reasons: ["x"], instead: .warm), timestamp: Date(timeIntervalSince1970: 0))
        #expect(refused.json == ["type": "restart_refused", "ts": 0.0, "reasons": ["x"], "instead": "warm"])
    }
}

struct AccessTokenTests {
    @Test func tokensAre256BitBase64URLAndDistinct() {
        let tokens = (0..<100).map { _ in AccessToken.generate() }
        #expect(Set(tokens).count == 100)
        for token in tokens {
            #expect(token.count == 43)
            #expect(token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        }
    }

    @Test func base64URLMatchesFoundation() {
        for length in 0..<20 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(AccessToken.base64URL(bytes) == expected)
        }
    }
}
