import CSpawn
#if canImport(Glibc)
import Glibc
#endif

/// A detached POSIX thread with a name and a stack size: what the host needed of
/// Foundation's `Thread`, without linking Foundation (and its ICU data) into the binary.
///
/// Same shape as `Thread` (`HostThread { ... }`, `name`, `stackSize`, `start()`), so
/// callers read the same. Not thread-safe before `start()`: configure, then start once.
final class HostThread: @unchecked Sendable {
    /// Shown by `ps -T`, `top -H` and debuggers; Linux keeps at most 15 bytes of it.
    var name: String?
    /// Bytes; 0 keeps the process default (`ulimit -s`, usually 8 MiB of address space,
    /// of which only the pages touched become resident).
    var stackSize: Int = 0
    private let body: @Sendable () -> Void

    init(block: @escaping @Sendable () -> Void) {
        self.body = block
    }

    convenience init(_ block: @escaping @Sendable () -> Void) {
        self.init(block: block)
    }

    /// Starts the thread, detached. A thread that cannot be created is a programming or
    /// resource error the host cannot go on without (Foundation's `Thread` traps too).
    func start() {
        let body = self.body
        _ = Self.create(name: name, stackSize: stackSize, detached: true) { body() }
    }

    /// A new thread running `work`; traps when it cannot be created.
    fileprivate static func create(name: String?, stackSize: Int, detached: Bool, work: @escaping () -> Void) -> pthread_t {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        if stackSize > 0 {
            let status = pthread_attr_setstacksize(&attributes, stackSize)
            precondition(status == 0, "HostThread: stack size \(stackSize) refused: \(String(cString: strerror(status)))")
        }
        let context = Unmanaged.passRetained(Context(name: name, work: work)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, &attributes, { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            if let name = context.name { _ = cagent_set_thread_name(name) }
            context.work()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Context>.fromOpaque(context).release()
            fatalError("HostThread: pthread_create failed: \(String(cString: strerror(status)))")
        }
        return thread
    }

    /// Blocks the calling thread for `seconds` (interrupted sleeps resume).
    static func sleep(forTimeInterval seconds: Double) {
        guard seconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR {
            request = remaining
        }
    }

    /// What a new thread is handed.
    private final class Context: @unchecked Sendable {
        let name: String?
        let work: () -> Void
        init(name: String?, work: @escaping () -> Void) {
            self.name = name
            self.work = work
        }
    }
}

extension HostThread {
    /// Runs `body` on a new, joinable thread and waits for that thread to end: the caller
    /// knows its thread-local destructors have run (the interpreter's life: an extension
    /// module's Rust destructors run there, before its code may be unloaded).
    static func run<T: Sendable>(name: String, stackSize: Int = 0, _ body: @escaping @Sendable () -> T) -> T {
        let result = JoinedResult<T>()
        let thread = create(name: name, stackSize: stackSize, detached: false) { result.value = body() }
        pthread_join(thread, nil)
        return result.value!
    }
}

/// A joined thread's result: written by the thread before it ends, read after `pthread_join`.
private final class JoinedResult<T>: @unchecked Sendable {
    var value: T?
}
