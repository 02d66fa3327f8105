import CagentClient
import Foundation
import Testing

/// A stream whose connection drops resumes with `Last-Event-ID`: nothing lost, nothing twice.
@Suite(.timeLimit(.minutes(5)))
struct ReconnectTests {
    @Test func aDroppedStreamResumesWithoutLossOrDuplicates() async throws {
        try await ServiceProcess.with { service in
            let proxy = try CuttingProxy(upstreamPort: service.port, fault: .cutAfterEvents(6))
            defer { proxy.close() }
            let direct = CagentClient(baseURL: service.baseURL, token: service.token)
            var configuration = ClientConfiguration(baseURL: proxy.baseURL, token: service.token)
            configuration.reconnection = .init(maxAttempts: 3, delay: .milliseconds(50))
            let client = CagentClient(configuration)

            let count = 40
            let id = try await direct.startRun(agentID: "counter", input: ["count": .integer(count), "interval": 0.02])
            let events = try await collect(client.stream(requestID: id))

            #expect(events.map(\.id) == (0...count).map { String($0) }, "every id once, in order")
            let numbers = events.dropLast().map { $0.data["n"] }
            #expect(numbers == (0..<count).map { JSON.integer($0) })
            #expect(events.last?.type == "result")

            let requests = proxy.requests
            #expect(requests.count == 2, "one drop, one reconnection: \(requests)")
            #expect(!(requests.first ?? "").lowercased().contains("last-event-id"))
            let resumed = requests.last?.split(separator: "\r\n").first { $0.lowercased().hasPrefix("last-event-id:") }
            let resumedAt = resumed.flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
            #expect(resumedAt.map { (0..<count).contains($0) } == true, "resumed mid-run: \(String(describing: resumed))")
        }
    }

    @Test func aSilentStreamIsReconnectedThenGivenUp() async throws {
        try await ServiceProcess.with { service in
            let proxy = try CuttingProxy(upstreamPort: service.port, fault: .stall)
            defer { proxy.close() }
            var configuration = ClientConfiguration(baseURL: proxy.baseURL, token: service.token)
            configuration.streamIdleTimeout = .milliseconds(500)
            configuration.reconnection = .init(maxAttempts: 2, delay: .milliseconds(10))
            let client = CagentClient(configuration)
            let id = try await CagentClient(baseURL: service.baseURL, token: service.token).startRun(agentID: "counter", input: ["count": 3])
            do {
                _ = try await collect(client.stream(requestID: id))
                Issue.record("no error")
            } catch let error as CagentClientError {
                guard case .streamInterrupted(let lastEventID, let attempts, _) = error else {
                    Issue.record("unexpected: \(error)")
                    return
                }
                #expect(lastEventID == nil)
                #expect(attempts == 2)
            }
            #expect(proxy.requests.count == 3, "the first connection and two reconnections")
        }
    }

    @Test func reconnectionCanBeTurnedOff() async throws {
        try await ServiceProcess.with { service in
            let proxy = try CuttingProxy(upstreamPort: service.port, fault: .cutAfterEvents(6))
            defer { proxy.close() }
            var configuration = ClientConfiguration(baseURL: proxy.baseURL, token: service.token)
            configuration.reconnection = .init(maxAttempts: 0)
            let client = CagentClient(configuration)
            let id = try await CagentClient(baseURL: service.baseURL, token: service.token)
                .startRun(agentID: "counter", input: ["count": 40, "interval": 0.02])
            var received: [RunEvent] = []
            do {
                for try await event in client.stream(requestID: id) where event.kind != .keepalive { received.append(event) }
                Issue.record("no error")
            } catch let error as CagentClientError {
                guard case .streamInterrupted(let lastEventID, let attempts, _) = error else {
                    Issue.record("unexpected: \(error)")
                    return
                }
                #expect(attempts == 0)
                #expect(lastEventID == received.last?.id, "where to resume by hand")
                // Resuming by hand from there completes the run.
                let rest = try await collect(CagentClient(baseURL: service.baseURL, token: service.token).stream(requestID: id, lastEventID: lastEventID))
                #expect((received + rest).map(\.id) == (0...40).map { String($0) })
            }
        }
    }
}
