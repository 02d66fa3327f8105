/// The decisions of an ``InterpreterThread``, as one state machine: which interpreter
/// comes next, when a loop serves again in the same interpreter, when the thread waits
/// to be told, when it finalizes and when it ends.
///
/// A value with one transition, ``next(_:)``: the thread reports what happened (an
/// ``Event``) and performs the ``Action`` it gets back (start an interpreter, serve,
/// wait, finalize, end). Nothing here touches Python, threads or files, so every path
/// is tested without an interpreter (`InterpreterThreadStateTests`).
///
/// ```
/// idle → initializing(1) → serving(g) → finalizing → initializing(g + 1)   (cold restart)
/// serving(g) → serving(g)                       (warm recovery, or a cold restart refused)
/// serving(g) → awaitingRecovery(g) → serving | finalizing      (its loop ended by itself)
/// initializing | serving | finalizing → ended(exit)
/// ```
///
/// `g` is the *service generation*: 1 for the service a start brings up, one more for
/// each cold restart (a new interpreter); a warm restart keeps it. It is what the
/// sidecar's `running(generation:)` and its `healthy` events carry. The *interpreter
/// generation* (`PythonInterpreter.generation`, 1-based too) counts the interpreters of
/// the whole process instead, and names the folders of extension copies.
struct InterpreterThreadState: Sendable, Equatable {
    typealias Exit = InterpreterThread.Exit
    typealias Recovery = InterpreterThread.Recovery

    enum State: Sendable, Equatable {
        /// The thread has not started.
        case idle
        /// A new interpreter is being initialized on a thread of its own.
        case initializing(serviceGeneration: Int)
        /// Its loop runs (the service imported anew when the interpreter served before).
        case serving(serviceGeneration: Int)
        /// The loop of a generation that served ended by itself: the interpreter is kept
        /// until the thread is told (``Recovery``). What the interpreter held then is kept
        /// too, for the decision.
        case awaitingRecovery(serviceGeneration: Int, loop: LoopEnd)
        /// Finalizing, or leaving the interpreter unfinalized; then `end`.
        case finalizing(serviceGeneration: Int, end: LifeEnd)
        /// The thread's work is over.
        case ended(Exit)
    }

    /// What a run of the loop ended with, and what the interpreter still runs then.
    struct LoopEnd: Sendable, Equatable {
        /// The runner's answer: the command that ended it, or why it failed.
        var outcome: Outcome
        /// Whether this run announced "serving" (a failure after that is a crash of a
        /// serving loop, before it a failed start).
        var served: Bool
        /// Non-daemon threads: `Py_FinalizeEx` would wait for them forever.
        var blockers: [String]
        /// Daemon threads a finalization would leave running.
        var abandoned: [String]

        enum Outcome: Sendable, Equatable {
            case command(HostCommand)
            case failed(String)
        }
    }

    /// How one interpreter's life ended.
    enum LifeEnd: Sendable, Equatable {
        /// Finalized for a cold restart: the next interpreter follows.
        case coldRestart(abandoned: [String])
        /// Finalized: the thread's work is over.
        case exited(Exit, abandoned: [String])
        /// Never initialized, or not finalized (threads it would wait for): what it
        /// allocated and loaded may still be in use.
        case notFinalized(Exit)

        var finalized: Bool {
            if case .notFinalized = self { false } else { true }
        }

        /// Daemon threads the finalized interpreter left running.
        var abandoned: [String] {
            switch self {
            case .coldRestart(let threads), .exited(_, let threads): threads
            case .notFinalized: []
            }
        }
    }

    enum Event: Sendable, Equatable {
        /// The coordinating thread runs.
        case started
        /// `Py_InitializeFromConfig` returned; `error` when it failed.
        case initialized(error: String?)
        /// A run of the loop ended (`runner.run` returned or raised).
        case loopEnded(LoopEnd)
        /// The sidecar's decision for a loop that ended by itself.
        case recovery(Recovery)
        /// The interpreter's thread has ended (joined) and what it left is released.
        case interpreterEnded(LifeEnd)
    }

    enum Action: Sendable, Equatable {
        /// Start a new interpreter, on a thread of its own.
        case startInterpreter(serviceGeneration: Int)
        /// Run the loop; `reimport`: in an interpreter that served already.
        /// `refusedColdRestart`: report first that a cold restart was asked for and
        /// could not be done (these reasons), which is why this is a warm one.
        case serve(serviceGeneration: Int, reimport: Bool, refusedColdRestart: [String]? = nil)
        /// Report that the loop ended by itself (`error`) and wait to be told.
        case awaitRecovery(error: String)
        /// Finalize the interpreter and end its thread with `end`. `finishCopies`: the
        /// extension copies made ahead are for the next interpreter (cold restart): let
        /// the copy in progress finish rather than cancel it.
        case finalize(finishCopies: Bool, end: LifeEnd)
        /// End the interpreter's thread without finalizing (`Py_FinalizeEx` would wait
        /// for threads forever, or the interpreter never initialized).
        case leaveUnfinalized(Exit)
        /// Report the thread's end and return.
        case exit(Exit)
    }

    private(set) var state: State = .idle

    /// The one transition: where `event` leads from here, and what the thread does.
    mutating func next(_ event: Event) -> Action {
        switch (state, event) {
        case (.idle, .started):
            return startInterpreter(serviceGeneration: 1)
        case (.initializing(let generation), .initialized(nil)):
            state = .serving(serviceGeneration: generation)
            return .serve(serviceGeneration: generation, reimport: false)
        case (.initializing(let generation), .initialized(let error?)):
            return leaveUnfinalized(generation, .failed("cannot initialize the interpreter: \(error)"))
        case (.serving(let generation), .loopEnded(let loop)):
            if case .failed(let error) = loop.outcome, loop.served {
                // A loop that served and then ended by itself leaves a sound interpreter:
                // the sidecar decides (warm first; cold when that fails).
                state = .awaitingRecovery(serviceGeneration: generation, loop: loop)
                return .awaitRecovery(error: error)
            }
            return endOfLoop(generation, loop)
        case (.awaitingRecovery(let generation, var loop), .recovery(let recovery)):
            switch recovery {
            case .warm:
                state = .serving(serviceGeneration: generation)
                return .serve(serviceGeneration: generation, reimport: true)
            case .cold:
                loop.outcome = .command(.cold)
            case .stop:
                loop.outcome = .command(.stop)
            }
            return endOfLoop(generation, loop)
        case (.finalizing(let generation, .coldRestart), .interpreterEnded(.coldRestart)):
            return startInterpreter(serviceGeneration: generation + 1)
        case (.finalizing, .interpreterEnded(.exited(let exit, _))),
             (.finalizing, .interpreterEnded(.notFinalized(let exit))):
            state = .ended(exit)
            return .exit(exit)
        default:
            // The thread reports only what its last action leads to: anything else is a
            // bug in the thread's code, not a condition to handle.
            preconditionFailure("interpreter thread: \(event) in state \(state)")
        }
    }

    private mutating func startInterpreter(serviceGeneration: Int) -> Action {
        state = .initializing(serviceGeneration: serviceGeneration)
        return .startInterpreter(serviceGeneration: serviceGeneration)
    }

    private mutating func leaveUnfinalized(_ generation: Int, _ exit: Exit) -> Action {
        state = .finalizing(serviceGeneration: generation, end: .notFinalized(exit))
        return .leaveUnfinalized(exit)
    }

    /// A loop that ended with `loop.outcome` and will not serve again unless a cold
    /// restart cannot finalize.
    private mutating func endOfLoop(_ generation: Int, _ loop: LoopEnd) -> Action {
        let cold = loop.outcome == .command(.cold)
        if !loop.blockers.isEmpty {
            if cold {
                // Finalizing would wait for these threads forever: keep this interpreter
                // and serve again with the service imported anew.
                state = .serving(serviceGeneration: generation)
                return .serve(
                    serviceGeneration: generation, reimport: true,
                    refusedColdRestart: loop.blockers.map { "non-daemon thread '\($0)' is still running" })
            }
            var error: String?
            if case .failed(let failure) = loop.outcome { error = failure }
            return leaveUnfinalized(generation, .finalizeSkipped(threads: loop.blockers, error: error))
        }
        let end: LifeEnd
        switch loop.outcome {
        case .command(.cold): end = .coldRestart(abandoned: loop.abandoned)
        case .command: end = .exited(.stopped, abandoned: loop.abandoned)
        case .failed(let error): end = .exited(.failed(error), abandoned: loop.abandoned)
        }
        state = .finalizing(serviceGeneration: generation, end: end)
        return .finalize(finishCopies: cold, end: end)
    }
}
