import FoundationEssentials
import Logging
import Loopback
#if canImport(Glibc)
import Glibc
#endif

/// Runs the Python service as a child process: the classic sidecar, behind the same
/// ``Sidecar`` API and events as ``EmbeddedSidecar``.
///
/// States: `idle → starting → running(g)`; `running → restarting(.respawn) → running(g+1)`;
/// `running → stopping → stopped`; a start that cannot complete, or a child that exits
/// while running, ends in `failed` (with a `failed` event, and ``waitUntilFailed()``
/// throwing) so a supervisor can start it again. `g` counts the children started. A child
/// that exits with status 0 was asked to stop (`POST /shutdown`: the service ends its own
/// process): ``waitUntilFailed()`` throws ``SidecarError/stopRequested(reason:)`` instead,
/// and a supervisor stops rather than restarts.
///
/// The child: `<runtime>/bin/python -m uvicorn main:app --host H --port P` in the service
/// folder, the token in its environment only, a process group of its own, killed with
/// the host even when the host is SIGKILLed (see ``ChildProcess``), its output in the
/// host's log. Start: `/health` polled until it answers, within the start timeout. Stop:
/// `POST /shutdown`, SIGTERM, and SIGKILL once the shutdown timeout has passed.
public actor SubprocessSidecar: Sidecar {
    public nonisolated let token: String
    public nonisolated let configuration: SidecarConfiguration
    public private(set) var state: SidecarState = .idle
    public private(set) var runtime: PythonRuntime?
    /// The port the service listens on (resolved when the configuration says 0).
    public private(set) var port: Int?

    private let broadcaster = EventBroadcaster()
    private let logger: Logger
    private let childLogger: Logger
    private var child: ChildProcess?
    private var generation = 0
    private var monitor: Task<Void, Never>?
    /// This run's end (crash or stop request), remembered; a new one for each start.
    private var failure = Once<SidecarError>()
    /// Why the service asked to stop (its process exited with status 0), for `stopped`.
    private var stopReason: String?

    public init(configuration: SidecarConfiguration, logger: Logger = Logger(label: "cagent.sidecar")) {
        self.configuration = configuration
        self.token = configuration.token
        self.logger = logger
        var childLogger = logger
        childLogger[metadataKey: "source"] = "service"
        self.childLogger = childLogger
    }

    public var address: String? {
        port.map { port in
            configuration.host.contains(":") ? "http://[\(configuration.host)]:\(port)" : "http://\(configuration.host):\(port)"
        }
    }

    /// The running child's pid.
    public var pid: Int32? { child?.pid }

    public nonisolated func events() -> AsyncStream<SidecarEvent> {
        broadcaster.subscribe()
    }

    /// Ends every event subscription: call when done with this sidecar.
    public nonisolated func closeEvents() {
        broadcaster.finish()
    }

    /// Adds an event to this sidecar's stream (a supervisor's own events, in order with ours).
    public nonisolated func publish(_ event: SidecarEvent) {
        broadcaster.publish(event)
    }

    // MARK: - Start

    public func start() async throws {
        switch state {
        case .idle, .stopped, .failed:
            break
        default:
            throw SidecarError.notRunning(state)
        }
        // A failed child may still be around (a start that timed out): it goes first.
        if let child { await terminate(child, politely: false) }
        failure = Once()
        stopReason = nil
        generation += 1
        state = .starting
        publish(.starting(generation: generation))
        try await launch(generation: generation)
    }

    /// Spawns a child and waits until it is healthy; on failure the state is `failed`
    /// and no child is left behind.
    private func launch(generation: Int) async throws {
        let deadline = ContinuousClock.now + configuration.startTimeout
        let runtime: PythonRuntime
        let port: Int
        let command: ChildProcess.Command
        do {
            runtime = try RuntimeLocator(
                explicitHome: configuration.pythonHome, serviceDirectory: configuration.serviceDirectory
            ).locate()
            port = try Self.claimPort(host: configuration.host, port: configuration.port, previous: self.port)
            command = try ServiceCommand.make(runtime: runtime, configuration: configuration, port: port)
        } catch {
            fail(error.description)
            throw error
        }
        self.runtime = runtime
        self.port = port

        let child: ChildProcess
        do {
            child = try await ChildProcess.launch(command, logger: childLogger)
        } catch {
            let error = SidecarError.serviceFailedToStart("cannot run \(command.executable): \(error)")
            fail(error.description)
            throw error
        }
        self.child = child
        logger.info("service process started", metadata: ["pid": "\(child.pid)", "port": "\(port)"])

        let probe = HealthProbe(host: configuration.host, port: port, timeout: .milliseconds(500))
        var lastFailure = "no probe made"
        while ContinuousClock.now < deadline {
            if let exit = child.exit {
                // Its last words (a traceback) may still be in the pipe.
                await child.stderr.waitUntilClosed(timeout: .seconds(1))
                let error = startFailure(exit: exit, child: child, port: port)
                self.child = nil
                fail(error.description)
                throw error
            }
            switch await probe.check() {
            case .success:
                guard self.child === child, state == .starting || state == .restarting(.respawn) else {
                    throw SidecarError.notRunning(state)
                }
                state = .running(generation: generation)
                publish(.healthy(generation: generation))
                watch(child, generation: generation)
                return
            case .failure(let failure):
                lastFailure = failure.description
                _ = await child.waitForExit(timeout: .milliseconds(20))
            }
        }
        let seconds = configuration.startTimeout.inSeconds
        logger.error("the service did not answer /health in time; killing it", metadata: ["last": "\(lastFailure)"])
        await terminate(child, politely: false)
        self.child = nil
        fail("start timed out after \(seconds) s: \(lastFailure)")
        throw SidecarError.startTimedOut(seconds: seconds)
    }

    /// Why a child died during start, in words: a port in use is named as such.
    private func startFailure(exit: ChildExit, child: ChildProcess, port: Int) -> SidecarError {
        let output = (child.stdout.lastLines + child.stderr.lastLines).joined(separator: "\n")
        if output.contains("address already in use") || output.contains("Errno 98") {
            return .portInUse(host: configuration.host, port: port)
        }
        return .serviceFailedToStart("the service process \(exit) before answering /health; its last output:\n\(output)")
    }

    /// The port to pass to uvicorn. A given port is checked by binding it for a moment
    /// (a clear "in use" before any Python starts); port 0 becomes a free port chosen the
    /// same way, and later children (respawn, start after a crash) keep the one the first
    /// got while it is free, so clients holding ``baseURL`` keep working. uvicorn binds it
    /// again a moment later: a race, which then surfaces as the child's "address already
    /// in use" and is reported the same.
    static func claimPort(host: String, port: Int, previous: Int?) throws(SidecarError) -> Int {
        if port == 0, let previous, let socket = try? ListeningSocket.bind(host: host, port: previous, backlog: 1) {
            return socket.port
        }
        let socket = try ListeningSocket.bind(host: host, port: port, backlog: 1)
        return socket.port
    }

    // MARK: - Crash detection

    /// Reports a child that ends while it is supposed to serve.
    private func watch(_ child: ChildProcess, generation: Int) {
        monitor?.cancel()
        monitor = Task { [weak self] in
            let exit = await child.waitForExit()
            await self?.childEnded(child, exit: exit, generation: generation)
        }
    }

    private func childEnded(_ ended: ChildProcess, exit: ChildExit, generation: Int) {
        guard child === ended, state == .running(generation: generation) else { return }
        child = nil
        if exit == .exited(status: 0) {
            // uvicorn exits 0 only when it was asked to (a signal it got is raised again
            // once it has shut down): here the service itself, after POST /shutdown.
            serviceAskedToStop("POST /shutdown (the service process, pid \(ended.pid), exited with status 0)")
            return
        }
        let message = "the service process (pid \(ended.pid)) \(exit)"
        logger.error("\(message)")
        fail(message)
    }

    /// Records the service's stop request (once per run) and reports it to
    /// ``waitUntilFailed()``: a supervisor then stops the sidecar instead of restarting it.
    func serviceAskedToStop(_ reason: String) {
        guard stopReason == nil else { return }
        logger.notice("the service asked to stop: \(reason); stopping")
        stopReason = reason
        failure.fire(.stopRequested(reason: reason))
    }

    /// Returns only by throwing: ``SidecarError/serviceStopped(_:)`` when the running
    /// service ends without being asked to, or `CancellationError`.
    public func waitUntilFailed() async throws {
        if case .failed(let message) = state { throw SidecarError.serviceStopped(message) }
        try await failure.waitAndThrow()
    }

    // MARK: - Stop and restart

    public func stop() async throws {
        switch state {
        case .idle, .stopped:
            return
        case .failed where child == nil:
            return
        default:
            break
        }
        state = .stopping
        publish(.stopping)
        monitor?.cancel()
        guard let child else {
            state = .stopped
            publish(.stopped(clean: true, detail: stopReason.map { "the service asked to stop: \($0)" }))
            return
        }
        let outcome = await terminate(child, politely: true)
        self.child = nil
        state = .stopped
        publish(.stopped(clean: outcome.clean, detail: outcome.detail))
    }

    /// A new child replaces the running one. Only `.respawn`: warm and cold restarts
    /// replace an interpreter inside the host, which this backend does not have.
    public func restart(_ kind: RestartKind) async throws {
        try await restart(kind, reason: "requested", announce: true)
    }

    /// ``restart(_:)`` with the reason recorded; `announce: false` when a supervisor has
    /// already published its own `restarting` event.
    public func restart(_ kind: RestartKind, reason: String, announce: Bool) async throws {
        guard kind == .respawn else {
            throw SidecarError.restartFailed(
                "the subprocess backend restarts by respawning the process (.respawn); "
                    + "\(kind.rawValue) restarts need the embedded backend")
        }
        guard case .running = state, let child else { throw SidecarError.notRunning(state) }
        state = .restarting(.respawn)
        if announce { publish(.restarting(kind: .respawn, reason: reason, why: RecoveryPlan.requestedWhy)) }
        monitor?.cancel()
        let outcome = await terminate(child, politely: true)
        self.child = nil
        if !outcome.clean { logger.warning("the old service process did not stop cleanly: \(outcome.detail ?? "")") }
        generation += 1
        do {
            try await launch(generation: generation)
        } catch {
            throw SidecarError.restartFailed("\(error)")
        }
    }

    private struct Termination {
        var clean: Bool
        var detail: String?
    }

    /// Stops a child: politely, `POST /shutdown` then SIGTERM, and SIGKILL to its group
    /// when it has not exited within the shutdown timeout; otherwise SIGKILL at once.
    @discardableResult
    private func terminate(_ child: ChildProcess, politely: Bool) async -> Termination {
        if let exit = child.exit { return Termination(clean: false, detail: "the service process had already \(exit)") }
        guard politely else {
            child.signalGroup(SIGKILL)
            let exit = await child.waitForExit()
            return Termination(clean: false, detail: "killed: \(exit)")
        }
        let timeout = configuration.shutdownTimeout
        let deadline = ContinuousClock.now + timeout
        if let port, stopReason == nil {
            // Runs end with shutting_down and MCP sessions close while the server still
            // answers; at most half the timeout, so SIGTERM keeps its share. (Not when the
            // service asked to stop: it has shut down already and is on its way out.)
            let shutdown = ShutdownRequest(host: configuration.host, port: port, token: token, timeout: timeout / 2)
            switch await shutdown.send() {
            case .answered(200): break
            case .answered(let status): logger.warning("POST /shutdown answered \(status)")
            case .failed(let reason): logger.warning("POST /shutdown failed: \(reason)")
            }
        }
        child.signalGroup(SIGTERM)
        if let exit = await child.waitForExit(timeout: max(.zero, deadline - ContinuousClock.now)) {
            // uvicorn re-raises the SIGTERM it handled once it has shut down.
            let clean = exit == .exited(status: 0) || exit == .signaled(signal: SIGTERM)
            return Termination(clean: clean, detail: clean ? nil : "the service process \(exit)")
        }
        logger.warning("the service process did not exit within \(timeout.inSeconds) s of SIGTERM; sending SIGKILL")
        child.signalGroup(SIGKILL)
        let exit = await child.waitForExit()
        return Termination(clean: false, detail: "killed after the shutdown timeout (\(timeout.inSeconds) s): \(exit)")
    }

    // MARK: - Helpers

    private func fail(_ message: String) {
        state = .failed(message)
        publish(.failed(error: message))
        failure.fire(.serviceStopped(message))
    }

    private func publish(_ kind: SidecarEvent.Kind) {
        broadcaster.publish(SidecarEvent(kind))
    }
}
