import Bridge
import Foundation
import Logging

/// Runs the Python service inside this process, on an ``InterpreterThread``.
///
/// States: `idle → starting → running(g)`; `running → restarting(kind) → running(g')`;
/// `running → stopping → stopped`; any start or restart that cannot complete ends in
/// `failed`. Only one interpreter can live in a process, so only one embedded sidecar
/// may run at a time; ``start()`` refuses a second.
public actor EmbeddedSidecar: Sidecar {
    public nonisolated let token: String
    public nonisolated let configuration: SidecarConfiguration
    public private(set) var state: SidecarState = .idle
    public private(set) var runtime: PythonRuntime?

    private let broadcaster = EventBroadcaster()
    private let logger: Logger
    private var socket: ListeningSocket?
    private var thread: InterpreterThread?
    private var pump: Task<Void, Never>?
    private var copiesRoot: String?
    private var waiters: [UInt64: CheckedContinuation<Outcome, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    private var lastExit: InterpreterThread.Exit?
    private var failureWaiters: [UInt64: CheckedContinuation<String?, Never>] = [:]

    /// What a waiter for the thread learns.
    private enum Outcome: Sendable {
        case serving(generation: Int)
        case warmRestartFailed(String)
        case exited(InterpreterThread.Exit)
        case timedOut
    }

    public init(configuration: SidecarConfiguration, logger: Logger = Logger(label: "cagent.sidecar")) {
        self.configuration = configuration
        self.token = configuration.token
        self.logger = logger
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
        nextWaiter += 1
        let id = nextWaiter
        let message = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else {
                    failureWaiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.resumeFailureWaiter(id, with: nil) }
        }
        if let message { throw SidecarError.serviceStopped(message) }
        throw CancellationError()
    }

    private func resumeFailureWaiter(_ id: UInt64, with message: String?) {
        failureWaiters.removeValue(forKey: id)?.resume(returning: message)
    }

    public func start() async throws {
        switch state {
        case .idle, .stopped:
            break
        case .failed where thread == nil:
            break
        default:
            throw SidecarError.notRunning(state)
        }
        try InterpreterOwnership.claim()
        var claimed = true
        defer { if claimed { InterpreterOwnership.release() } }

        state = .starting
        publish(.starting(generation: 1))
        let runtime: PythonRuntime
        let socket: ListeningSocket
        do {
            runtime = try RuntimeLocator(
                explicitHome: configuration.pythonHome, serviceDirectory: configuration.serviceDirectory
            ).locate()
            socket = try ListeningSocket.bind(host: configuration.host, port: configuration.port)
        } catch {
            fail(error.description)
            throw error
        }
        self.runtime = runtime
        self.socket = socket
        let copiesRoot = FileManager.default.temporaryDirectory
            .appendingPathComponent("cagent-sidecar-\(getpid())-\(UInt32.random(in: .min ... .max))").path
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
        case .warmRestartFailed(let error):
            fail(error)
            throw SidecarError.serviceFailedToStart(error)
        case .timedOut:
            let seconds = configuration.startTimeout.seconds
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
            return
        default:
            break
        }
        state = .stopping
        publish(.stopping)
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        var exit = lastExit
        if exit == nil, let thread {
            do {
                try await thread.request(.stop, timeout: configuration.shutdownTimeout)
                if case .exited(let value) = await waitForThread(until: deadline, acceptServing: false) { exit = value }
            } catch {
                logger.error("cannot ask the service to stop: \(error)")
            }
        }
        guard let exit else {
            let seconds = configuration.shutdownTimeout.seconds
            state = .failed("shutdown timed out")
            publish(.stopped(clean: false, detail: "shutdown timed out after \(seconds) s"))
            throw SidecarError.shutdownTimedOut(seconds: seconds)
        }
        finishThread()
        state = .stopped
        switch exit {
        case .stopped:
            publish(.stopped(clean: true, detail: nil))
        case .finalizeSkipped(let threads, _):
            publish(.stopped(clean: false, detail: "interpreter not finalized: non-daemon threads still running: \(threads.joined(separator: ", "))"))
            throw SidecarError.interpreterNotFinalized(threads: threads)
        case .failed(let error):
            publish(.stopped(clean: false, detail: error))
        }
    }

    public func restart(_ kind: RestartKind) async throws {
        guard case .running(let generation) = state, let thread else { throw SidecarError.notRunning(state) }
        guard kind != .respawn else {
            throw SidecarError.restartFailed("the embedded backend restarts warm or cold, not by respawning")
        }
        state = .restarting(kind)
        publish(.restarting(kind: kind, reason: "requested"))
        let deadline = ContinuousClock.now + configuration.startTimeout
        do {
            try await thread.request(kind == .cold ? .cold : .warm, timeout: configuration.startTimeout)
        } catch {
            state = .running(generation: generation)
            publish(.restartFailed(kind: kind, error: error.description))
            throw error
        }
        switch await waitForThread(until: deadline) {
        case .serving(let next):
            try await becomeHealthy(generation: next, deadline: deadline)
        case .warmRestartFailed(let error):
            state = .running(generation: generation)
            publish(.restartFailed(kind: kind, error: error))
            throw SidecarError.restartFailed(error)
        case .exited(let exit):
            let message = "the interpreter thread ended during the restart: \(exit)"
            fail(message)
            throw SidecarError.restartFailed(message)
        case .timedOut:
            let message = "no service within \(configuration.startTimeout.seconds) s of the restart"
            fail(message)
            throw SidecarError.restartFailed(message)
        }
    }

    // MARK: - Thread events

    private func handle(_ event: InterpreterThread.Event) {
        switch event {
        case .serving(let generation, _):
            resumeWaiters(.serving(generation: generation))
        case .coldRestartRefused(let reasons):
            logger.warning("cold restart refused; restarting warm", metadata: ["reasons": "\(reasons)"])
            publish(.restartRefused(reasons: reasons, instead: .warm))
        case .warmRestartFailed(let error):
            resumeWaiters(.warmRestartFailed(error))
        case .exited(let exit):
            lastExit = exit
            if case .finalizeSkipped = exit {
                logger.error("the interpreter could not be finalized; no new embedded sidecar can start in this process")
            } else {
                InterpreterOwnership.release()
            }
            resumeWaiters(.exited(exit))
            if case .running = state {
                // Nobody asked: the service's loop ended on its own.
                finishThread()
                fail("the service stopped unexpectedly: \(exit)")
            }
        }
    }

    private func waitForThread(until deadline: ContinuousClock.Instant, acceptServing: Bool = true) async -> Outcome {
        if let lastExit { return .exited(lastExit) }
        nextWaiter += 1
        let id = nextWaiter
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline)
            await self?.resumeWaiter(id, with: .timedOut)
        }
        defer { timer.cancel() }
        while true {
            let outcome = await withCheckedContinuation { waiters[id] = $0 }
            if case .serving = outcome, !acceptServing { continue }
            return outcome
        }
    }

    private func resumeWaiter(_ id: UInt64, with outcome: Outcome) {
        waiters.removeValue(forKey: id)?.resume(returning: outcome)
    }

    private func resumeWaiters(_ outcome: Outcome) {
        let current = waiters
        waiters.removeAll()
        for waiter in current.values { waiter.resume(returning: outcome) }
    }

    private func becomeHealthy(generation: Int, deadline: ContinuousClock.Instant) async throws {
        guard let socket else { throw SidecarError.notRunning(state) }
        let probe = HealthProbe(host: socket.host, port: socket.port, timeout: .milliseconds(500))
        var lastFailure = "no probe made"
        while ContinuousClock.now < deadline {
            switch await probe.check() {
            case .success:
                state = .running(generation: generation)
                publish(.healthy(generation: generation))
                return
            case .failure(let failure):
                lastFailure = failure.description
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        fail("the service never answered /health: \(lastFailure)")
        throw SidecarError.startTimedOut(seconds: configuration.startTimeout.seconds)
    }

    private func fail(_ message: String) {
        state = .failed(message)
        publish(.failed(error: message))
        let waiting = failureWaiters
        failureWaiters.removeAll()
        for waiter in waiting.values { waiter.resume(returning: message) }
        if thread == nil || lastExit != nil { finishThread() }
    }

    /// Releases what one run of the interpreter thread held.
    private func finishThread() {
        guard thread != nil || socket != nil else { return }
        thread = nil
        pump?.cancel()
        pump = nil
        socket = nil
        if let copiesRoot { try? FileManager.default.removeItem(atPath: copiesRoot) }
        copiesRoot = nil
    }

    private func publish(_ kind: SidecarEvent.Kind) {
        broadcaster.publish(SidecarEvent(kind))
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
