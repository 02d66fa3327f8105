import CPython

/// An owned strong reference to a Python object: exactly one `Py_DECREF` per instance,
/// done when the instance is deinitialized.
///
/// `@unchecked Sendable` because the pointer is only dereferenced with the GIL held: the
/// helpers require the caller to hold it (asserted in debug builds) and `deinit` takes it
/// itself. Moving the reference between threads is therefore safe.
///
/// Interpreter generations: an instance remembers `PythonInterpreter.generation` at creation.
/// If that interpreter has been finalized (or is being finalized and this thread does not
/// hold the GIL) when the instance dies, the reference is deliberately leaked — decref'ing it
/// would write into freed memory or into a different, newer interpreter. Leaking a few
/// objects of a dead interpreter costs nothing that finalization did not already free.
public final class PythonObject: @unchecked Sendable {
    /// The owned reference. Valid while this instance lives and its generation is current.
    /// Borrow it for C calls; never decref it yourself.
    ///
    /// Lifetime pitfall: Swift may release an object right after its last use, and reading
    /// `.pointer` can be that last use — `PyFoo(PythonObject.string("x").pointer)` can pass a
    /// freed object. Keep the instance alive across the C call (`withExtendedLifetime`, or
    /// `defer { keepAlive(x) }`), or pass the `PythonObject` itself as a parameter.
    public let pointer: UnsafeMutablePointer<PyObject>

    /// The interpreter generation this reference belongs to.
    public let generation: UInt64

    /// Takes ownership of a new reference (steals it): the caller must not decref it.
    public init(owning pointer: UnsafeMutablePointer<PyObject>) {
        self.pointer = pointer
        self.generation = RuntimeState.currentGeneration
    }

    /// Takes a new strong reference to a borrowed one (increfs). GIL held by the caller.
    public convenience init(borrowing pointer: UnsafeMutablePointer<PyObject>) {
        assertGILHeld()
        Py_IncRef(pointer)
        self.init(owning: pointer)
    }

    deinit {
        guard let ticket = RuntimeState.enter(generation: generation) else {
            return  // interpreter gone or going: leak on purpose (see type documentation)
        }
        switch ticket {
        case .alreadyHeld:
            Py_DecRef(pointer)
        case .counted:
            let gilState = PyGILState_Ensure()
            Py_DecRef(pointer)
            PyGILState_Release(gilState)
            RuntimeState.leave(ticket)
        }
    }

    /// Whether this reference belongs to the running interpreter generation.
    public var isAlive: Bool {
        generation == RuntimeState.currentGeneration && RuntimeState.isRunning
    }

    /// A new reference to the same object, for C functions that steal one
    /// (e.g. `PyTuple_SetItem`, `PyList_SetItem`). GIL held by the caller.
    public func newReference() -> UnsafeMutablePointer<PyObject> {
        assertGILHeld()
        Py_IncRef(pointer)
        return pointer
    }

    /// `sys.getrefcount`-style count (without the call's own temporary). GIL held by the
    /// caller. For diagnostics and tests.
    public var referenceCount: Int {
        assertGILHeld()
        return cagent_RefCount(pointer)
    }
}

/// Keeps `objects` alive up to this point; use in a `defer` around C calls that take
/// `.pointer` of a local `PythonObject`.
@inline(never)
public func keepAlive(_ objects: PythonObject...) {
    withExtendedLifetime(objects) {}
}
