import Synchronization

/// Which embedded sidecar owns the process's one CPython runtime.
///
/// CPython keeps its runtime in process-global state, so this flag is global too:
/// it mirrors that fact rather than adding state of its own.
enum InterpreterOwnership {
    private static let owned = Mutex(false)

    static func claim() throws(SidecarError) {
        let claimed = owned.withLock { owned in
            if owned { return false }
            owned = true
            return true
        }
        if !claimed {
            throw .interpreterUnavailable(
                "another embedded sidecar owns this process's interpreter (or it could not be finalized); "
                    + "only one can run at a time")
        }
    }

    static func release() {
        owned.withLock { $0 = false }
    }
}
