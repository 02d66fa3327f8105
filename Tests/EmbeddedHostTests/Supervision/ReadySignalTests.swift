import Foundation
import Testing
@testable import EmbeddedHost
import TestSupport

/// ``Supervisor/waitUntilRunning()``: an app awaits the service instead of polling the
/// state, and hears why it never came up.
@Suite(.timeLimit(.minutes(1)))
struct ReadySignalTests {
    private func config(maxRestarts: Int = 5) -> HealthCheckConfig {
        var config = HealthCheckConfig()
        config.healthInterval = .milliseconds(10)
        config.healthTimeout = .milliseconds(10)
        config.backoffInitial = .milliseconds(10)
        config.maxBackoff = .milliseconds(20)
        config.maxRestarts = maxRestarts
        return config
    }

    @Test func waitUntilRunningReturnsOnceTheServiceRunsAndAtOnceAfter() async throws {
        let sidecar = FakeSidecar()
        await sidecar.set(failingStarts: 1)
        let supervisor = try Supervisor(sidecar: sidecar, configuration: config())
        let waiter = Task { try await supervisor.waitUntilRunning() }
        let run = Task { try await supervisor.run() }
        try await waiter.value
        #expect(await supervisor.state == .running)
        #expect(await sidecar.starts == 2)  // it waited through the failed first start
        try await supervisor.waitUntilRunning()
        try await supervisor.stop()
        try await run.value
    }

    @Test func aConfigurationErrorIsThrownToTheWaiterAndTheStateLeavesStarting() async throws {
        let sidecar = FakeSidecar()
        let error = SidecarError.portInUse(host: "127.0.0.1", port: 8765)
        await sidecar.set(startError: error)
        let supervisor = try Supervisor(sidecar: sidecar, configuration: config())
        let waiter = Task { try await supervisor.waitUntilRunning() }
        await #expect(throws: error) { try await supervisor.run() }
        await #expect(throws: error) { try await waiter.value }
        await #expect(throws: error) { try await supervisor.waitUntilRunning() }
        #expect(await supervisor.state == .stopped)
        #expect(await sidecar.starts == 1)
    }

    @Test func theCircuitOpeningBeforeTheFirstRunIsThrownToTheWaiter() async throws {
        let sidecar = FakeSidecar()
        await sidecar.set(alwaysFailStarts: true)
        let supervisor = try Supervisor(sidecar: sidecar, configuration: config(maxRestarts: 1))
        let waiter = Task { try await supervisor.waitUntilRunning() }
        await #expect(throws: SupervisorError.self) { try await supervisor.run() }
        await #expect { try await waiter.value } throws: { error in
            if case .circuitOpen? = error as? SupervisorError { true } else { false }
        }
    }

    @Test func aStopBeforeTheServiceRunsIsThrownToTheWaiter() async throws {
        let sidecar = FakeSidecar()
        await sidecar.set(alwaysFailStarts: true)
        var slow = config(maxRestarts: 100)
        slow.backoffInitial = .seconds(30)
        slow.maxBackoff = .seconds(30)
        let supervisor = try Supervisor(sidecar: sidecar, configuration: slow)
        let log = EventLog(sidecar.events())
        let run = Task { try await supervisor.run() }
        try await log.waitFor("restarting")  // in the backoff after the failed start
        try await supervisor.stop()
        try await run.value
        await #expect(throws: SupervisorError.stoppedBeforeRunning) { try await supervisor.waitUntilRunning() }
    }

    @Test func aCancelledWaitThrowsCancellation() async throws {
        let sidecar = FakeSidecar()
        let supervisor = try Supervisor(sidecar: sidecar, configuration: config())
        let waiter = Task { try await supervisor.waitUntilRunning() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}
