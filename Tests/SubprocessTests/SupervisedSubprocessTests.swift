import CagentClient
import EmbeddedHost
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The subprocess backend under the ``Supervisor``: a killed child is respawned.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SupervisedSubprocessTests {
    @Test func aKilledChildIsRespawnedByTheSupervisor() async throws {
        let sidecar = SubprocessSidecar(configuration: Fixtures.configuration())
        var settings = HealthCheckConfig()
        settings.backoffInitial = .milliseconds(50)
        settings.maxBackoff = .milliseconds(50)
        let supervisor = try Supervisor(sidecar: sidecar, configuration: settings)
        let events = EventLog(supervisor.events())
        let run = Task { try await supervisor.run() }

        try await waitUntil("the first generation runs") { await sidecar.state == .running(generation: 1) }
        let first = try #require(await sidecar.pid)
        kill(first, SIGKILL)

        try await waitUntil("the second generation runs") { await sidecar.state == .running(generation: 2) }
        let second = try #require(await sidecar.pid)
        #expect(second != first)
        let client = CagentClient(baseURL: try #require(await sidecar.baseURL), token: sidecar.token)
        #expect(try await client.health().status == "ok")

        try await supervisor.stop()
        try await run.value
        #expect(!processIsAlive(second))
        sidecar.closeEvents()
        let all = try await events.finished()
        #expect(all.map(\.type) == ["starting", "healthy", "failed", "restarting", "starting", "healthy", "stopping", "stopped"])
        guard all.count > 3, case .restarting(let kind, _, _, let attempt, _) = all[3].kind else {
            Issue.record("no restarting event: \(all.map(\.type))")
            return
        }
        #expect(kind == .respawn)
        #expect(attempt == 1)
    }
}
