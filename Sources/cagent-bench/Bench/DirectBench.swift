import CagentAPI
import CagentBench
import EmbeddedHost
import Foundation
import Loopback
import SidecarCLI
import Logging

/// Direct calls and warm restarts, on an ``EmbeddedSidecar`` inside the bench process:
/// direct calls exist only in-process, and a warm restart keeps the interpreter, so
/// neither is disturbed by hosting it here. The HTTP p50 is taken against the same
/// sidecar, so the direct-call ratio compares the call paths and nothing else.
enum DirectBench {
    struct Figures: Sendable {
        /// One value per batch (round).
        var directP50Us: [Double] = []
        var directP99Us: [Double] = []
        var httpP50Us: [Double] = []
        /// `restarting` to `healthy` event, per restart.
        var warmRestartMs: [Double] = []
    }

    static func measure(runtime: RuntimeOptions, rounds: Int, calls: Int, logger: Logger) async throws -> Figures {
        var configuration = SidecarConfiguration()
        configuration.port = 0
        runtime.apply(to: &configuration)
        configuration.logLevel = "warning"
        let sidecar = EmbeddedSidecar(configuration: configuration, logger: logger)
        let recorder = EventRecorder(sidecar.events())
        try await sidecar.start()
        defer { sidecar.closeEvents() }
        var figures = Figures()
        do {
            guard let port = await sidecar.port else { throw CLIError("the in-process service reported no port") }
            let input: JSONObject = ["message": .string("hello"), "n": .integer(1)]
            let client = HTTPLoad(port: port, token: sidecar.token, path: "/agent/execute", jsonBody: CLIRound.body)
            for _ in 0..<200 { _ = try await sidecar.execute(agentID: "echo", input: input) }
            for _ in 1...rounds {
                var latencies: [Double] = []
                latencies.reserveCapacity(calls)
                for _ in 0..<calls {
                    let begin = ContinuousClock.now
                    _ = try await sidecar.execute(agentID: "echo", input: input)
                    latencies.append((ContinuousClock.now - begin).inMilliseconds * 1000)
                }
                latencies.sort()
                figures.directP50Us.append(Statistics.percentile(50, sorted: latencies))
                figures.directP99Us.append(Statistics.percentile(99, sorted: latencies))
                let http = try await BlockingCall.run {
                    Result { try client.run(clients: 1, requestsPerClient: calls, warmup: 100) }
                }.get()
                figures.httpP50Us.append(http.p50Microseconds)
            }
            for restart in 1...(2 * rounds) {
                try await sidecar.restart(.warm)
                let started = try await recorder.timestamp(of: "restarting", count: restart)
                let healthy = try await recorder.timestamp(of: "healthy", count: restart + 1)
                figures.warmRestartMs.append(healthy.timeIntervalSince(started) * 1000)
                try await Task.sleep(for: .milliseconds(100))
            }
        } catch {
            try? await sidecar.stop()
            throw error
        }
        try await sidecar.stop()
        return figures
    }
}

/// Every event's timestamp by type, as the sidecar published it.
actor EventRecorder {
    private var times: [String: [Date]] = [:]

    init(_ stream: AsyncStream<SidecarEvent>) {
        Task { for await event in stream { await self.add(event) } }
    }

    private func add(_ event: SidecarEvent) { times[event.type, default: []].append(event.timestamp) }

    /// The `count`-th event of `type`; waits up to a minute.
    func timestamp(of type: String, count: Int) async throws -> Date {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let found = times[type], found.count >= count { return found[count - 1] }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw CLIError("no \(type) event #\(count) within a minute")
    }
}
