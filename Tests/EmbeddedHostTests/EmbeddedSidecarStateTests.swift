import Testing
@testable import EmbeddedHost

/// ``EmbeddedSidecarState`` without an interpreter: which transitions each state allows,
/// and the event each one publishes.
struct EmbeddedSidecarStateTests {
    private func running(_ generation: Int = 1) -> EmbeddedSidecarState {
        var machine = EmbeddedSidecarState()
        #expect(machine.next(.start(threadEnded: true)) == .publish(.starting(generation: 1)))
        #expect(machine.next(.healthy(serviceGeneration: generation)) == .publish(.healthy(generation: generation)))
        #expect(machine.state == .running(generation: generation))
        return machine
    }

    @Test func startsOnlyFromRest() {
        var machine = running()
        #expect(machine.next(.start(threadEnded: true)) == .refused(.notRunning(.running(generation: 1))))
        #expect(machine.state == .running(generation: 1), "a refused transition changes nothing")
        _ = machine.next(.failed("crash"))
        #expect(machine.next(.start(threadEnded: false)) == .refused(.notRunning(.failed("crash"))), "its thread still runs")
        #expect(machine.next(.start(threadEnded: true)) == .publish(.starting(generation: 1)))
    }

    @Test func restartsOnlyWhileRunning() {
        var machine = EmbeddedSidecarState()
        #expect(machine.next(.restart(.warm, announced: nil)) == .refused(.notRunning(.idle)))
        machine = running()
        #expect(machine.next(.restart(.respawn, announced: nil))
            == .refused(.restartFailed("the embedded backend restarts warm or cold, not by respawning")))
        #expect(machine.next(.restart(.cold, announced: "requested"))
            == .publish(.restarting(kind: .cold, reason: "requested", why: RecoveryPlan.requestedWhy)))
        #expect(machine.state == .restarting(.cold))
        #expect(machine.next(.healthy(serviceGeneration: 2)) == .publish(.healthy(generation: 2)))
    }

    @Test func anUnannouncedRestartPublishesNothing() {
        var machine = running()
        #expect(machine.next(.restart(.warm, announced: nil)) == .publish(nil))
    }

    @Test func aFailedRestartLeavesTheServingGenerationRunning() {
        var machine = running(3)
        _ = machine.next(.restart(.warm, announced: nil))
        #expect(machine.next(.restartFailed(.warm, error: "bad import", serviceGeneration: 3))
            == .publish(.restartFailed(kind: .warm, error: "bad import")))
        #expect(machine.state == .running(generation: 3))
    }

    @Test func recoversOnlyAFailedSidecar() {
        var machine = running()
        #expect(machine.next(.recover(.warm)) == .refused(.notRunning(.running(generation: 1))))
        _ = machine.next(.failed("loop ended"))
        #expect(machine.next(.recover(.warm)) == .publish(nil))
        #expect(machine.state == .restarting(.warm))
    }

    @Test func stopsCleanlyOrTimesOut() {
        var machine = running()
        #expect(machine.next(.stop) == .publish(.stopping))
        #expect(machine.next(.stopped(clean: true, detail: nil)) == .publish(.stopped(clean: true, detail: nil)))
        #expect(machine.state == .stopped)
        machine = running()
        _ = machine.next(.stop)
        #expect(machine.next(.stopTimedOut(detail: "late")) == .publish(.stopped(clean: false, detail: "late")))
        #expect(machine.state == .failed("shutdown timed out"))
    }

    @Test func failsFromAnyState() {
        var machine = EmbeddedSidecarState()
        _ = machine.next(.start(threadEnded: true))
        #expect(machine.next(.failed("no runtime")) == .publish(.failed(error: "no runtime")))
        #expect(machine.state == .failed("no runtime"))
    }
}
