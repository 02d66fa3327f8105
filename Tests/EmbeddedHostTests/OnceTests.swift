import Foundation
import Testing
@testable import EmbeddedHost

/// The one waiter primitive: what fired is remembered, the first fire wins, and waits
/// can be cancelled. Assertions on outcomes only, never on how long anything took.
@Suite(.timeLimit(.minutes(1)))
struct OnceTests {
    /// The gap the old FailureSignal had: a fire between a state check and the wait was
    /// lost, and the waiter slept until something else woke it.
    @Test func aFireBeforeTheWaitIsReturnedAtOnce() async {
        let once = Once<String>()
        #expect(once.fire("crashed"))
        #expect(await once.wait() == "crashed")
        #expect(await once.wait(upTo: .seconds(3600)), "remembered: no wait at all")
    }

    @Test func theFirstFireWinsAndLaterOnesChangeNothing() async {
        let once = Once<Int>()
        let waiter = Task { await once.wait() }
        #expect(once.fire(1))
        #expect(!once.fire(2))
        #expect(await waiter.value == 1)
        #expect(once.value == 1)
    }

    @Test func everyWaiterGetsTheValue() async {
        let once = Once<String>()
        let waiters = (0..<20).map { _ in Task { await once.wait() } }
        once.fire("stop")
        for waiter in waiters { #expect(await waiter.value == "stop") }
    }

    @Test func aCancelledWaitReturnsNilAndLeavesTheValueForOthers() async {
        let once = Once<String>()
        let cancelled = Task { await once.wait() }
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        once.fire("later")
        #expect(await once.wait() == "later")
    }

    @Test func aWaitInATaskCancelledBeforehandReturnsNil() async {
        let once = Once<Int>()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await once.wait()
        }
        #expect(await task.value == nil)
    }

    @Test func aTimedWaitSaysWhetherItFired() async {
        let once = Once<Void>()
        #expect(await once.wait(upTo: .milliseconds(1)) == false)
        let waiter = Task { await once.wait(upTo: .seconds(3600)) }
        once.fire()
        #expect(await waiter.value)
    }

    @Test func aSidecarEndIsThrown() async {
        let once = Once<SidecarError>()
        once.fire(.stopRequested(reason: "POST /shutdown"))
        await #expect(throws: SidecarError.stopRequested(reason: "POST /shutdown")) { try await once.waitAndThrow() }
    }
}
