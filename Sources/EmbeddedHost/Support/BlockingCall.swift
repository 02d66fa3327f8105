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
        let once = ResumeOnce<T?>()
        return await withCheckedContinuation { continuation in
            once.set(continuation)
            let thread = HostThread { once.resume(work()) }
            thread.name = "cagent-blocking"
            thread.start()
            Task {
                try? await Task.sleep(for: timeout)
                once.resume(nil)
            }
        }
    }
}

/// A continuation resumed by whichever of several racers comes first.
final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, Never>?>(nil)

    func set(_ value: CheckedContinuation<T, Never>) {
        continuation.withLock { $0 = value }
    }

    func resume(_ value: T) {
        continuation.withLock { slot in
            let taken = slot
            slot = nil
            return taken
        }?.resume(returning: value)
    }
}
