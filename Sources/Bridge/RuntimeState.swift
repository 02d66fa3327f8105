import CPython
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The Bridge's mirror of the process-global CPython runtime.
///
/// CPython has exactly one runtime per process (`_PyRuntime`), so this is the one global
/// the Bridge keeps. It answers, without touching Python, "may this thread enter the
/// interpreter now?" — the question a `PythonObject` deinit on an arbitrary thread, or a
/// watchdog racing a shutdown, must ask before calling `PyGILState_Ensure` (which crashes or
/// hangs on a finalized runtime).
///
/// Phases: `stopped` → (initialize) → `running` → (finalize begins) `draining` → (every
/// counted GIL scope has left) `finalizing` (inside `Py_FinalizeEx`) → `stopped`, with the
/// generation incremented. While draining, only threads that already hold the GIL may touch
/// Python (the runtime is certainly alive: the finalizing thread cannot proceed without the
/// GIL), so the wait for counted scopes always ends.
enum RuntimeState {
    enum Phase: Sendable, Equatable {
        case stopped
        case running
        case draining
        case finalizing
    }

    /// The thread that initialized and the thread state it saved when releasing the GIL.
    struct Owner: @unchecked Sendable {
        // Only dereferenced by CPython on the owning thread (PyEval_RestoreThread).
        let threadState: UnsafeMutablePointer<PyThreadState>
        let thread: pthread_t
    }

    struct State: Sendable {
        var phase: Phase = .stopped
        /// GIL scopes entered through `enter()` and not yet left.
        var activeScopes = 0
        var owner: Owner?
        /// Set when `Py_InitializeFromConfig` failed: CPython is then left half-initialized
        /// and a second attempt in the same process fails with an unrelated-looking error
        /// ("error reading frozen getpath.py", measured), so further attempts are refused.
        var failedInitialization: String?
    }

    static let state = Mutex(State())

    /// Incremented (under `state`'s lock) each time an interpreter generation is finalized.
    /// Kept atomic as well so creating a `PythonObject` reads it without taking the lock.
    /// 1-based: the first interpreter is generation 1.
    static let generation = Atomic<UInt64>(1)

    /// How a thread was let in; pass it back to `leave(_:)`.
    enum Ticket {
        /// Counted scope: the caller must `PyGILState_Ensure`/`Release` and then `leave`.
        case counted
        /// The thread already holds the GIL while finalization is under way: use Python
        /// directly, no `PyGILState_Ensure` and nothing to `leave`.
        case alreadyHeld
    }

    /// Asks to touch Python from this thread. `nil`: the interpreter is not (or no longer)
    /// usable from here. `generation`: when given, also refuse if the current generation
    /// differs (an object from an earlier interpreter).
    static func enter(generation expected: UInt64? = nil) -> Ticket? {
        state.withLock { state -> Ticket? in
            if let expected, expected != generation.load(ordering: .relaxed) { return nil }
            switch state.phase {
            case .running:
                state.activeScopes += 1
                return .counted
            case .draining:
                // Reliable here: the runtime is fully alive until Py_FinalizeEx starts.
                return PyGILState_Check() == 1 ? .alreadyHeld : nil
            case .stopped, .finalizing:
                // Inside Py_FinalizeEx the GIL-state machinery is being torn down and
                // PyGILState_Check stops being trustworthy: refuse; callers leak.
                return nil
            }
        }
    }

    static func leave(_ ticket: Ticket) {
        guard case .counted = ticket else { return }
        state.withLock { $0.activeScopes -= 1 }
    }

    static var currentGeneration: UInt64 { generation.load(ordering: .acquiring) }

    static var isRunning: Bool { state.withLock { $0.phase == .running } }
}
