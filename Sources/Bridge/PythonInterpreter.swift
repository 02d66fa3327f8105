import CPython

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Start and stop the process's one CPython interpreter.
///
/// The thread that calls `initialize` owns the interpreter's life and must be the one that
/// calls `finalize` (docs/design.md, "Thread model"). Between the two, any thread may use Python
/// through `GIL.withLock`.
public enum PythonInterpreter {
    /// Whether an interpreter generation is up and accepting GIL scopes (`false` from the
    /// moment `finalize()` starts).
    public static var isInitialized: Bool { RuntimeState.isRunning }

    /// The current interpreter generation: 1 for the process's first interpreter,
    /// incremented by every `finalize()` (1-based like the host's service generation, so
    /// that a generation number means the same ordinal wherever it is shown). Mirrors the process-global CPython runtime, the one global the Bridge
    /// keeps. A `PythonObject` remembers the generation it was created in and is never
    /// decref'd into a later one (its pointer would be garbage there).
    public static var generation: UInt64 { RuntimeState.currentGeneration }

    /// Initializes CPython from `config`, then releases the GIL (`PyEval_SaveThread`) so other
    /// threads can take it; the saved thread state is kept for `finalize()`.
    ///
    /// `Py_InitializeFromConfig` returns holding the GIL; without releasing it every
    /// `PyGILState_Ensure` elsewhere would block forever (measured, docs/design.md).
    ///
    /// A failed initialization (e.g. a `pythonHome` without a standard library) cannot be
    /// retried in the same process — CPython stays half-initialized — so later calls throw
    /// at once. Validate paths before calling. CPython also prints its path configuration
    /// to stderr on such a failure.
    public static func initialize(_ config: InterpreterConfiguration) throws(PythonInitError) {
        let (alreadyUp, earlierFailure) = RuntimeState.state.withLock { state in
            (state.phase != .stopped, state.failedInitialization)
        }
        if alreadyUp || Py_IsInitialized() != 0 {
            throw PythonInitError(message: "an interpreter is already initialized in this process")
        }
        if let earlierFailure {
            throw PythonInitError(message: "an earlier initialization failed (\(earlierFailure)); CPython is left half-initialized and cannot be initialized again in this process: restart it")
        }

        var pyConfig = PyConfig()
        // One pointer for the whole configuration: passing `&pyConfig` and
        // `&pyConfig.field` to the same call is an exclusivity violation in Swift.
        let status: PyStatus = withUnsafeMutablePointer(to: &pyConfig) { cfg in
            if config.isolated {
                PyConfig_InitIsolatedConfig(cfg)
            } else {
                PyConfig_InitPythonConfig(cfg)
            }
            // PyConfig owns heap strings (wchar_t*) once set: always clear it.
            defer { PyConfig_Clear(cfg) }
            cfg.pointee.install_signal_handlers = config.installSignalHandlers ? 1 : 0

            if let programName = config.programName {
                let s = PyConfig_SetBytesString(cfg, &cfg.pointee.program_name, programName)
                if PyStatus_Exception(s) != 0 { return s }
            }
            if let home = config.pythonHome {
                let s = PyConfig_SetBytesString(cfg, &cfg.pointee.home, home)
                if PyStatus_Exception(s) != 0 { return s }
            }
            if let paths = config.moduleSearchPaths {
                let s = setModuleSearchPaths(cfg, paths)
                if PyStatus_Exception(s) != 0 { return s }
            }
            if !config.argv.isEmpty {
                let s = withCStringArray(config.argv) { argc, argv in
                    PyConfig_SetBytesArgv(cfg, argc, argv)
                }
                if PyStatus_Exception(s) != 0 { return s }
            }
            return Py_InitializeFromConfig(cfg)
        }
        if PyStatus_Exception(status) != 0 {
            let error = initError(from: status)
            RuntimeState.state.withLock { $0.failedInitialization = error.message }
            throw error
        }

        // GIL held, interpreter up, nothing else can run Python yet.
        if let failure = prependSearchPaths(config.extraSearchPaths) {
            _ = Py_FinalizeEx()
            RuntimeState.state.withLock { _ in
                _ = RuntimeState.generation.add(1, ordering: .releasing)
            }
            throw failure
        }

        guard let saved = PyEval_SaveThread() else {
            // Cannot happen after a successful init; never leave the GIL held silently.
            fatalError("PyEval_SaveThread returned NULL right after Py_InitializeFromConfig")
        }
        RuntimeState.state.withLock { state in
            state.owner = RuntimeState.Owner(threadState: saved, thread: pthread_self())
            state.activeScopes = 0
            state.phase = .running
        }
    }

    /// Finalizes the interpreter and returns `Py_FinalizeEx`'s status (0 on success).
    ///
    /// Must be called on the thread that called `initialize`, and not from inside a GIL scope.
    /// New GIL scopes from other threads are refused from the moment this starts
    /// (`GIL.withLock` traps, `GIL.withLockIfAvailable` returns nil, `PythonObject`s released
    /// elsewhere leak); scopes already inside are waited for. Returns 0 and does nothing when
    /// no interpreter is running.
    ///
    /// `Py_FinalizeEx` itself waits for non-daemon Python threads (`threading._shutdown`), so
    /// it can block forever on a stuck one: callers that must not hang should run it on a
    /// thread they can abandon.
    @discardableResult
    public static func finalize() -> Int32 {
        let owner: RuntimeState.Owner? = RuntimeState.state.withLock { state in
            guard state.phase == .running, let owner = state.owner else { return nil }
            precondition(
                pthread_equal(owner.thread, pthread_self()) != 0,
                "PythonInterpreter.finalize() must be called on the thread that initialized")
            state.phase = .draining
            return owner
        }
        guard let owner else { return 0 }

        // Wait for GIL scopes already admitted; new ones are refused while draining.
        while RuntimeState.state.withLock({ $0.activeScopes }) > 0 {
            usleep(1_000)
        }

        PyEval_RestoreThread(owner.threadState)
        RuntimeState.state.withLock { $0.phase = .finalizing }
        let status = Py_FinalizeEx()
        RuntimeState.state.withLock { state in
            RuntimeState.generation.add(1, ordering: .releasing)
            state.owner = nil
            state.phase = .stopped
        }
        return status
    }

    // MARK: - Helpers

    private static func initError(from status: PyStatus) -> PythonInitError {
        let function = status.`func`.map { String(cString: $0) }
        if PyStatus_IsExit(status) != 0 {
            return PythonInitError(
                message: "CPython asked to exit during initialization",
                function: function, exitCode: status.exitcode)
        }
        let message = status.err_msg.map { String(cString: $0) } ?? "unknown error"
        return PythonInitError(message: message, function: function)
    }

    /// `sys.path[0:0] = paths`. GIL held. Returns an error instead of throwing so the caller
    /// can finalize first.
    private static func prependSearchPaths(_ paths: [String]) -> PythonInitError? {
        guard !paths.isEmpty else { return nil }
        // Borrowed reference, owned by the sys module.
        guard let sysPath = PySys_GetObject("path"), cagent_List_Check(sysPath) != 0 else {
            PyErr_Clear()
            return PythonInitError(message: "sys.path is missing or not a list")
        }
        for (index, path) in paths.enumerated() {
            // Raw references here: the runtime is not yet marked running, so a PythonObject
            // released now would (correctly) refuse to decref and leak.
            guard let item = PyUnicode_FromString(path) else {  // new reference
                let error = PythonError.fetchOrUnknown(context: "PyUnicode_FromString")
                return PythonInitError(message: "cannot extend sys.path: \(error.typeName): \(error.message)")
            }
            defer { Py_DecRef(item) }
            if PyList_Insert(sysPath, index, item) != 0 {  // does not steal `item`
                let error = PythonError.fetchOrUnknown(context: "PyList_Insert(sys.path)")
                return PythonInitError(message: "cannot extend sys.path: \(error.typeName): \(error.message)")
            }
        }
        return nil
    }
}

/// Sets `PyConfig.module_search_paths` to `paths` and marks it set, so CPython's path
/// calculation keeps them as they are.
func setModuleSearchPaths(_ cfg: UnsafeMutablePointer<PyConfig>, _ paths: [String]) -> PyStatus {
    for path in paths {
        // Decoded from bytes as every other setting is: PyConfig_SetBytesString preinitializes
        // and decodes with the locale into a PyMem_RawMalloc'd string, owned here until freed;
        // the list keeps a copy.
        var wide: UnsafeMutablePointer<wchar_t>?
        defer { PyMem_RawFree(wide) }
        var s = PyConfig_SetBytesString(cfg, &wide, path)
        if PyStatus_Exception(s) != 0 { return s }
        s = PyWideStringList_Append(&cfg.pointee.module_search_paths, wide)
        if PyStatus_Exception(s) != 0 { return s }
    }
    cfg.pointee.module_search_paths_set = 1
    return PyStatus_Ok()
}

/// Calls `body` with a NULL-terminated `char *argv[]` built from `strings`, valid only
/// during the call.
func withCStringArray<R>(
    _ strings: [String],
    _ body: (Int, UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { buffer in
        body(strings.count, buffer.baseAddress!)
    }
}
