import Loopback
import Testing

/// The bytes a request becomes and how whole answers are read.
struct HTTPMessageTests {
    @Test func aRequestCarriesHostTokenLengthAndClose() {
        let request = HTTPRequest.postJSON("/agent/runs", token: "t0k", json: Array("{}".utf8))
        let text = String(decoding: request.bytes(host: "127.0.0.1", port: 8080), as: UTF8.self)
        #expect(text == "POST /agent/runs HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer t0k\r\n"
            + "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        let kept = String(decoding: HTTPRequest(method: "GET", path: "/health").bytes(host: "::1", port: 9, keepAlive: true), as: UTF8.self)
        #expect(kept == "GET /health HTTP/1.1\r\nHost: [::1]:9\r\n\r\n")
    }

    @Test func aWholeAnswerIsCutAtItsLengthOrDechunked() throws {
        let plain = try HTTPResponse.parse(Array("HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A:  b \r\n\r\nokEXTRA".utf8))
        #expect(plain.status == 201)
        #expect(plain.headers["x-a"] == "b")
        #expect(plain.body == Array("ok".utf8))
        let chunked = try HTTPResponse.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\n\r\n".utf8))
        #expect(chunked.body == Array("abc".utf8))
    }

    @Test func whatIsNotHTTPIsMalformed() {
        #expect(throws: LoopbackError(.malformed, "no header end")) { try HTTPResponse.parse(Array("garbage".utf8)) }
        #expect(throws: LoopbackError(.malformed, "status line \"SSH-2.0\"")) { try HTTPResponse.parse(Array("SSH-2.0\r\n\r\n".utf8)) }
    }
}
