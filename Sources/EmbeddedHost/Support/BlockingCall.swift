import FoundationEssentials
import Synchronization

/// Runs blocking work (POSIX I/O, taking the GIL) on a thread of its own, so the
/// cooperative pool of Swift concurrency never blocks.
public enum BlockingCall {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = HostThread { continuation.resume(returning: work()) }
            thread.name = "cagent-blocking"
            thread.start()
        }
    }

    /// Like ``run(_:)``, but stops waiting after `timeout` and returns nil. The work
    /// itself goes on (a thread blocked in C, or waiting for a GIL that never comes
    /// back, cannot be cancelled); its result is then dropped.
    public static func run<T: Sendable>(timeout: Duration, _ work: @escaping @Sendable () -> T) async -> T? {
        let answer = Once<T>()
        let thread = HostThread { answer.fire(work()) }
        thread.name = "cagent-blocking"
        thread.start()
        guard await answer.wait(upTo: timeout) else { return nil }
        return answer.value
    }
}
