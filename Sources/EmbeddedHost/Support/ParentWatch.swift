import CSpawn
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Notices that the process which started this one has ended, however it ended: what
/// `cagent-sidecar run --exit-with-parent` stops on, so that a host started by an app
/// (an Electron or Tauri main process) does not serve forever, re-parented to PID 1,
/// after the app was SIGKILLed.
///
/// Two ways, for the two things an app can give its child:
/// - **the death signal** (Linux): ``armDeathSignal(_:)`` asks the kernel to send a
///   signal when the parent ends, then checks the parent is still the one recorded (it
///   may have ended before the signal was armed: then nobody would send it). The kernel
///   means the parent *thread* that forked this process: an app that spawns from a
///   thread that later exits (while the app lives) stops the host too.
/// - **end of file on standard input**, when it is a pipe or FIFO the app holds open:
///   the kernel closes the app's end whatever ends it. Works on every system; a TTY or
///   /dev/null is not watched (neither ends with the app).
public struct ParentWatch: Sendable {
    /// The parent when this was made: make it first thing in `main`, before the parent
    /// has had time to end.
    public let parent: pid_t

    public init() {
        parent = getppid()
    }

    public enum Arming: Sendable, Equatable {
        /// The signal is armed and the parent is still there.
        case armed
        /// The parent had already ended: this process was re-parented (to `now`).
        case parentGone(now: pid_t)
        /// No death signal here (not Linux), or prctl failed: only standard input is left.
        case unavailable(String)
    }

    /// Arms `signal` (one the host handles as a graceful stop) for the parent's end.
    public func armDeathSignal(_ signal: Int32) -> Arming {
        switch cagent_set_parent_death_signal(signal, parent) {
        case 1: .armed
        case 0: .parentGone(now: getppid())
        default: .unavailable(String(cString: strerror(errno)))
        }
    }

    /// Whether the parent recorded at ``init()`` is still this process's parent.
    public var parentIsAlive: Bool { getppid() == parent }

    /// Standard input is a pipe or a FIFO (not a TTY, a file or /dev/null).
    public static var standardInputIsPipe: Bool {
        var status = stat()
        guard fstat(STDIN_FILENO, &status) == 0 else { return false }
        return status.st_mode & S_IFMT == S_IFIFO
    }

    /// Returns when standard input reaches end of file (what is read is discarded), with
    /// how it ended; nil when the waiting task is cancelled first. Only call it when
    /// ``standardInputIsPipe``. The reading thread stays blocked after a cancellation (a
    /// blocking read cannot be cancelled); it ends with the process.
    public static func standardInputClosed() async -> String? {
        let closed = Once<String>()
        let reader = HostThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if count > 0 { continue }
                if count < 0 && errno == EINTR { continue }
                closed.fire(count == 0 ? "end of file on standard input" : "standard input failed: \(String(cString: strerror(errno)))")
                return
            }
        }
        reader.name = "cagent-stdin-watch"
        reader.start()
        return await closed.wait()
    }
}
