import EmbeddedHost
import Foundation
import Logging
import Loopback
import SidecarCLI
#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's figures for `cagent-bench`: how long a blocked event loop takes to be
/// reported (`stalled`) and recovered (`interrupted`), and a crash to `healthy` again,
/// on an in-process embedded sidecar running the agents of ``Agents``.
enum SupervisionBench {
    struct Results {
        /// From the request that blocks the loop to the `stalled` event.
        var stallDetection: [Duration] = []
        /// From the `stalled` event to the `interrupted` event.
        var stallRecovery: [Duration] = []
        /// From the crash (`failed` event) to `healthy` again, backoff included.
        var crashToHealthy: [Duration] = []
        /// The backoff part of each of those.
        var backoff: [Duration] = []

        func report(health: HealthCheckConfig) -> String {
            func ms(_ value: Duration) -> String { String(format: "%.0f", Double(value.milliseconds)) }
            func line(_ name: String, _ values: [Duration]) -> String {
                let sorted = values.sorted()
                let median = sorted.isEmpty ? "-" : ms(sorted[sorted.count / 2])
                return "\(name): median \(median) ms  [\(values.map(ms).joined(separator: ", "))]"
            }
            let restartOnly = zip(crashToHealthy, backoff).map { $0 - $1 }
            return [
                "supervision bench (stall threshold \(health.stallThreshold.milliseconds) ms, backoff from \(health.backoffInitial.milliseconds) ms)",
                line("stall detection (blocked loop -> stalled event)", stallDetection),
                line("stall recovery (stalled -> interrupted)", stallRecovery),
                line("crash -> healthy (backoff included)", crashToHealthy),
                line("crash -> healthy minus backoff (cold restart)", restartOnly),
            ].joined(separator: "\n")
        }
    }

    static func measure(runtime: RuntimeOptions, health: HealthCheckConfig, rounds: Int, logger: Logger) async throws -> Results {
        let agents = FileManager.default.temporaryDirectory.appendingPathComponent("cagent-bench-\(getpid())")
        try FileManager.default.createDirectory(at: agents, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: agents) }
        try SupervisionBench.Agents.source.write(to: agents.appendingPathComponent("bench_agents.py"), atomically: true, encoding: .utf8)

        var configuration = SidecarConfiguration()
        configuration.port = 0
        runtime.apply(to: &configuration)
        configuration.logLevel = "error"
        configuration.serviceEnvironment["CAGENT_AGENTS_DIR"] = agents.path
        let sidecar = EmbeddedSidecar(configuration: configuration, logger: logger)
        let supervisor = try Supervisor(sidecar: sidecar, configuration: health, logger: logger)
        let events = EventTimes(sidecar.events())
        let supervising = Task { try await supervisor.run() }
        defer { supervising.cancel() }

        var results = Results()
        _ = try await events.wait(for: "healthy", count: 1)
        guard let port = await sidecar.port else { throw CLIError("the service did not report its port") }
        let token = sidecar.token
        for round in 1...rounds {
            let begin = Date()
            try post(port: port, token: token, path: "/agent/runs", body: #"{"agent_id": "bench_block", "input": {"seconds": 30}}"#)
            let stalled = try await events.wait(for: "stalled", count: round)
            let interrupted = try await events.wait(for: "interrupted", count: round)
            results.stallDetection.append(.seconds(stalled.timeIntervalSince(begin)))
            results.stallRecovery.append(.seconds(interrupted.timeIntervalSince(stalled)))
        }
        for round in 1...rounds {
            try post(port: port, token: token, path: "/agent/runs", body: #"{"agent_id": "bench_crash", "input": {}}"#)
            let failed = try await events.wait(for: "failed", count: round)
            let healthy = try await events.wait(for: "healthy", count: round + 1)
            results.crashToHealthy.append(.seconds(healthy.timeIntervalSince(failed)))
            results.backoff.append(await events.lastRestartDelay ?? .zero)
        }
        try await supervisor.stop()
        sidecar.closeEvents()
        return results
    }

    /// One `POST` to the service on loopback; the answer's status only.
    @discardableResult
    static func post(port: Int, token: String, path: String, body: String) throws -> Int {
        let client = LoopbackClient(port: port, timeout: .seconds(60))
        do {
            return try client.send(HTTPRequest.postJSON(path, token: token, json: Array(body.utf8))).status
        } catch {
            throw CLIError("POST \(path): \(error)")
        }
    }
}
