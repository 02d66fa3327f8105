import Bridge
import CPython
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Everything the watchdog may touch of the interpreter thread, and how safely.
///
/// Three kinds of access, each with its own rule:
/// - GIL-free atomics (heartbeat acknowledgements, whether the loop is serving, how many
///   commands it took), read by the watchdog thread at any time;
/// - signals to the interpreter thread and stack dumps, which need no GIL but must not
///   race `Py_FinalizeEx`: both happen under `live`'s lock, which the interpreter thread
///   clears (waiting for a dump in progress) before it finalizes;
/// - Python calls (schedule a heartbeat, read the current run), made only on the
///   ``GILProber``'s thread, which may wait for the GIL forever without harm.
final class InterpreterLink: Sendable {
    /// Signals the Python half installs handlers for (cagent_host/watchdog.py).
    static let interruptSignal = SIGUSR1
    static let abortSignal = SIGUSR2

    /// The serving generation's Controller and the heartbeat callback; GIL to use.
    private struct Handles: @unchecked Sendable {
        var controller: PythonObject
        var beat: PythonObject
    }

    private struct Arming {
        /// A request id to interrupt ("" for any run), or nil.
        var interrupt: String?
        var abort = false
    }

    private let handles = Mutex<Handles?>(nil)
    private let live = Mutex<pthread_t?>(nil)
    private let arming = Mutex(Arming())
    /// The highest heartbeat sequence the loop has run.
    let acknowledged = Atomic<Int>(0)
    /// True from "serving" until the loop takes its next command: the watchdog watches
    /// only then (imports during a restart legitimately hold the loop).
    let watchable = Atomic<Bool>(false)
    /// Commands the loop has taken from its queue, ever.
    let commandsTaken = Atomic<Int>(0)

    // MARK: - Interpreter thread side

    /// The interpreter thread, once Python's signal handlers are installed on it.
    func setLive(_ thread: pthread_t) {
        live.withLock { $0 = thread }
    }

    /// GIL held (interpreter thread, from the "controller" notification).
    func attach(controller: PythonObject) {
        let beat = PythonObject.function(name: "cagent_heartbeat") { [self] arguments in
            if let first = arguments.first, case .integer(let sequence)? = try? JSONValue(python: first) {
                acknowledged.store(sequence, ordering: .releasing)
            }
            return PythonObject.none
        }
        handles.withLock { $0 = Handles(controller: controller, beat: beat) }
    }

    /// GIL held, before `Py_FinalizeEx`: no more signals, dumps or Python calls.
    func detach() {
        watchable.store(false, ordering: .releasing)
        let old = handles.withLock { handles in
            defer { handles = nil }
            return handles
        }
        _ = old  // released here, with the GIL held
        live.withLock { $0 = nil }
        arming.withLock { $0 = Arming() }
    }

    /// The Python half's `ask`: what the host armed, disarming it. Interpreter thread,
    /// inside a signal handler.
    func take(_ what: String) -> JSONValue {
        arming.withLock { arming in
            switch what {
            case "interrupt":
                defer { arming.interrupt = nil }
                return arming.interrupt.map { .string($0) } ?? .null
            case "abort":
                defer { arming.abort = false }
                return .bool(arming.abort)
            default:
                return .null
            }
        }
    }

    // MARK: - Watchdog side

    func armInterrupt(requestID: String?) {
        arming.withLock { $0.interrupt = requestID ?? "" }
    }

    func armAbort() {
        arming.withLock { $0.abort = true }
    }

    func disarm() {
        arming.withLock { $0 = Arming() }
    }

    /// `pthread_kill` to the interpreter thread; false when no generation is live.
    @discardableResult
    func deliver(_ signal: Int32) -> Bool {
        live.withLock { thread in
            guard let thread else { return false }
            return pthread_kill(thread, signal) == 0
        }
    }

    /// Every Python thread's stack, without the GIL; "" when no generation is live.
    func dumpStacks() -> String {
        live.withLock { thread -> String in
            guard let thread else { return "" }
            return StackDump.capture(interpreterThread: thread)
        }
    }

    /// Schedules heartbeat `sequence` on the loop. Prober thread only: may wait for the GIL.
    func sendHeartbeat(_ sequence: Int) -> Bool {
        GIL.withLockIfAvailable { () -> Bool in
            guard let handles = handles.withLock({ $0 }) else { return false }
            return (try? handles.controller.callMethod("heartbeat", [handles.beat, .integer(sequence)])) != nil
        } ?? false
    }

    /// The agent and request id executing on the loop. Prober thread only.
    func currentRun() -> (agent: String?, requestID: String?) {
        GIL.withLockIfAvailable { () -> (String?, String?) in
            guard let handles = handles.withLock({ $0 }),
                  let result = try? handles.controller.callMethod("current_run", []),
                  case .object(let object)? = try? JSONValue(python: result)
            else { return (nil, nil) }
            return (object["agent"]?.stringValue, object["request_id"]?.stringValue)
        } ?? (nil, nil)
    }
}
