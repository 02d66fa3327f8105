import CPython

/// Scopes in which the current thread holds Python's global interpreter lock.
///
/// Built on `PyGILState_Ensure`/`PyGILState_Release`, so scopes nest (reentrant) and work on
/// any thread, including threads Python has never seen (a thread state is created for them;
/// note it is destroyed again when the outermost scope ends, so Python `threading.local`
/// values do not survive between scopes on a thread Python did not create).
///
/// The body is synchronous on purpose: the GIL belongs to an OS thread, so it must never be
/// held across a suspension point, after which the task may resume on another thread.
/// Keep scopes short; the interpreter thread's event loop needs the GIL too.
public enum GIL {
    /// Runs `body` holding the GIL.
    ///
    /// Traps if no interpreter is running (a programming error: Python was used before
    /// `PythonInterpreter.initialize` or after `finalize` began). Code that can race a
    /// shutdown (watchdogs, health probes) should use `withLockIfAvailable` instead.
    public static func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard let ticket = RuntimeState.enter() else {
            preconditionFailure("GIL.withLock: no Python interpreter is running (not initialized, or finalizing)")
        }
        return try locked(ticket, body)
    }

    /// Runs `body` holding the GIL, or returns `nil` without running it when no interpreter
    /// is running (not yet initialized, or finalizing).
    public static func withLockIfAvailable<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T? {
        guard let ticket = RuntimeState.enter() else { return nil }
        return try locked(ticket, body)
    }

    /// Whether the current thread holds the GIL. Only meaningful while an interpreter is
    /// running (after finalization CPython's `PyGILState_Check` answers true everywhere).
    public static var isHeldByCurrentThread: Bool {
        RuntimeState.isRunning && PyGILState_Check() == 1
    }

    private static func locked<T, E: Error>(
        _ ticket: RuntimeState.Ticket, _ body: () throws(E) -> T
    ) throws(E) -> T {
        switch ticket {
        case .alreadyHeld:
            return try body()
        case .counted:
            let gilState = PyGILState_Ensure()
            defer {
                PyGILState_Release(gilState)
                RuntimeState.leave(ticket)
            }
            return try body()
        }
    }
}

/// Debug check for functions documented as "GIL held by the caller".
@inline(__always)
func assertGILHeld(_ function: StaticString = #function) {
    assert(PyGILState_Check() == 1, "\(function) requires the GIL (use GIL.withLock)")
}
