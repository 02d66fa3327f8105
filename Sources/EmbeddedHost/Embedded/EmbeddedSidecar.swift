import Bridge
import FoundationEssentials
import Logging
import Loopback
import Synchronization

/// Runs the Python service inside this process, on an ``InterpreterThread``.
///
/// Its states and their transitions are ``EmbeddedSidecarState``'s. Only one interpreter
/// can live in a process, so only one embedded sidecar may run at a time; ``start()``
/// refuses a second.
///
/// Under a ``Supervisor`` it also runs an ``EmbeddedWatchdog`` (event-loop heartbeat, GIL
/// probe, stacks, interrupt), and a restart or stop that the stalled loop does not take
/// in time raises into whatever blocks it (the abort signal), so the command gets its turn.
public actor EmbeddedSidecar: SupervisedSidecar {
    public nonisolated let token: String
    public nonisolated let configuration: SidecarConfiguration
    public var state: SidecarState { machine.state }
    /// Changed only by ``attempt(_:)`` (and ``transition(_:)``, which calls it).
    private var machine = EmbeddedSidecarState() {
        didSet { direct.withLock { $0 = (machine.state, thread?.directCalls) } }
    }
    /// `state` and the running thread's queue, for direct calls made without an actor hop.
    nonisolated let direct = Mutex<(state: SidecarState, queue: DirectCallQueue?)>((.idle, nil))
    public private(set) var runtime: PythonRuntime?

    private let broadcaster = EventBroadcaster()
    private let watchdog = EmbeddedWatchdog()
    private let logger: Logger
    private var socket: ListeningSocket?
    private(set) var thread: InterpreterThread?
    private var pump: Task<Void, Never>?
    private var copiesRoot: String?
    /// Who waits for the thread's next outcome, each answered once by ``handle(_:)``.
    /// A waiter is registered before its command is sent: the answer can arrive while
    /// the actor is suspended sending it (a broken warm reload fails in about a
    /// millisecond), and its `Once` keeps it until it is read.
    private var awaiting: [(answer: Once<Outcome>, acceptsServing: Bool)] = []
    private var lastExit: InterpreterThread.Exit?
    /// Why the last warm restart or warm recovery failed, until the service is healthy
    /// again: the next recovery is cold.
    private var lastWarmFailure: String?
    /// Resident memory the cold restarts (and starts after the first) have added so far:
    /// for each, the process's RSS once the new interpreter is healthy minus before.
    public private(set) var coldRestartGrowth = 0
    /// Whether this process has run an interpreter before: a start after that is a cold
    /// restart as far as memory goes.
    private var started = false
    /// Fired when the thread has retired what a restart replaced (see ``retire(_:)``).
    private var retired: Once<Void>?
    /// This run's end (crash or stop request), remembered: fired before anyone waits, it
    /// is still seen. A new one for each start.
    private var failure = Once<SidecarError>()
    /// Why the service asked to stop (`POST /shutdown`), for the `stopped` event.
    private var stopReason: String?

    /// What a waiter for the thread learns.
    private enum Outcome: Sendable {
        case serving(serviceGeneration: Int)
        case warmRestartFailed(String)
        case loopEnded(String)
        case exited(InterpreterThread.Exit)
        case timedOut
    }

    public init(configuration: SidecarConfiguration, logger: Logger = Logger(label: "cagent.sidecar")) {
        self.configuration = configuration
        self.token = configuration.token
        self.logger = logger
    }

    deinit {
        watchdog.shutdown()
    }

    // MARK: - SupervisedSidecar

    public nonisolated func publish(_ event: SidecarEvent) {
        broadcaster.publish(event)
    }

    public var healthEndpoint: HealthEndpoint? {
        guard case .running = state, let socket else { return nil }
        return HealthEndpoint(host: socket.host, port: socket.port)
    }

    /// Warm first, while the interpreter is sound; cold when a warm restart has just
    /// failed or the interpreter is gone (``RecoveryPlan`` states the rule).
    public func recoveryPlan() -> RecoveryPlan {
        if let lastWarmFailure {
            return RecoveryPlan(kind: .cold, why: "a warm restart failed: \(lastWarmFailure)")
        }
        switch state {
        case .running:
            return RecoveryPlan(kind: .warm, why: "the interpreter is sound (its thread runs and takes commands)")
        case .failed where thread?.awaitsRecovery == true:
            return RecoveryPlan(kind: .warm, why: "the interpreter is sound: only its event loop ended")
        default:
            return RecoveryPlan(kind: .cold, why: "the interpreter has ended: a new one is needed")
        }
    }

    /// Warm or cold as planned: a kept interpreter whose loop ended serves again (warm)
    /// or is replaced (cold); a running one is restarted; an ended one starts anew.
    public func recover(_ plan: RecoveryPlan, reason: String) async throws {
        if case .failed = state, let thread, thread.awaitsRecovery {
            try await measuringCold(plan.kind) { try await self.recoverKeptInterpreter(thread, kind: plan.kind) }
        } else if case .running = state {
            try await restart(plan.kind, reason: reason, announce: false)
        } else {
            try await start()
        }
    }

    /// Runs `body`, adding what it grew the process by to ``coldRestartGrowth`` when it
    /// makes a new interpreter.
    private func measuringCold(_ kind: RestartKind, _ body: () async throws -> Void) async rethrows {
        guard kind == .cold, let before = ProcessMemory.residentBytes() else { return try await body() }
        defer {
            if let after = ProcessMemory.residentBytes() { coldRestartGrowth += max(0, after - before) }
        }
        try await body()
    }

    public func enableWatchdog(stallThreshold: Duration) async -> (any SidecarWatchdog)? {
        watchdog.enable(threshold: stallThreshold)
        watchdog.attach(thread?.link)
        return watchdog
    }

    public var address: String? { socket?.baseURLString }

    /// The port actually bound (differs from the configured one for port 0).
    public var port: Int? { socket?.port }

    public nonisolated func events() -> AsyncStream<SidecarEvent> {
        broadcaster.subscribe()
    }

    /// Ends every event subscription: call when done with this sidecar, so that
    /// subscribers see the last events (`stopped`) and then the end of their stream.
    public nonisolated func closeEvents() {
        broadcaster.finish()
    }

    /// Returns only by throwing: ``SidecarError/serviceStopped(_:)`` when the running
    /// service ends without being asked to, or `CancellationError`.
    public func waitUntilFailed() async throws {
        if case .failed(let message) = state { throw SidecarError.serviceStopped(message) }
        try await failure.waitAndThrow()
    }

    public func start() async throws {
        if case .failed = state, thread?.awaitsRecovery == true {
            return try await recover(recoveryPlan(), reason: "start")
        }
        // Memory-wise, any interpreter after this sidecar's first is a cold restart.
        let later = started
        try await measuringCold(later ? .cold : .warm) { try await self.startInterpreter() }
    }

    private func startInterpreter() async throws {
        // Refused before the claim, as the transition itself comes after it.
        var trial = machine
        if case .refused(let error) = trial.next(.start(threadEnded: thread == nil)) { throw error }
        try InterpreterOwnership.claim()
        started = true
        failure = Once()
        stopReason = nil
        var claimed = true
        defer { if claimed { InterpreterOwnership.release() } }

        try attempt(.start(threadEnded: thread == nil))
        LibpythonLink.warnOnceIfShared(logger)
        let runtime: PythonRuntime
        let socket: ListeningSocket
        do {
            runtime = try RuntimeLocator(
                explicitHome: configuration.pythonHome, serviceDirectory: configuration.serviceDirectory
            ).locate()
            if let kept = self.socket {
                socket = kept
            } else {
                socket = try ListeningSocket.bind(host: configuration.host, port: configuration.port)
            }
        } catch {
            fail(error.description)
            throw error
        }
        self.runtime = runtime
        self.socket = socket
        CopiesFolder.removeStale()
        let copiesRoot = CopiesFolder.newPath()
        // Made here, private to this user: the copies of each generation go inside.
        do {
            try FileSystem.makeDirectory(copiesRoot, mode: 0o700)
        } catch {
            logger.warning("cannot create \(copiesRoot) for extension-module copies: \(error)")
        }
        self.copiesRoot = copiesRoot

        var environment = configuration.serviceEnvironment
        environment["CAGENT_TOKEN"] = token
        environment["CAGENT_HOST"] = configuration.host
        environment["CAGENT_PORT"] = String(socket.port)
        environment["CAGENT_LOG_LEVEL"] = configuration.logLevel
        let launch = InterpreterThread.Launch(
            runtime: runtime, listenDescriptor: socket.descriptor, logLevel: configuration.logLevel,
            eventLoop: configuration.eventLoop, httpProtocol: configuration.httpProtocol,
            shutdownTimeout: configuration.shutdownTimeout, environment: environment,
            extraUnsafeModules: configuration.coldRestartUnsafeModules, copiesRoot: copiesRoot)

        let (events, continuation) = AsyncStream.makeStream(of: InterpreterThread.Event.self)
        let thread = InterpreterThread(launch: launch, logger: logger) { continuation.yield($0) }
        self.thread = thread
        watchdog.attach(thread.link)
        lastExit = nil
        pump = Task { [weak self] in
            for await event in events { await self?.handle(event) }
        }
        claimed = false
        let answer = expectOutcome()
        thread.start()

        let deadline = ContinuousClock.now + configuration.startTimeout
        switch await outcome(answer, until: deadline) {
        case .serving(let generation):
            try await becomeHealthy(generation: generation, deadline: deadline)
        case .exited(let exit):
            let message: String
            switch exit {
            case .failed(let detail), .finalizeSkipped(_, let detail?): message = detail
            default: message = "the service exited during start"
            }
            fail(message)
            throw SidecarError.serviceFailedToStart(message)
        case .warmRestartFailed(let error), .loopEnded(let error):
            fail(error)
            throw SidecarError.serviceFailedToStart(error)
        case .timedOut:
            let seconds = configuration.startTimeout.inSeconds
            fail("start timed out after \(seconds) s")
            try? await thread.request(.stop, timeout: .seconds(1))
            throw SidecarError.startTimedOut(seconds: seconds)
        }
    }

    public func stop() async throws {
        switch state {
        case .idle, .stopped:
            return
        case .failed where thread == nil:
            socket = nil  // kept for a restart that will not come
            return
        default:
            break
        }
        transition(.stop)
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        var exit = lastExit
        if exit == nil, let thread, thread.awaitsRecovery {
            // Its loop has ended: the thread only waits to be told; it finalizes now.
            let answer = expectOutcome(acceptServing: false)
            thread.recover(.stop)
            if case .exited(let value) = await outcome(answer, until: deadline) { exit = value }
        } else if exit == nil, let thread {
            let unblocker = unblockIfStalled(thread, until: deadline)
            defer { unblocker?.cancel() }
            do {
                try await thread.request(.stop, timeout: configuration.shutdownTimeout)
                // Registered after the request: an exit meanwhile is `lastExit`, and what
                // else came then (a restart's answer) is not the stop's.
                let answer = expectOutcome(acceptServing: false)
                if case .exited(let value) = await outcome(answer, until: deadline) { exit = value }
            } catch {
                logger.error("cannot ask the service to stop: \(error)")
            }
        }
        guard let exit else {
            let seconds = configuration.shutdownTimeout.inSeconds
            transition(.stopTimedOut(detail: "shutdown timed out after \(seconds) s"))
            throw SidecarError.shutdownTimedOut(seconds: seconds)
        }
        finishThread()
        switch exit {
        case .stopped:
            transition(.stopped(clean: true, detail: stopReason.map { "the service asked to stop: \($0)" }))
        case .finalizeSkipped(let threads, _):
            transition(.stopped(clean: false, detail: "interpreter not finalized: non-daemon threads still running: \(threads.joined(separator: ", "))"))
            throw SidecarError.interpreterNotFinalized(threads: threads)
        case .failed(let error):
            transition(.stopped(clean: false, detail: error))
        }
    }

    public func restart(_ kind: RestartKind) async throws {
        try await restart(kind, reason: "requested", announce: true)
    }

    public func restart(_ kind: RestartKind, reason: String, announce: Bool) async throws {
        try await measuringCold(kind) { try await self.restartRunning(kind, reason: reason, announce: announce) }
    }

    private func restartRunning(_ kind: RestartKind, reason: String, announce: Bool) async throws {
        guard case .running(let generation) = state, let thread else { throw SidecarError.notRunning(state) }
        try attempt(.restart(kind, announced: announce ? reason : nil))
        let deadline = ContinuousClock.now + configuration.startTimeout
        let unblocker = unblockIfStalled(thread, until: deadline)
        defer { unblocker?.cancel() }
        let answer = expectOutcome()
        do {
            try await thread.request(kind == .cold ? .cold : .warm, timeout: configuration.startTimeout)
        } catch {
            forget(answer)
            transition(.restartFailed(kind, error: error.description, serviceGeneration: generation))
            throw error
        }
        switch await outcome(answer, until: deadline) {
        case .serving(let next):
            try await becomeHealthy(generation: next, deadline: deadline) { await self.retire(thread) }
        case .warmRestartFailed(let error):
            if kind == .warm { lastWarmFailure = error }
            transition(.restartFailed(kind, error: error, serviceGeneration: generation))
            throw SidecarError.restartFailed(error)
        case .loopEnded(let error):
            let message = "the event loop ended during the restart: \(error)"
            if kind == .warm { lastWarmFailure = message }
            fail(message)
            throw SidecarError.restartFailed(message)
        case .exited(let exit):
            let message = "the interpreter thread ended during the restart: \(exit)"
            fail(message)
            throw SidecarError.restartFailed(message)
        case .timedOut:
            let message = "no service within \(configuration.startTimeout.inSeconds) s of the restart"
            fail(message)
            throw SidecarError.restartFailed(message)
        }
    }

    /// The interpreter whose loop ended serves again in the same interpreter (warm) or
    /// from a new one (cold).
    private func recoverKeptInterpreter(_ thread: InterpreterThread, kind: RestartKind) async throws {
        try attempt(.recover(kind))
        failure = Once()
        let deadline = ContinuousClock.now + configuration.startTimeout
        let answer = expectOutcome()
        thread.recover(kind == .cold ? .cold : .warm)
        let message: String
        switch await outcome(answer, until: deadline) {
        case .serving(let generation):
            try await becomeHealthy(generation: generation, deadline: deadline) { await self.retire(thread) }
            return
        case .loopEnded(let error), .warmRestartFailed(let error):
            message = "the event loop ended again: \(error)"
        case .exited(let exit):
            message = "the interpreter thread ended: \(exit)"
        case .timedOut:
            message = "no service within \(configuration.startTimeout.inSeconds) s"
        }
        if kind == .warm { lastWarmFailure = message }
        fail(message)
        throw SidecarError.restartFailed(message)
    }

    /// With the watchdog on: while the loop has not taken the command just queued (it is
    /// stalled), raise into whatever blocks it once per stall threshold, until the
    /// deadline. Without the watchdog nothing changes: the command waits its turn.
    private func unblockIfStalled(_ thread: InterpreterThread, until deadline: ContinuousClock.Instant) -> Task<Void, Never>? {
        guard watchdog.isEnabled else { return nil }
        let link = thread.link
        let watchdog = self.watchdog
        let logger = self.logger
        let taken = link.commandsTaken.load(ordering: .acquiring)
        return Task {
            let period = watchdog.threshold
            while ContinuousClock.now < deadline {
                try? await Task.sleep(for: period)
                if Task.isCancelled || link.commandsTaken.load(ordering: .acquiring) > taken { return }
                logger.warning("the event loop has not taken the host's command within the stall threshold; raising into what blocks it")
                watchdog.abortLoop()
            }
        }
    }

    // MARK: - Thread events

    private func handle(_ event: InterpreterThread.Event) {
        switch event {
        case .serving(let generation, _):
            deliver(.serving(serviceGeneration: generation))
            if case .failed = state, let thread {
                // It came up after its start was given up (start timeout): nobody will
                // use it, and a new start needs the interpreter back.
                Task { try? await thread.request(.stop, timeout: .seconds(5)) }
            }
        case .coldRestartRefused(let reasons):
            logger.warning("cold restart refused; restarting warm", metadata: ["reasons": "\(reasons)"])
            publish(.restartRefused(reasons: reasons, instead: .warm))
        case .warmRestartFailed(let error):
            deliver(.warmRestartFailed(error))
        case .stopRequested(let reason):
            guard case .running = state, stopReason == nil else { return }
            logger.notice("the service asked to stop (\(reason)); stopping")
            stopReason = reason
            failure.fire(.stopRequested(reason: reason))
        case .retired:
            retired?.fire()
        case .loopEnded(let error):
            deliver(.loopEnded(error))
            if case .running = state {
                // Nobody asked. The thread keeps the interpreter and waits for
                // recover(): the supervisor's plan is a warm restart.
                fail("the service's event loop ended: \(error)")
            }
        case .exited(let exit):
            lastExit = exit
            if case .finalizeSkipped = exit {
                logger.error("the interpreter could not be finalized; no new embedded sidecar can start in this process")
            } else {
                InterpreterOwnership.release()
            }
            deliver(.exited(exit))
            if case .running = state {
                // Nobody asked: the service's loop ended on its own. The listening socket
                // stays: a restart serves on the same port, and connections made meanwhile
                // wait in its backlog.
                finishThread(keepSocket: true)
                fail("the service stopped unexpectedly: \(exit)")
            } else if case .failed = state {
                // A start or restart given up earlier has now ended: start may run again.
                finishThread(keepSocket: true)
            }
        }
    }

    /// Registers a waiter for the thread's next outcome (`acceptServing` false: any but
    /// `serving`); call before sending a command whose answer it is. Answered at once
    /// with the thread's exit when it has exited already.
    private func expectOutcome(acceptServing: Bool = true) -> Once<Outcome> {
        let answer = Once<Outcome>()
        if let lastExit {
            answer.fire(.exited(lastExit))
        } else {
            awaiting.append((answer, acceptServing))
        }
        return answer
    }

    /// What `answer` was fired with, or ``Outcome/timedOut`` at `deadline`.
    /// Not ended early by the caller's cancellation: a start, restart or stop in progress
    /// learns how it ended before it returns.
    private func outcome(_ answer: Once<Outcome>, until deadline: ContinuousClock.Instant) async -> Outcome {
        defer { forget(answer) }
        let waited = Task { await answer.wait(upTo: deadline - ContinuousClock.now) }
        guard await waited.value, let outcome = answer.value else { return .timedOut }
        return outcome
    }

    /// Drops a waiter once it is done with: answered, timed out, or its command never sent.
    private func forget(_ answer: Once<Outcome>) {
        awaiting.removeAll { $0.answer === answer }
    }

    /// Answers every waiter that accepts `outcome`.
    private func deliver(_ outcome: Outcome) {
        awaiting.removeAll { waiter in
            if case .serving = outcome, !waiter.acceptsServing { return false }
            waiter.answer.fire(outcome)
            return true
        }
    }

    /// After a restart: what it replaced (a warm restart's old server, or the service of
    /// a loop that ended) is stopped and collected before the restart counts as done, so
    /// that its teardown (a full collection, ~40 ms) never lands on the new service's
    /// first requests. The new server serves meanwhile.
    private func retire(_ thread: InterpreterThread) async {
        let done = Once<Void>()
        retired = done
        defer { retired = nil }
        do {
            try await thread.request(.retire, timeout: configuration.shutdownTimeout)
        } catch {
            logger.warning("cannot retire the replaced server; it stops with the service: \(error)")
            return
        }
        if await !done.wait(upTo: configuration.shutdownTimeout) {
            logger.warning("the replaced server was not retired within the shutdown timeout")
        }
    }

    private func becomeHealthy(
        generation: Int, deadline: ContinuousClock.Instant, beforeAnnouncing: (() async -> Void)? = nil
    ) async throws {
        guard let socket else { throw SidecarError.notRunning(state) }
        let probe = HealthProbe(host: socket.host, port: socket.port, timeout: .milliseconds(500))
        var lastFailure = "no probe made"
        while ContinuousClock.now < deadline {
            switch await probe.check() {
            case .success:
                await beforeAnnouncing?()
                transition(.healthy(serviceGeneration: generation))
                lastWarmFailure = nil
                thread?.copyAhead()
                return
            case .failure(let failure):
                lastFailure = failure.description
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        fail("the service never answered /health: \(lastFailure)")
        throw SidecarError.startTimedOut(seconds: configuration.startTimeout.inSeconds)
    }

    private func fail(_ message: String) {
        transition(.failed(message))
        failure.fire(.serviceStopped(message))
        if thread == nil || lastExit != nil { finishThread(keepSocket: true) }
    }

    /// Releases what one run of the interpreter thread held; the listening socket too
    /// unless `keepSocket` (after a failure: the next start reuses it, so the port
    /// survives a supervised restart even when it was chosen by the system).
    private func finishThread(keepSocket: Bool = false) {
        guard thread != nil || socket != nil else { return }
        // No copy may be written into the folder after it is removed.
        thread?.cancelPrecopy()
        thread = nil
        watchdog.attach(nil)
        pump?.cancel()
        pump = nil
        if !keepSocket { socket = nil }
        if let copiesRoot { try? FileSystem.remove(copiesRoot) }
        copiesRoot = nil
    }

    private func publish(_ kind: SidecarEvent.Kind) {
        broadcaster.publish(SidecarEvent(kind))
    }

    /// The one place the state changes (``EmbeddedSidecarState``): publishes the event the
    /// transition names, or throws what refused it (nothing changed then).
    private func attempt(_ event: EmbeddedSidecarState.Event) throws(SidecarError) {
        switch machine.next(event) {
        case .publish(let kind):
            if let kind { publish(kind) }
        case .refused(let error):
            throw error
        }
    }

    /// A transition the machine always allows: it reports what has happened.
    private func transition(_ event: EmbeddedSidecarState.Event) {
        do {
            try attempt(event)
        } catch {
            preconditionFailure("EmbeddedSidecarState refused \(event): \(error)")
        }
    }
}
