import Bridge
import CPython
import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Everything the watchdog may touch of the interpreter thread, and how safely.
///
/// Four kinds of access, each with its own rule:
/// - GIL-free atomics (heartbeat acknowledgements, whether the loop is serving, how many
///   commands it took), read by the watchdog thread at any time;
/// - heartbeats, sent without the GIL: the heartbeat's sequence number written to a pipe
///   the loop watches (`Controller.watch_heartbeats`), acknowledged by the loop when it
///   reads it. Taking the GIL for each one cost the loop under load: a thread waiting for
///   the GIL is woken by every release the loop makes around its I/O and loses the race
///   again (~500 wake-ups a second measured, HTTP throughput -6 %);
/// - signals to the interpreter thread and stack dumps, which need no GIL but must not
///   race `Py_FinalizeEx`: both happen under `live`'s lock, which the interpreter thread
///   clears (waiting for a dump in progress) before it finalizes;
/// - Python calls (read the current run during a stall), made only on the
///   ``GILProber``'s thread, which may wait for the GIL forever without harm.
final class InterpreterLink: Sendable {
    /// Signals the Python half installs handlers for (cagent_host/watchdog.py).
    static let interruptSignal = SIGUSR1
    static let abortSignal = SIGUSR2

    /// The serving generation's Controller; GIL to use.
    private struct Handles: @unchecked Sendable {
        var controller: PythonObject
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
    /// Whether the serving generation's loop reads the heartbeat pipe: a loop that does
    /// not is never watched (it would look stalled).
    private let heartbeatsWatched = Atomic<Bool>(false)
    /// Heartbeats: 8-byte little-endian sequence numbers, written by the watchdog,
    /// read by the loop.
    private let beats = LoopPipe()

    // MARK: - Interpreter thread side

    /// The interpreter thread, once Python's signal handlers are installed on it.
    func setLive(_ thread: pthread_t) {
        live.withLock { $0 = thread }
    }

    /// GIL held (loop thread, from the "controller" notification): the generation's loop
    /// starts reading the heartbeats. Throws when it cannot; that loop is not watched.
    func attach(controller: PythonObject) throws {
        handles.withLock { $0 = Handles(controller: controller) }
        heartbeatsWatched.store(false, ordering: .releasing)
        beats.drain()  // a previous generation's
        let acknowledge = PythonObject.function(name: "cagent_heartbeat") { [self] arguments in
            if let first = arguments.first, case .integer(let sequence)? = try? JSON(python: first) {
                acknowledged.max(sequence, ordering: .releasing)
            }
            return PythonObject.none
        }
        _ = try controller.callMethod("watch_heartbeats", [PythonObject.integer(Int(beats.readDescriptor)), acknowledge])
        heartbeatsWatched.store(true, ordering: .releasing)
    }

    /// The generation serves: the watchdog may watch it from now on, if its loop reads
    /// the heartbeats.
    func startWatching() {
        watchable.store(heartbeatsWatched.load(ordering: .acquiring), ordering: .releasing)
    }

    /// GIL held, before `Py_FinalizeEx`: no more signals, dumps or Python calls.
    func detach() {
        watchable.store(false, ordering: .releasing)
        heartbeatsWatched.store(false, ordering: .releasing)
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
    func take(_ what: String) -> JSON {
        arming.withLock { arming in
            switch HostAsk(rawValue: what) {
            case .interrupt?:
                defer { arming.interrupt = nil }
                return arming.interrupt.map { .string($0) } ?? .null
            case .abort?:
                defer { arming.abort = false }
                return .bool(arming.abort)
            case nil:
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
            return StackDump.capture(interpreterThread: thread, temporaryDirectory: FileManager.default.temporaryDirectory.path)
        }
    }

    /// Sends heartbeat `sequence` to the loop; no GIL, never blocks. False only when the
    /// pipe refused it for another reason than being full (a full pipe holds unread
    /// heartbeats: the loop is not reading, which is what the watchdog measures).
    func sendHeartbeat(_ sequence: Int) -> Bool {
        var bytes = Int64(sequence).littleEndian
        return withUnsafeBytes(of: &bytes) { beats.send($0) }
    }

    /// The agent and request id executing on the loop. Prober thread only.
    func currentRun() -> (agent: String?, requestID: String?) {
        GIL.withLockIfAvailable { () -> (String?, String?) in
            guard let handles = handles.withLock({ $0 }),
                  let result = try? handles.controller.callMethod("current_run", []),
                  case .object(let object)? = try? JSON(python: result)
            else { return (nil, nil) }
            return (object["agent"]?.stringValue, object["request_id"]?.stringValue)
        } ?? (nil, nil)
    }
}
