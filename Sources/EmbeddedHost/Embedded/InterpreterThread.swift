import Bridge
import FoundationEssentials
import Logging
import Loopback
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The interpreters of one embedded sidecar, each on a thread of its own.
///
/// A coordinating thread runs one interpreter after another (a cold restart is the
/// next one); each lives on a new joined thread (`HostThread.run`) that initializes
/// CPython, runs the service's event loop (`cagent_host.runner.run`) and finalizes,
/// all on itself (docs/design.md, the thread model). Once that thread has ended (its
/// thread-local destructors run), the interpreter's extension copies are unloaded and
/// its heap is given back (docs/restarts.md). Other threads reach the running loop only
/// through ``request(_:timeout:)``, which takes the GIL briefly to hand it a command.
final class InterpreterThread: Sendable {
    enum Event: Sendable {
        case serving(serviceGeneration: Int, restart: RestartKind?)
        case coldRestartRefused(reasons: [String])
        case warmRestartFailed(error: String)
        /// The service asked to be stopped (`POST /shutdown`); the host decides.
        case stopRequested(reason: String)
        /// The event loop of a serving generation ended by itself (an exception, or a
        /// `SystemExit` out of a loop callback). The interpreter is kept: the thread waits
        /// for ``recover(_:)``.
        case loopEnded(error: String)
        /// What a restart replaced is stopped and collected (after ``Command/retire``).
        case retired
        case exited(Exit)
    }

    /// What the thread does with an interpreter whose loop ended by itself.
    enum Recovery: Sendable {
        /// Serve again in the same interpreter, the service's modules imported anew.
        case warm
        /// Finalize, and serve from a new interpreter.
        case cold
        /// Finalize, and end.
        case stop
    }

    enum Exit: Sendable, Equatable {
        case stopped
        /// `Py_FinalizeEx` was not called: it would have waited forever for these
        /// threads. The interpreter stays initialized; no new one can start in this process.
        case finalizeSkipped(threads: [String], error: String?)
        case failed(String)
    }

    typealias Command = HostCommand

    struct Launch: Sendable {
        var runtime: PythonRuntime
        var listenDescriptor: Int32
        var logLevel: String
        var eventLoop: String
        var httpProtocol: String
        var shutdownTimeout: Duration
        var environment: [String: String]
        var extraUnsafeModules: [String]
        /// Per-generation copies of extension modules go below this folder.
        var copiesRoot: String
    }

    private let launch: Launch
    private let onEvent: @Sendable (Event) -> Void
    private let logger: Logger
    /// The `cagent_host.runner.Controller` of the running generation, if any.
    let controller = Mutex<PythonObject?>(nil)
    /// What the watchdog may touch of this thread (heartbeats, signals, stacks).
    let link = InterpreterLink()
    /// Direct calls from Swift to the running generation's loop.
    let directCalls = DirectCallQueue()
    private let precopy = ExtensionPrecopy()
    /// Whether the current run of the loop announced "serving" (a failure after that is
    /// a crash of a serving loop, before it a failed start).
    private let served = Atomic<Bool>(false)
    /// Set while the thread waits after a ``Event/loopEnded(error:)``.
    private let pendingRecovery = Mutex<Once<Recovery>?>(nil)
    /// Where the interpreters' lives are: read and advanced only by the thread that runs
    /// the interpreter at the time (``InterpreterThreadState``).
    private let lifecycle = Mutex(InterpreterThreadState())

    init(launch: Launch, logger: Logger, onEvent: @escaping @Sendable (Event) -> Void) {
        self.launch = launch
        self.logger = logger
        self.onEvent = onEvent
    }

    func start() {
        // Coordinates the interpreters; each runs on a thread of its own (main()).
        let thread = HostThread { [self] in main() }
        thread.name = "cagent-interpreters"
        thread.start()
    }

    /// Hands `command` to the running loop. Fails when no generation is serving or the
    /// GIL does not come back within `timeout` (the loop is wedged in C code).
    func request(_ command: Command, timeout: Duration) async throws(SidecarError) {
        let outcome: Result<Void, SidecarError>? = await BlockingCall.run(timeout: timeout) { [self] in
            // IfAvailable: this can race the interpreter thread finalizing.
            GIL.withLockIfAvailable { () -> Result<Void, SidecarError> in
                guard let controller = controller.withLock({ $0 }) else {
                    return .failure(.interpreterUnavailable("no service generation is running"))
                }
                do {
                    _ = try controller.callMethod("request", [PythonObject.string(command.rawValue)])
                    return .success(())
                } catch {
                    return .failure(.interpreterUnavailable("\(error)"))
                }
            } ?? .failure(.interpreterUnavailable("no interpreter is running"))
        }
        switch outcome {
        case .success?: return
        case .failure(let error)?: throw error
        case nil: throw .interpreterUnavailable("the GIL was not released within \(timeout)")
        }
    }

    private func main() {
        // Python normally ignores SIGPIPE itself, but only with its signal handlers
        // installed; the host installs none, so a write to a closed socket would kill
        // the process.
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        // The watchdog's signals: Python's handlers take them while a generation serves;
        // before and after (Py_FinalizeEx restores SIG_DFL, which would end the process)
        // a stray one must do nothing.
        ignoreWatchdogSignals()
        // This thread may have been spawned from a Dispatch worker (Swift concurrency's
        // pool), which blocks asynchronous signals; the mask is inherited, and a blocked
        // signal would wait forever instead of interrupting the stalled loop.
        var watchdogSignals = sigset_t()
        sigemptyset(&watchdogSignals)
        sigaddset(&watchdogSignals, InterpreterLink.interruptSignal)
        sigaddset(&watchdogSignals, InterpreterLink.abortSignal)
        pthread_sigmask(SIG_UNBLOCK, &watchdogSignals, nil)
        var action = transition(.started)
        while true {
            switch action {
            case .startInterpreter(let serviceGeneration):
                action = transition(.interpreterEnded(runInterpreter(serviceGeneration: serviceGeneration)))
            case .exit(let exit):
                onEvent(.exited(exit))
                return
            case .serve, .awaitRecovery, .finalize, .leaveUnfinalized:
                preconditionFailure("interpreter thread: \(action) is the interpreter's own thread's to perform")
            }
        }
    }

    /// The state machine's transition, on whichever thread runs the interpreter now (the
    /// coordinating one, or the interpreter's own while it lives).
    private func transition(_ event: InterpreterThreadState.Event) -> InterpreterThreadState.Action {
        lifecycle.withLock { $0.next(event) }
    }

    /// One interpreter on a new joined thread, then what it leaves released.
    private func runInterpreter(serviceGeneration: Int) -> LifeEnd {
        // Any interpreter after the process's first loads third-party extensions
        // from fresh copies (cagent_host/generation.py says why), whether it
        // follows a cold restart or an earlier stop and start.
        let interpreterGeneration = PythonInterpreter.generation
        let first = interpreterGeneration == 1
        let copies = first ? nil : copiesDirectory(interpreterGeneration)
        // Each interpreter lives on a thread of its own, which ends after
        // Py_FinalizeEx: the thread-local destructors that extension modules
        // registered on it run then, while their code is still mapped, and only
        // then can the copies be unloaded.
        let heap = first ? nil : GenerationHeap.install()
        if !first, heap == nil {
            logger.warning("cannot reserve a heap for this interpreter; what it leaves after finalization stays with the process")
        }
        let end = HostThread.run(name: "cagent-python", stackSize: Self.stackSize) { [self] in
            interpreterLife(serviceGeneration: serviceGeneration, copies: copies, first: first)
        }
        if !end.abandoned.isEmpty, heap != nil {
            logger.warning("keeping the memory of the finalized interpreter: daemon threads it abandoned may still wake up in it", metadata: ["threads": "\(end.abandoned)"])
        }
        // Only a generation that ran on its own heap can give its extension copies
        // back: the heap's release is what detaches them from libpython's types.
        if end.finalized, end.abandoned.isEmpty, let heap {
            heap.detach()
            // Nothing can call into them now: no interpreter, and the thread that
            // ran it has ended (its thread-local destructors ran).
            if let copies {
                let kept = ExtensionCopies.unload(below: copies)
                if !kept.isEmpty { logger.debug("extension copies that stay loaded", metadata: ["files": "\(kept)"]) }
            }
            heap.destroy()
        }
        if let copies { try? FileSystem.remove(copies) }
        return end
    }

    typealias LifeEnd = InterpreterThreadState.LifeEnd

    /// CPython's recursion limit assumes a main-thread-sized stack.
    private static let stackSize = 16 << 20

    /// One interpreter, on the calling thread: initialize, serve (again, when a cold
    /// restart had to keep it or the sidecar recovers it warm), finalize; the state
    /// machine decides which.
    private func interpreterLife(serviceGeneration: Int, copies: String?, first: Bool) -> LifeEnd {
        var action: InterpreterThreadState.Action
        do {
            try PythonInterpreter.initialize(configuration())
            action = transition(.initialized(error: nil))
        } catch {
            action = transition(.initialized(error: "\(error)"))
        }
        while true {
            switch action {
            case .serve(let serviceGeneration, let reimport, let refusedColdRestart):
                if let reasons = refusedColdRestart { onEvent(.coldRestartRefused(reasons: reasons)) }
                served.store(false, ordering: .relaxed)
                let outcome = serve(serviceGeneration: serviceGeneration, copiesDirectory: copies, reimport: reimport, first: first)
                // The loop has closed: calls it did not answer end now, not never.
                directCalls.closeInbox()
                let (blockers, abandoned) = GIL.withLock { () -> ([String], [String]) in
                    controller.withLock { $0 = nil }
                    // Waits for a stack dump in progress: none may run into Py_FinalizeEx.
                    link.detach()
                    GenerationHeap.noteStaticTypes()
                    return (threadNames("finalize_blockers"), threadNames("abandoned_threads"))
                }
                let ended: InterpreterThreadState.LoopEnd.Outcome
                switch outcome {
                case .success(let command): ended = .command(command)
                case .failure(let error): ended = .failed(error.description)
                }
                action = transition(.loopEnded(.init(
                    outcome: ended, served: served.load(ordering: .relaxed), blockers: blockers, abandoned: abandoned)))
            case .awaitRecovery(let error):
                let decision = Once<Recovery>()
                pendingRecovery.withLock { $0 = decision }
                onEvent(.loopEnded(error: error))
                let recovery = decision.waitBlocking()
                pendingRecovery.withLock { $0 = nil }
                action = transition(.recovery(recovery))
            case .leaveUnfinalized(let exit):
                if case .finalizeSkipped(let blockers, _) = exit {
                    logger.error("not finalizing the interpreter: non-daemon threads still running", metadata: ["threads": "\(blockers)"])
                    // Before the sidecar removes the copies folder, which it does on this event.
                    precopy.cancelAndWait()
                }
                return .notFinalized(exit)
            case .finalize(let finishCopies, let end):
                if finishCopies { precopy.waitUntilIdle() } else { precopy.cancelAndWait() }
                let status = PythonInterpreter.finalize()
                ignoreWatchdogSignals()
                if status != 0 { logger.warning("Py_FinalizeEx returned \(status)") }
                return end
            case .startInterpreter, .exit:
                preconditionFailure("interpreter thread: \(action) is the coordinating thread's to perform")
            }
        }
    }

    private func ignoreWatchdogSignals() {
        signal(InterpreterLink.interruptSignal, SIG_IGN)
        signal(InterpreterLink.abortSignal, SIG_IGN)
    }

    private func configuration() -> InterpreterConfiguration {
        InterpreterConfiguration(
            programName: launch.runtime.programName,
            pythonHome: launch.runtime.home,
            moduleSearchPaths: launch.runtime.interpreter.moduleSearchPaths,
            isolated: true,
            installSignalHandlers: false,
            argv: [launch.runtime.programName ?? "python"],
            extraSearchPaths: [launch.runtime.hostModulesDirectory])
    }

    /// Runs one generation's event loop; returns what ended it.
    private func serve(serviceGeneration: Int, copiesDirectory: String?, reimport: Bool, first: Bool) -> Result<Command, PythonError> {
        let copiesDirectory = reimport ? nil : copiesDirectory  // installed already in this interpreter
        return GIL.withLock { () -> Result<Command, PythonError> in
            do {
                if let copiesDirectory {
                    // First, before any import can load an extension module in place.
                    let finder = try PythonObject.importModule("cagent_host.generation")
                    _ = try finder.callMethod("install", [PythonObject.string(copiesDirectory)])
                }
                // The service loads with the cyclic GC off; the runner resumes it once
                // the service serves (cagent_host/runner.py, `_loaded`, says why).
                _ = try PythonObject.importModule("gc").callMethod("disable", [])
                let runner = try PythonObject.importModule("cagent_host.runner")
                let notify = PythonObject.function(name: "notify") { [self] arguments in
                    handleNotification(arguments, serviceGeneration: serviceGeneration)
                    return PythonObject.none
                }
                let link = self.link
                let ask = PythonObject.function(name: "ask") { arguments in
                    guard let first = arguments.first, case .string(let what)? = try? JSON(python: first) else {
                        return PythonObject.none
                    }
                    return try PythonObject(json: link.take(what))
                }
                let options = try PythonObject.string(optionsJSON(serviceGeneration: serviceGeneration, reimport: reimport, first: first))
                // Python's main thread: the watchdog's signals go here.
                link.setLive(pthread_self())
                let result = try runner.callMethod("run", [options, notify, ask])
                let text = try JSON(python: result)
                guard case .string(let name) = text, let command = Command(rawValue: name) else {
                    return .failure(PythonError(typeName: "RuntimeError", message: "runner returned \(text)", traceback: ""))
                }
                return .success(command)
            } catch let error as PythonError {
                return .failure(error)
            } catch {
                return .failure(PythonError(typeName: "RuntimeError", message: "\(error)", traceback: ""))
            }
        }
    }

    /// Called by Python on this thread, GIL held: must not block.
    private func handleNotification(_ arguments: [PythonObject], serviceGeneration: Int) {
        guard arguments.count == 2, let kind = try? JSON(python: arguments[0]), case .string(let name) = kind else {
            logger.error("malformed notification from cagent_host")
            return
        }
        guard let notice = HostNotice(rawValue: name) else {
            logger.warning("unknown notification from cagent_host: \(name)")
            return
        }
        if notice == .controller {
            controller.withLock { $0 = arguments[1] }
            do {
                try link.attach(controller: arguments[1])
            } catch {
                logger.error("the watchdog cannot watch this generation's event loop: \(error)")
            }
            do {
                try directCalls.attach(to: arguments[1])
            } catch {
                logger.error("direct calls unavailable: \(error)")
            }
            return
        }
        let payload = (try? JSON(python: arguments[1])) ?? .null
        switch notice {
        case .controller:
            return
        case .serving:
            served.store(true, ordering: .relaxed)
            let restart: RestartKind?
            if case .object(let object) = payload, case .string(let kind)? = object["restart"] {
                restart = RestartKind(rawValue: kind)
            } else {
                restart = serviceGeneration > 1 ? .cold : nil
            }
            link.startWatching()
            prepareCopiesAhead()
            onEvent(.serving(serviceGeneration: serviceGeneration, restart: restart))
        case .coldRestartRefused:
            var reasons: [String] = []
            if case .object(let object) = payload, case .array(let list)? = object["reasons"] {
                reasons = list.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
            onEvent(.coldRestartRefused(reasons: reasons))
        case .warmRestartFailed:
            var message = "\(payload)"
            if case .object(let object) = payload, case .string(let error)? = object["error"] { message = error }
            // The previous server goes on serving: watch it again.
            link.startWatching()
            onEvent(.warmRestartFailed(error: message))
        case .retired:
            onEvent(.retired)
        case .stopRequested:
            var reason = "the service asked"
            if case .object(let object) = payload, case .string(let text)? = object["reason"] { reason = text }
            onEvent(.stopRequested(reason: reason))
        case .command:
            link.watchable.store(false, ordering: .releasing)
            link.commandsTaken.add(1, ordering: .releasing)
        }
    }

    /// GIL held: the names `cagent_host.runner.<function>()` returns (threads).
    private func threadNames(_ function: String) -> [String] {
        guard let runner = try? PythonObject.importModule("cagent_host.runner"),
              let names = try? runner.callMethod(function, []),
              case .array(let list)? = try? JSON(python: names)
        else { return [] }
        return list.compactMap { if case .string(let name) = $0 { name } else { nil } }
    }

    /// Tells the thread what to do with an interpreter whose loop ended by itself; false
    /// when it is not waiting for that.
    @discardableResult
    func recover(_ recovery: Recovery) -> Bool {
        pendingRecovery.withLock { $0 }?.fire(recovery) ?? false
    }

    /// Whether the thread keeps an interpreter whose loop ended, waiting for ``recover(_:)``.
    var awaitsRecovery: Bool {
        pendingRecovery.withLock { $0 } != nil
    }

    /// Stops copying ahead and waits for the file being copied (at most one).
    func cancelPrecopy() {
        precopy.cancelAndWait()
    }

    /// Starts making the next interpreter's copies of the serving generation's extension
    /// modules; the sidecar calls it once that generation is healthy. Any thread.
    func copyAhead() {
        precopy.startPrepared()
    }

    /// GIL held (loop thread): lists what ``copyAhead()`` will copy.
    private func prepareCopiesAhead() {
        guard let generationModule = try? PythonObject.importModule("cagent_host.generation"),
              let listed = try? generationModule.callMethod("extension_files"),
              case .array(let rows)? = try? JSON(python: listed)
        else {
            logger.warning("cannot list extension modules to copy ahead; a cold restart copies them itself")
            return
        }
        let files = rows.compactMap { row -> (module: String, origin: String)? in
            guard case .array(let pair) = row, pair.count == 2,
                  case .string(let module) = pair[0], case .string(let origin) = pair[1] else { return nil }
            return (module, origin)
        }
        // The next interpreter's generation: this one's plus one.
        precopy.prepare(files, into: copiesDirectory(PythonInterpreter.generation + 1))
    }

    /// The folder of one interpreter generation's extension copies.
    private func copiesDirectory(_ interpreterGeneration: UInt64) -> String {
        PathString.join(launch.copiesRoot, "gen-\(interpreterGeneration)")
    }

    private func optionsJSON(serviceGeneration: Int, reimport: Bool, first: Bool) throws -> String {
        let seconds = launch.shutdownTimeout.inSeconds
        let options: [String: JSON] = [
            "service_generation": .integer(serviceGeneration),
            "first_interpreter": .bool(first),
            "reimport": .bool(reimport),
            "environment": .object(launch.environment.mapValues { .string($0) }),
            "extra_unsafe": .array(launch.extraUnsafeModules.map { .string($0) }),
            "watchdog": .object([
                "interrupt_signal": .integer(Int(InterpreterLink.interruptSignal)),
                "abort_signal": .integer(Int(InterpreterLink.abortSignal)),
            ]),
            "server": .object([
                "service_dir": .string(launch.runtime.serviceDirectory),
                "app": "main:app",
                "listen_fd": .integer(Int(launch.listenDescriptor)),
                "log_level": .string(launch.logLevel),
                "loop": .string(launch.eventLoop),
                "http": .string(launch.httpProtocol),
                "shutdown_timeout_s": .double(seconds),
            ]),
        ]
        return try JSON.object(options).text()
    }
}
