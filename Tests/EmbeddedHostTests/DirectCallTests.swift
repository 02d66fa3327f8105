import Bridge
import CagentAPI
import Foundation
import Testing
@testable import EmbeddedHost
import TestSupport

/// Direct calls run in this process's interpreter, so they belong to the serialized
/// embedded suite.
extension EmbeddedSidecarTests {
    @Test func directCallsGiveTheSameResultsEventsAndErrorsAsHTTP() async throws {
        let sidecar = EmbeddedSidecar(configuration: Fixtures.configuration())
        try await sidecar.start()

        let input: JSONObject = ["text": "héllo 🌍", "list": [1, 2.5, nil, true], "nested": ["k": "v"]]
        let result = try await sidecar.execute(agentID: "echo", input: input)
        #expect(result.result == input)
        #expect(result.agentID == "echo")
        #expect(result.executionTime >= 0)

        // The HTTP answer for the same call carries the same result.
        let port = try #require(await sidecar.port)
        let http = try await LoopbackHTTP(port: port, token: sidecar.token)
            .post("/agent/execute", json: ["agent_id": "echo", "input": .object(input)])
        #expect(http.json?["result"] == .object(input))

        await expectServiceError(code: "unknown_agent", status: 404) {
            _ = try await sidecar.execute(agentID: "nope", input: [:])
        }
        await expectServiceError(code: "invalid_request", status: 422) {
            _ = try await sidecar.execute(agentID: "tools", input: ["calls": [["arguments": [:]]]])
        }
        await expectServiceError(code: "agent_failed", status: 500, requestID: true) {
            _ = try await sidecar.execute(agentID: "raises", input: ["message": "on purpose"])
        }
        await expectServiceError(code: "timeout", status: 504, requestID: true) {
            _ = try await sidecar.execute(agentID: "slow_stream", input: ["steps": 1000], timeout: .milliseconds(100))
        }

        var types: [String] = []
        var ids: [String?] = []
        for try await event in try await sidecar.stream(agentID: "slow_stream", input: ["steps": 3, "interval": 0]) {
            types.append(event.type)
            ids.append(event.id)
        }
        #expect(types == ["thinking", "thinking", "thinking", "result"])
        #expect(ids == ["0", "1", "2", "3"])

        var failed: [RunEvent] = []
        for try await event in try await sidecar.stream(agentID: "raises", input: [:]) { failed.append(event) }
        guard case .error(let error)? = failed.last?.kind else {
            Issue.record("the stream did not end with an error event: \(failed)")
            return
        }
        #expect(error.code == "agent_failed")

        try await sidecar.stop()
        await #expect(throws: SidecarError.notRunning(.stopped)) {
            _ = try await sidecar.execute(agentID: "echo", input: [:])
        }
    }

    @Test func cancellingTheSwiftTaskCancelsThePythonRun() async throws {
        let sidecar = EmbeddedSidecar(configuration: Fixtures.configuration())
        try await sidecar.start()

        let execute = Task { try await sidecar.execute(agentID: "cancel_probe", input: ["marker": "execute"]) }
        try await waitUntil("the execute run has begun") { try await cancelProbes(sidecar).started.contains("execute") }
        execute.cancel()
        await #expect(throws: CancellationError.self) { _ = try await execute.value }

        // Leaving a stream early cancels its run too.
        var seen = 0
        for try await event in try await sidecar.stream(agentID: "cancel_probe", input: ["marker": "stream"]) {
            #expect(event.type == "thinking")
            seen += 1
            if seen == 3 { break }
        }

        try await waitUntil("both runs saw their cancellation") { try await cancelProbes(sidecar).cancelled.count >= 2 }
        #expect(try await cancelProbes(sidecar).cancelled == ["execute", "stream"])
        try await sidecar.stop()
    }

    @Test func manyConcurrentDirectCallsFromSwiftTasks() async throws {
        let sidecar = EmbeddedSidecar(configuration: Fixtures.configuration())
        try await sidecar.start()
        let answers = try await withThrowingTaskGroup(of: (Int, JSONObject).self) { group in
            for index in 0..<200 {
                group.addTask { (index, try await sidecar.execute(agentID: "echo", input: ["n": .integer(index)]).result) }
            }
            var answers: [Int: JSONObject] = [:]
            for try await (index, result) in group { answers[index] = result }
            return answers
        }
        #expect(answers.count == 200)
        #expect(answers.allSatisfy { $0.value == ["n": .integer($0.key)] })
        try await sidecar.stop()
    }

    @Test func callsInFlightWhenTheServiceStopsEndAndNoneHangs() async throws {
        let sidecar = EmbeddedSidecar(configuration: Fixtures.configuration())
        try await sidecar.start()
        let calls = (0..<5).map { index in
            Task { try await sidecar.execute(agentID: "cancel_probe", input: ["marker": .string("stop-\(index)")]) }
        }
        let stream = try await sidecar.stream(agentID: "cancel_probe", input: ["marker": "stop-stream"])
        let markers: Set<JSON> = Set((0..<5).map { .string("stop-\($0)") } + ["stop-stream"])
        try await waitUntil("every call is under way") { markers.isSubset(of: try await cancelProbes(sidecar).started) }
        try await sidecar.stop()
        for call in calls {
            await expectServiceError(code: "shutting_down", status: 503, requestID: true) { _ = try await call.value }
        }
        var last: RunEvent?
        for try await event in stream { last = event }
        guard case .error(let error)? = last?.kind else {
            Issue.record("the stream did not end with an error event: \(String(describing: last))")
            return
        }
        #expect(error.code == "shutting_down")
    }

    @Test func directCallsGoOnAcrossWarmAndColdRestarts() async throws {
        let sidecar = EmbeddedSidecar(configuration: Fixtures.configuration())
        try await sidecar.start()
        for kind in [RestartKind.warm, .cold, .warm] {
            try await sidecar.restart(kind)
            let answer = try await sidecar.execute(agentID: "echo", input: ["after": .string(kind.rawValue)])
            #expect(answer.result == ["after": .string(kind.rawValue)])
        }
        try await sidecar.stop()
    }

    /// The markers of the fixture's `cancel_probe` runs that began, and of those that saw
    /// their cancellation: what the tests wait for instead of a length of time.
    private func cancelProbes(_ sidecar: EmbeddedSidecar) async throws -> (started: Set<JSON>, cancelled: [JSON]) {
        let report = try await sidecar.execute(agentID: "cancel_report", input: [:]).result
        return (Set(report["started"]?.arrayValue ?? []), report["cancelled"]?.arrayValue ?? [])
    }

    private func expectServiceError(
        code: String, status: Int, requestID: Bool = false, _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            Issue.record("no error; expected \(code)")
        } catch let error as ServiceError {
            #expect(error.code == code)
            #expect(error.status == status)
            #expect((error.requestID != nil) == requestID, "request id: \(String(describing: error.requestID))")
        } catch {
            Issue.record("expected ServiceError \(code), got \(error)")
        }
    }
}
