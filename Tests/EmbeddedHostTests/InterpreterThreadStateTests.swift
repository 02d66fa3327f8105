import Testing
@testable import EmbeddedHost

/// Every path of ``InterpreterThreadState``, without an interpreter: what the thread does
/// after each thing that can happen to it.
struct InterpreterThreadStateTests {
    typealias Loop = InterpreterThreadState.LoopEnd

    private func serving() -> InterpreterThreadState {
        var machine = InterpreterThreadState()
        #expect(machine.next(.started) == .startInterpreter(serviceGeneration: 1))
        #expect(machine.next(.initialized(error: nil)) == .serve(serviceGeneration: 1, reimport: false))
        return machine
    }

    private func loop(_ outcome: Loop.Outcome, served: Bool = true, blockers: [String] = [], abandoned: [String] = []) -> InterpreterThreadState.Event {
        .loopEnded(Loop(outcome: outcome, served: served, blockers: blockers, abandoned: abandoned))
    }

    @Test func aStopFinalizesAndEnds() {
        var machine = serving()
        #expect(machine.next(loop(.command(.stop), abandoned: ["d"])) == .finalize(finishCopies: false, end: .exited(.stopped, abandoned: ["d"])))
        #expect(machine.next(.interpreterEnded(.exited(.stopped, abandoned: ["d"]))) == .exit(.stopped))
        #expect(machine.state == .ended(.stopped))
    }

    @Test func aColdRestartStartsTheNextServiceGeneration() {
        var machine = serving()
        #expect(machine.next(loop(.command(.cold))) == .finalize(finishCopies: true, end: .coldRestart(abandoned: [])))
        #expect(machine.next(.interpreterEnded(.coldRestart(abandoned: []))) == .startInterpreter(serviceGeneration: 2))
        #expect(machine.next(.initialized(error: nil)) == .serve(serviceGeneration: 2, reimport: false))
    }

    @Test func aColdRestartThatCannotFinalizeServesAgainWarm() {
        var machine = serving()
        #expect(machine.next(loop(.command(.cold), blockers: ["worker"]))
            == .serve(serviceGeneration: 1, reimport: true, refusedColdRestart: ["non-daemon thread 'worker' is still running"]))
        #expect(machine.state == .serving(serviceGeneration: 1))
    }

    @Test func aStopWithBlockersLeavesTheInterpreterUnfinalized() {
        var machine = serving()
        #expect(machine.next(loop(.command(.stop), blockers: ["worker"])) == .leaveUnfinalized(.finalizeSkipped(threads: ["worker"], error: nil)))
        #expect(machine.next(.interpreterEnded(.notFinalized(.finalizeSkipped(threads: ["worker"], error: nil))))
            == .exit(.finalizeSkipped(threads: ["worker"], error: nil)))
    }

    @Test func aFailedInitializationEnds() {
        var machine = InterpreterThreadState()
        _ = machine.next(.started)
        #expect(machine.next(.initialized(error: "boom")) == .leaveUnfinalized(.failed("cannot initialize the interpreter: boom")))
        #expect(machine.next(.interpreterEnded(.notFinalized(.failed("x")))) == .exit(.failed("x")))
    }

    @Test func aLoopThatFailsBeforeServingEndsTheThread() {
        var machine = serving()
        #expect(machine.next(loop(.failed("import error"), served: false)) == .finalize(finishCopies: false, end: .exited(.failed("import error"), abandoned: [])))
    }

    @Test func aServingLoopThatEndsWaitsForTheSidecar() {
        var machine = serving()
        #expect(machine.next(loop(.failed("crash"))) == .awaitRecovery(error: "crash"))
        #expect(machine.next(.recovery(.warm)) == .serve(serviceGeneration: 1, reimport: true))
        #expect(machine.next(loop(.failed("again"))) == .awaitRecovery(error: "again"))
        #expect(machine.next(.recovery(.cold)) == .finalize(finishCopies: true, end: .coldRestart(abandoned: [])))
    }

    @Test func aRecoveryStopFinalizesCleanly() {
        var machine = serving()
        _ = machine.next(loop(.failed("crash"), abandoned: ["d"]))
        #expect(machine.next(.recovery(.stop)) == .finalize(finishCopies: false, end: .exited(.stopped, abandoned: ["d"])))
    }

    @Test func aColdRecoveryBlockedByThreadsServesWarm() {
        var machine = serving()
        _ = machine.next(loop(.failed("crash"), blockers: ["worker"]))
        #expect(machine.next(.recovery(.cold))
            == .serve(serviceGeneration: 1, reimport: true, refusedColdRestart: ["non-daemon thread 'worker' is still running"]))
    }
}
