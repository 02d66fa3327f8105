import Bridge
import FoundationEssentials
import Logging
import Loopback
import Synchronization

/// Runs the Python service inside this process, on an ``InterpreterThread``.
///
/// States: `idle → starting → running(g)`; `running → restarting(kind) → running(g')`;
/// `running → stopping → stopped`; any start or restart that cannot complete ends in
/// `failed`. Only one interpreter can live in a process, so only one embedded sidecar
/// may run at a time; ``start()`` refuses a second.
///
/// Under a ``Supervisor`` it also runs an ``EmbeddedWatchdog`` (event-loop heartbeat, GIL
/// probe, stacks, interrupt), and a restart or stop that the stalled loop does not take
/// in time raises into whatever blocks it (the abort signal), so the command gets its turn.
public actor EmbeddedSidecar: SupervisedSidecar {
    public nonisolated let token: String
    public nonisolated let configuration: SidecarConfiguration
    public private(set) var state: SidecarState = .idle {
        didSet { direct.withLock { $0 = (state, thread?.directCalls) } }
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
    private var waiters: [UInt64: CheckedContinuation<Outcome, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    /// The thread's recent outcomes, numbered: a command's answer can arrive while the
    /// actor is suspended sending that command (a broken warm reload fails in about a
    /// millisecond), before anyone waits for it.
    private var recentOutcomes: [(number: UInt64, outcome: Outcome)] = []
    private var outcomeCount: UInt64 = 0
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
        case serving(generation: Int)
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

    public var baseURL: URL? {
        socket.flatMap { URL(string: $0.baseURLString) }
    }

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
        switch state {
        case .idle, .stopped:
            break
        case .failed where thread == nil:
            break
        default:
            throw SidecarError.notRunning(state)
        }
        try InterpreterOwnership.claim()
        started = true
        failure = Once()
        stopReason = nil
        var claimed = true
        defer { if claimed { InterpreterOwnership.release() } }

        state = .starting
        publish(.starting(generation: 1))
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
            try FileManager.default.createDirectory(atPath: copiesRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
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
        thread.start()

        let deadline = ContinuousClock.now + configuration.startTimeout
        switch await waitForThread(until: deadline) {
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
        state = .stopping
        publish(.stopping)
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        var exit = lastExit
        if exit == nil, let thread, thread.awaitsRecovery {
            // Its loop has ended: the thread only waits to be told; it finalizes now.
            thread.recover(.stop)
            if case .exited(let value) = await waitForThread(until: deadline, acceptServing: false) { exit = value }
        } else if exit == nil, let thread {
            let unblocker = unblockIfStalled(thread, until: deadline)
            defer { unblocker?.cancel() }
            do {
                try await thread.request(.stop, timeout: configuration.shutdownTimeout)
                if case .exited(let value) = await waitForThread(until: deadline, acceptServing: false) { exit = value }
            } catch {
                logger.error("cannot ask the service to stop: \(error)")
            }
        }
        guard let exit else {
            let seconds = configuration.shutdownTimeout.inSeconds
            state = .failed("shutdown timed out")
            publish(.stopped(clean: false, detail: "shutdown timed out after \(seconds) s"))
            throw SidecarError.shutdownTimedOut(seconds: seconds)
        }
        finishThread()
        state = .stopped
        switch exit {
        case .stopped:
            publish(.stopped(clean: true, detail: stopReason.map { "the service asked to stop: \($0)" }))
        case .finalizeSkipped(let threads, _):
            publish(.stopped(clean: false, detail: "interpreter not finalized: non-daemon threads still running: \(threads.joined(separator: ", "))"))
            throw SidecarError.interpreterNotFinalized(threads: threads)
        case .failed(let error):
            publish(.stopped(clean: false, detail: error))
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
        guard kind != .respawn else {
            throw SidecarError.restartFailed("the embedded backend restarts warm or cold, not by respawning")
        }
        state = .restarting(kind)
        if announce { publish(.restarting(kind: kind, reason: reason, why: RecoveryPlan.requestedWhy)) }
        let deadline = ContinuousClock.now + configuration.startTimeout
        let unblocker = unblockIfStalled(thread, until: deadline)
        defer { unblocker?.cancel() }
        let mark = outcomeCount
        do {
            try await thread.request(kind == .cold ? .cold : .warm, timeout: configuration.startTimeout)
        } catch {
            state = .running(generation: generation)
            publish(.restartFailed(kind: kind, error: error.description))
            throw error
        }
        switch await waitForThread(until: deadline, after: mark) {
        case .serving(let next):
            try await becomeHealthy(generation: next, deadline: deadline) { await self.retire(thread) }
        case .warmRestartFailed(let error):
            state = .running(generation: generation)
            if kind == .warm { lastWarmFailure = error }
            publish(.restartFailed(kind: kind, error: error))
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
        failure = Once()
        state = .restarting(kind)
        let deadline = ContinuousClock.now + configuration.startTimeout
        let mark = outcomeCount
        thread.recover(kind == .cold ? .cold : .warm)
        let message: String
        switch await waitForThread(until: deadline, after: mark) {
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
            resumeWaiters(.serving(generation: generation))
            if case .failed = state, let thread {
                // It came up after its start was given up (start timeout): nobody will
                // use it, and a new start needs the interpreter back.
                Task { try? await thread.request(.stop, timeout: .seconds(5)) }
            }
        case .coldRestartRefused(let reasons):
            logger.warning("cold restart refused; restarting warm", metadata: ["reasons": "\(reasons)"])
            publish(.restartRefused(reasons: reasons, instead: .warm))
        case .warmRestartFailed(let error):
            resumeWaiters(.warmRestartFailed(error))
        case .stopRequested(let reason):
            guard case .running = state, stopReason == nil else { return }
            logger.notice("the service asked to stop (\(reason)); stopping")
            stopReason = reason
            failure.fire(.stopRequested(reason: reason))
        case .retired:
            retired?.fire()
        case .loopEnded(let error):
            resumeWaiters(.loopEnded(error))
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
            resumeWaiters(.exited(exit))
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

    /// The thread's next outcome; with `after`, also one that came since that count
    /// (``outcomeCount`` read before sending a command).
    private func waitForThread(
        until deadline: ContinuousClock.Instant, acceptServing: Bool = true, after mark: UInt64? = nil
    ) async -> Outcome {
        if let lastExit { return .exited(lastExit) }
        func accepted(_ outcome: Outcome) -> Bool {
            if case .serving = outcome { return acceptServing }
            return true
        }
        if let mark, let early = recentOutcomes.first(where: { $0.number > mark && accepted($0.outcome) }) {
            return early.outcome
        }
        nextWaiter += 1
        let id = nextWaiter
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline)
            await self?.resumeWaiter(id, with: .timedOut)
        }
        defer { timer.cancel() }
        while true {
            let outcome = await withCheckedContinuation { waiters[id] = $0 }
            if !accepted(outcome) { continue }
            return outcome
        }
    }

    private func resumeWaiter(_ id: UInt64, with outcome: Outcome) {
        waiters.removeValue(forKey: id)?.resume(returning: outcome)
    }

    private func resumeWaiters(_ outcome: Outcome) {
        outcomeCount += 1
        recentOutcomes.append((outcomeCount, outcome))
        if recentOutcomes.count > 16 { recentOutcomes.removeFirst() }
        let current = waiters
        waiters.removeAll()
        for waiter in current.values { waiter.resume(returning: outcome) }
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
                state = .running(generation: generation)
                lastWarmFailure = nil
                publish(.healthy(generation: generation))
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
        state = .failed(message)
        publish(.failed(error: message))
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
        if let copiesRoot { try? FileManager.default.removeItem(atPath: copiesRoot) }
        copiesRoot = nil
    }

    private func publish(_ kind: SidecarEvent.Kind) {
        broadcaster.publish(SidecarEvent(kind))
    }
}
