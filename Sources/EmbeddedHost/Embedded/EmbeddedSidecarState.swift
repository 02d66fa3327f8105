/// Where an ``EmbeddedSidecar`` is, as one state machine: its states are the public
/// ``SidecarState``, and ``next(_:)`` is the one place they change.
///
/// ```
/// idle | stopped | failed (its thread ended) → starting → running(g)
/// running(g) → restarting(kind) → running(g')          (g' = g warm, g + 1 cold)
/// running(g) → restarting(kind) → running(g)           (the restart failed; g serves on)
/// failed (loop ended, interpreter kept) → restarting(kind) → running(g')
/// any → failed(why)                                    (a start or restart that cannot complete, a crash)
/// any → stopping → stopped | failed("shutdown timed out")
/// ```
///
/// Each transition names the ``SidecarEvent`` it publishes, so a state and its event
/// never part; a transition the state does not allow is refused with the error the
/// caller throws. Pure: `EmbeddedSidecarStateTests` tests it without an interpreter.
/// `g` is the service generation (``InterpreterThreadState`` defines it).
struct EmbeddedSidecarState: Sendable, Equatable {
    enum Event: Sendable, Equatable {
        /// Start a new interpreter thread; `threadEnded`: no thread of an earlier run is
        /// still alive (a failed sidecar's may be, until its start or restart given up ends).
        case start(threadEnded: Bool)
        /// Restart the running service; `announced`: the reason, when the restart is
        /// published as requested (the supervisor announces its own).
        case restart(RestartKind, announced: String?)
        /// Serve again from a kept interpreter whose loop ended.
        case recover(RestartKind)
        /// The service of `serviceGeneration` answered its health check.
        case healthy(serviceGeneration: Int)
        /// A restart failed before replacing the service: `serviceGeneration` serves on.
        case restartFailed(RestartKind, error: String, serviceGeneration: Int)
        case failed(String)
        case stop
        /// The interpreter thread ended after a stop.
        case stopped(clean: Bool, detail: String?)
        /// The interpreter thread did not end within the shutdown timeout.
        case stopTimedOut(detail: String)
    }

    enum Transition: Sendable, Equatable {
        /// Done; publish this event, if any.
        case publish(SidecarEvent.Kind?)
        /// Not allowed from the current state: nothing changed.
        case refused(SidecarError)
    }

    private(set) var state: SidecarState = .idle

    /// The one transition.
    mutating func next(_ event: Event) -> Transition {
        switch (state, event) {
        case (.idle, .start), (.stopped, .start), (.failed, .start(threadEnded: true)):
            state = .starting
            return .publish(.starting(generation: 1))
        case (_, .start):
            return .refused(.notRunning(state))
        case (.running, .restart(.respawn, _)):
            return .refused(.restartFailed("the embedded backend restarts warm or cold, not by respawning"))
        case (.running, .restart(let kind, let reason)):
            state = .restarting(kind)
            return .publish(reason.map { .restarting(kind: kind, reason: $0, why: RecoveryPlan.requestedWhy) })
        case (_, .restart):
            return .refused(.notRunning(state))
        case (.failed, .recover(let kind)):
            state = .restarting(kind)
            return .publish(nil)
        case (_, .recover):
            return .refused(.notRunning(state))
        // The ones below are always allowed: they report what has happened. A health
        // check that succeeded makes the sidecar running whatever came meanwhile, as a
        // failed restart puts back the generation that never stopped serving.
        case (_, .healthy(let generation)):
            state = .running(generation: generation)
            return .publish(.healthy(generation: generation))
        case (_, .restartFailed(let kind, let error, let generation)):
            state = .running(generation: generation)
            return .publish(.restartFailed(kind: kind, error: error))
        case (_, .failed(let message)):
            state = .failed(message)
            return .publish(.failed(error: message))
        case (_, .stop):
            state = .stopping
            return .publish(.stopping)
        case (_, .stopped(let clean, let detail)):
            state = .stopped
            return .publish(.stopped(clean: clean, detail: detail))
        case (_, .stopTimedOut(let detail)):
            state = .failed("shutdown timed out")
            return .publish(.stopped(clean: false, detail: detail))
        }
    }
}
