@testable import CagentClient
import Foundation
import TestSupport
import Testing

/// Every error the service answers, as a typed ``ServiceError``, and the client's own.
@Suite(.timeLimit(.minutes(5)))
struct ErrorTests {
    private func serviceError(_ body: () async throws -> Void) async -> ServiceError? {
        do {
            try await body()
            Issue.record("no error")
            return nil
        } catch let error as CagentClientError {
            guard let serviceError = error.serviceError else {
                Issue.record("not a service error: \(error)")
                return nil
            }
            return serviceError
        } catch {
            Issue.record("not a CagentClientError: \(error)")
            return nil
        }
    }

    @Test func httpErrorsOfTheService() async throws {
        try await ServiceProcess.with(environment: ["CAGENT_MAX_BODY_BYTES": "4096"]) { service in
            let client = CagentClient(baseURL: service.baseURL, token: service.token)

            let noToken = await serviceError { _ = try await CagentClient(baseURL: service.baseURL, token: nil).agents() }
            #expect(noToken?.status == 401)
            #expect(noToken?.code == "unauthorized")
            let wrongToken = await serviceError { _ = try await CagentClient(baseURL: service.baseURL, token: "wrong").execute(agentID: "echo", input: [:]) }
            #expect(wrongToken?.status == 401)
            let streamWithoutToken = await serviceError {
                _ = try await collect(CagentClient(baseURL: service.baseURL, token: "wrong").stream(requestID: "x"))
            }
            #expect(streamWithoutToken?.status == 401)

            let unknownAgent = await serviceError { _ = try await client.execute(agentID: "nobody", input: [:]) }
            #expect(unknownAgent?.status == 404)
            #expect(unknownAgent?.code == "unknown_agent")
            #expect(unknownAgent?.details["agent_id"] == "nobody")
            #expect(unknownAgent?.requestID?.isEmpty == false, "the X-Request-ID header names the request")
            let unknownAgentRun = await serviceError { _ = try await client.startRun(agentID: "nobody", input: [:]) }
            #expect(unknownAgentRun?.code == "unknown_agent")

            let unknownRun = await serviceError { _ = try await collect(client.stream(requestID: "no-such-run")) }
            #expect(unknownRun?.status == 404)
            #expect(unknownRun?.code == "unknown_run")
            #expect(unknownRun?.requestID == "no-such-run")

            let invalid = await serviceError { _ = try await client.execute(agentID: "", input: [:]) }
            #expect(invalid?.status == 422)
            #expect(invalid?.code == "invalid_request")
            #expect(invalid?.details["errors"]?[0]?["loc"] == ["body", "agent_id"])
            let badTimeout = await serviceError { _ = try await client.execute(agentID: "echo", input: [:], timeoutSeconds: -1) }
            #expect(badTimeout?.status == 422)

            let large = await serviceError {
                _ = try await client.execute(agentID: "echo", input: ["blob": .string(String(repeating: "x", count: 10_000))])
            }
            #expect(large?.status == 413)
            #expect(large?.code == "body_too_large")

            let failed = await serviceError { _ = try await client.execute(agentID: "fails", input: [:]) }
            #expect(failed?.status == 500)
            #expect(failed?.code == "agent_failed")
            #expect(failed?.message == "RuntimeError: boom")
            #expect(failed?.requestID?.isEmpty == false)

            let timedOut = await serviceError { _ = try await client.execute(agentID: "sleeps", input: ["seconds": 30], timeoutSeconds: 0.2) }
            #expect(timedOut?.status == 504)
            #expect(timedOut?.code == "timeout")

            let id = try await client.startRun(agentID: "counter", input: ["count": 2])
            let badLastID = await serviceError { _ = try await collect(client.stream(requestID: id, lastEventID: "99")) }
            #expect(badLastID?.status == 400)
            #expect(badLastID?.code == "invalid_last_event_id")

            // shutting_down: a run cut short by POST /shutdown. The service then exits, so
            // a call made after it finds nothing listening; the 503 that a call gets while
            // it is closing is python/tests' (test_shutdown_then_503).
            let (_, last) = try await runCutShortByShutdown(client)
            guard case .error(let closing)? = last?.kind else {
                Issue.record("no error event: \(String(describing: last))")
                return
            }
            #expect(closing.code == "shutting_down")
        }
    }

    @Test func aRequestPastItsTimeoutFailsWithTimedOut() async throws {
        try await ServiceProcess.with { service in
            var configuration = ClientConfiguration(baseURL: service.baseURL, token: service.token)
            configuration.executeTimeout = .milliseconds(300)
            let client = CagentClient(configuration)
            await #expect(throws: CagentClientError.timedOut(.milliseconds(300))) {
                _ = try await client.execute(agentID: "sleeps", input: ["seconds": 30])
            }
            // The client stays usable (a run timeout of its own lifts the 300 ms limit).
            let again = try await client.execute(agentID: "echo", input: ["a": 1], timeoutSeconds: 30)
            #expect(again.result == ["a": 1])
        }
    }

    @Test func nobodyListeningIsATransportError() async throws {
        // A port that was free a moment ago: nothing listens there.
        let proxy = try CuttingProxy(upstreamPort: 1, fault: .none)
        let port = proxy.port
        proxy.close()
        let client = CagentClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: "t")
        do {
            _ = try await client.health()
            Issue.record("no error")
        } catch {
            guard case .transport = error else {
                Issue.record("not a transport error: \(error)")
                return
            }
        }
    }

    @Test func cancellingTheCallerCancelsTheRequest() async throws {
        try await ServiceProcess.with { service in
            let client = CagentClient(baseURL: service.baseURL, token: service.token)
            let began = FileManager.default.temporaryDirectory.appendingPathComponent("cagent-run-began-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: began) }
            let call = Task { try await client.execute(agentID: "sleeps", input: ["seconds": 30, "mark": .string(began)]) }
            try await waitUntil("the service runs the call") { FileManager.default.fileExists(atPath: began) }
            call.cancel()
            await #expect(throws: CagentClientError.cancelled) { _ = try await call.value }
        }
    }

    @Test func errorBodiesThatAreNotTheServicesAreKeptAsText() {
        let error = CagentClient.error(status: 502, body: Data("<html>bad gateway</html>".utf8), headerRequestID: nil)
        #expect(error == .unexpectedStatus(502, body: "<html>bad gateway</html>"))
    }
}
