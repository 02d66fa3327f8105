import CSpawn
#if canImport(Glibc)
import Glibc
#endif

/// A POSIX thread for work that must own one: the interpreter's life, which CPython
/// ties to the thread that initialized it. Unlike Foundation's `Thread`, it can be
/// joined, so the caller knows the thread's thread-local destructors have run.
enum OwnThread {
    /// Runs `body` on a new thread and waits for that thread to end.
    static func run<T: Sendable>(name: String, stackSize: Int = 0, _ body: @escaping @Sendable () -> T) -> T {
        let box = Box(body)
        let thread = spawn(name: name, stackSize: stackSize, box: box)
        pthread_join(thread, nil)
        return box.result!
    }

    /// Starts `body` on a new thread and returns at once.
    static func detach(name: String, stackSize: Int = 0, _ body: @escaping @Sendable () -> Void) {
        let thread = spawn(name: name, stackSize: stackSize, box: Box(body))
        pthread_detach(thread)
    }

    private final class Box<T>: @unchecked Sendable {
        let body: () -> T
        /// Written by the thread before it ends, read after `pthread_join`.
        var result: T?
        init(_ body: @escaping () -> T) { self.body = body }
    }

    private static func spawn<T>(name: String, stackSize: Int, box: Box<T>) -> pthread_t {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if stackSize > 0 { pthread_attr_setstacksize(&attributes, stackSize) }
        let context = Unmanaged.passRetained(Start(name: name) { box.result = box.body() }).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, &attributes, { context in
            let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
            cagent_name_thread(start.name)
            start.work()
            return nil
        }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        return thread
    }

    private final class Start {
        let name: String
        let work: () -> Void
        init(name: String, work: @escaping () -> Void) {
            self.name = name
            self.work = work
        }
    }
}
