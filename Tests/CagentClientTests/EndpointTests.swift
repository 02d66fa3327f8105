import CagentClient
import Foundation
import Testing

/// Every endpoint against the real service (uvicorn as a child process).
@Suite(.timeLimit(.minutes(5)))
struct EndpointTests {
    @Test func healthNeedsNoToken() async throws {
        try await ServiceProcess.with { service in
            let health = try await CagentClient(baseURL: service.baseURL, token: nil).health()
            #expect(health.status == "ok")
            #expect(!health.version.isEmpty)
            #expect(health.uptimeSeconds >= 0)
            #expect(health.agents >= 5, "echo, tools, chat and the test agents")
        }
    }

    @Test func agentsListsBuiltInAndTestAgents() async throws {
        try await ServiceProcess.with { service in
            let agents = try await CagentClient(baseURL: service.baseURL, token: service.token).agents()
            let ids = agents.map(\.id)
            #expect(ids.contains("echo"))
            #expect(ids.contains("counter"))
            #expect(agents.first { $0.id == "echo" }?.description == "Returns its input unchanged.")
            #expect(agents.first { $0.id == "echo" }?.inputSchema["type"] == "object")
        }
    }

    @Test func executeReturnsTheResult() async throws {
        try await ServiceProcess.with { service in
            let client = CagentClient(baseURL: service.baseURL, token: service.token)
            let input: JSONObject = ["text": "héllo ✓", "n": 3, "x": 1.5, "list": [1, "two", nil], "nested": ["ok": true]]
            let answer = try await client.execute(agentID: "echo", input: input)
            #expect(answer.agentID == "echo")
            #expect(answer.result == input)
            #expect(answer.executionTime >= 0)

            let tools = try await client.execute(agentID: "all_events", input: [:], context: ["user": "u1"], timeoutSeconds: 10)
            #expect(tools.result["sum"] == 3)
            #expect(tools.result["context"] == ["user": "u1"])
        }
    }

    @Test func aRunStreamsTypedEventsInOrderAndEndsWithItsResult() async throws {
        try await ServiceProcess.with { service in
            let client = CagentClient(baseURL: service.baseURL, token: service.token)
            let id = try await client.startRun(agentID: "all_events", input: [:], context: ["c": 1])
            #expect(!id.isEmpty)
            var events: [RunEvent] = []
            for try await event in client.stream(requestID: id) where event.kind != .keepalive {
                events.append(event)
            }
            #expect(events.map(\.id) == ["0", "1", "2", "3", "4"])
            #expect(events.map(\.type) == ["thinking", "tool_call", "tool_result", "progress", "result"])
            #expect(events[0].kind == .thinking(["text": "line one\nline two"]))
            #expect(events[1].kind == .toolCall(["tool": "add", "arguments": ["a": 1, "b": 2]]))
            #expect(events[2].kind == .toolResult(["tool": "add", "content": 3, "is_error": false]))
            #expect(events[3].kind == .other(type: "progress", data: ["pct": 50]))
            guard case .result(let result) = events[4].kind else {
                Issue.record("no result: \(events)")
                return
            }
            #expect(result.agentID == "all_events")
            #expect(result.result["context"] == ["c": 1])
        }
    }

    @Test func keepalivesArriveWhileARunIsIdle() async throws {
        try await ServiceProcess.with { service in
            let client = CagentClient(baseURL: service.baseURL, token: service.token)
            let id = try await client.startRun(agentID: "sleeps", input: ["seconds": 60])
            var keepalives = 0
            for try await event in client.stream(requestID: id) {
                if event.kind == .keepalive {
                    #expect(event.id == nil, "a keepalive moves no Last-Event-ID")
                    keepalives += 1
                    if keepalives == 2 { break }
                }
            }
            #expect(keepalives == 2)
        }
    }

    @Test func aStreamResumesAfterALastEventID() async throws {
        try await ServiceProcess.with { service in
            let client = CagentClient(baseURL: service.baseURL, token: service.token)
            // Slow enough that the first reader leaves long before the end: a run whose
            // terminal event was sent is retired, and could not be resumed.
            let id = try await client.startRun(agentID: "counter", input: ["count": 5, "interval": 0.3])
            var first: [String?] = []
            for try await event in client.stream(requestID: id) where event.kind != .keepalive {
                first.append(event.id)
                if first.count == 3 { break }
            }
            #expect(first == ["0", "1", "2"])
            var rest: [String?] = []
            for try await event in client.stream(requestID: id, lastEventID: "2") where event.kind != .keepalive {
                rest.append(event.id)
            }
            #expect(rest == ["3", "4", "5"])
        }
    }

    @Test func aFailedRunEndsWithAnErrorEvent() async throws {
        try await ServiceProcess.with { service in
            let client = CagentClient(baseURL: service.baseURL, token: service.token)
            let id = try await client.startRun(agentID: "fails", input: [:])
            let events = try await collect(client.stream(requestID: id))
            #expect(events.map(\.type) == ["thinking", "error"])
            guard case .error(let error) = events.last?.kind else {
                Issue.record("no error event: \(events)")
                return
            }
            #expect(error.code == "agent_failed")
            #expect(error.message == "RuntimeError: boom")
            #expect(error.requestID == id)
            #expect(error.status == nil)
        }
    }

    /// "Release resources and exit": open streams end with `shutting_down`, then the
    /// process exits 0 (/health saying `shutting_down` meanwhile: python/tests).
    @Test func shutdownEndsRunsThenTheServiceExits() async throws {
        try await ServiceProcess.with { service in
            let client = CagentClient(baseURL: service.baseURL, token: service.token)
            let (id, last) = try await runCutShortByShutdown(client)
            #expect(last?.kind == .error(ServiceError(status: nil, code: "shutting_down",
                                                      message: "the service is shutting down", requestID: id)))
            #expect(await service.waitForExit() == 0, "output:\n\(service.output)")
        }
    }
}

/// Starts a long run, asks the service to shut down once the run's stream is open, and
/// returns the run's id and the last event (keepalives aside) the stream gave before it ended.
func runCutShortByShutdown(_ client: CagentClient,
                           sourceLocation: SourceLocation = #_sourceLocation) async throws -> (id: String, last: RunEvent?) {
    let id = try await client.startRun(agentID: "sleeps", input: ["seconds": 60])
    var events = client.stream(requestID: id).makeAsyncIterator()
    // Its first event: the stream is open before the service stops listening.
    #expect(try await events.next()?.type == "thinking", sourceLocation: sourceLocation)
    try await client.shutdown()
    var last: RunEvent?
    while let event = try await events.next() { if event.kind != .keepalive { last = event } }
    return (id, last)
}

/// Every event but keepalives, to the end of the stream.
func collect(_ stream: AsyncThrowingStream<RunEvent, Error>) async throws -> [RunEvent] {
    var events: [RunEvent] = []
    for try await event in stream where event.kind != .keepalive { events.append(event) }
    return events
}
