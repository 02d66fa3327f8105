import ArgumentParser
import SidecarCLI
import EmbeddedHost
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start the embedded service and keep it running, supervised, until SIGINT or SIGTERM.",
        discussion: """
            Prints `listening on http://HOST:PORT` on stdout once /health answers (the first
            line, alone), then where the token is, a curl line to paste and the docs link.
            SIGINT/SIGTERM stop gracefully, and so does POST /shutdown (no restart); SIGHUP
            restarts the service (see --sighup-restart). --exit-with-parent stops it when the
            process that started it ends.
            The token is CAGENT_TOKEN when set, else generated for this launch.
            The supervisor probes /health, watches the event loop, and restarts with backoff;
            all durations are in seconds. Exit status: 0 after a graceful stop, 1 when it gave
            up (circuit open) or failed, 75 when the service is wedged and --on-wedged is exit,
            or a cold restart was needed past --cold-restart-budget and --on-exhausted is exit.
            """
    )

    @Option(help: "embedded (the service inside this process) or subprocess (a python child process, SIGHUP respawns it).")
    var mode: String = "embedded"

    @Option(help: "With --mode subprocess: runtime (its python executable), host (this executable as python) or libpython (cagent-python: the same libpython without Swift, the bench's control).")
    var childPython: String?

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port: Int = 8765

    @Option(help: "Write the token to this file (mode 0600).")
    var tokenFile: String?

    @Option(help: "Append one JSON object per line for each lifecycle event.")
    var eventsFile: String?

    @Option(help: "critical, error, warning, info, debug or trace.")
    var logLevel: String = "info"

    /// `--python-home`, `--service-dir` (shared with `cagent-bench`); untitled, so they
    /// stay in this place among the options of `--help`.
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: "What SIGHUP does: cold (new interpreter generation) or warm (new server, same interpreter).")
    var sighupRestart: String = "cold"

    @Option(help: "Seconds to wait for a graceful stop before forcing it.")
    var shutdownTimeout: Double = 5

    @Option(help: "Seconds to wait for the service to answer /health at start.")
    var startTimeout: Double = 30

    @Option(help: "uvicorn event loop: auto, asyncio or uvloop.")
    var loop: String = "auto"

    @Option(help: "uvicorn HTTP protocol: auto, h11 or httptools.")
    var http: String = "auto"

    @Flag(help: "Stop gracefully and exit when the process that started this one ends, however it ends (Linux: parent-death signal; any system: end of file on standard input when it is a pipe). For a sidecar spawned by an app.")
    var exitWithParent = false

    @Flag(help: "Development: restart warm when a .py file in the service folder or CAGENT_AGENTS_DIR changes (inotify, debounced); a change that fails to import keeps the previous service serving and reports restart_failed. Embedded mode only.")
    var reload = false

    @OptionGroup(title: "Supervision")
    var supervision: SupervisionOptions

    func validate() throws {
        guard ["embedded", "subprocess"].contains(mode) else { throw ValidationError("--mode must be embedded or subprocess") }
        if let childPython {
            guard ChildInterpreter(rawValue: childPython) != nil else { throw ValidationError("--child-python must be runtime, host or libpython") }
            guard mode == "subprocess" else { throw ValidationError("--child-python needs --mode subprocess") }
        }
        if reload, mode != "embedded" {
            throw ValidationError("--reload needs --mode embedded (it restarts warm, in the same interpreter)")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard ["critical", "error", "warning", "info", "debug", "trace"].contains(logLevel) else {
            throw ValidationError("--log-level must be one of critical, error, warning, info, debug, trace")
        }
        guard RestartKind(rawValue: sighupRestart).map({ $0 != .respawn }) ?? false else {
            throw ValidationError("--sighup-restart must be cold or warm")
        }
        guard shutdownTimeout > 0, shutdownTimeout.isFinite else { throw ValidationError("--shutdown-timeout must be a positive number of seconds") }
        guard startTimeout > 0, startTimeout.isFinite else { throw ValidationError("--start-timeout must be a positive number of seconds") }
        _ = try supervision.healthCheckConfig(shutdownTimeout: shutdownTimeout)
        guard ["auto", "asyncio", "uvloop"].contains(loop) else { throw ValidationError("--loop must be auto, asyncio or uvloop") }
        guard ["auto", "h11", "httptools"].contains(http) else { throw ValidationError("--http must be auto, h11 or httptools") }
    }

    func run() async throws {
        // First: the parent may end at any moment, and then getppid() names another.
        let parentWatch = exitWithParent ? ParentWatch() : nil
        let logger = makeLogger()
        let token = ProcessInfo.processInfo.environment["CAGENT_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            ?? AccessToken.generate()
        var configuration = SidecarConfiguration(token: token)
        configuration.host = host
        configuration.port = port
        configuration.logLevel = logLevel
        runtime.apply(to: &configuration)
        configuration.eventLoop = loop
        configuration.httpProtocol = http
        configuration.childInterpreter = childPython.flatMap(ChildInterpreter.init(rawValue:)) ?? .runtime
        configuration.shutdownTimeout = .milliseconds(Int(shutdownTimeout * 1000))
        configuration.startTimeout = .milliseconds(Int(startTimeout * 1000))
        configuration.serviceEnvironment = ProcessInfo.processInfo.environment.filter {
            $0.key.hasPrefix("CAGENT_") && $0.key != "CAGENT_TOKEN"
        }

        if let tokenFile {
            do {
                try TokenFile.write(token, to: tokenFile)
            } catch {
                throw CLIError("cannot write the token file \(tokenFile): \(error)")
            }
        }
        let events: EventsFile?
        do {
            events = try eventsFile.map { try EventsFile(path: $0) }
        } catch {
            throw CLIError("cannot open the events file \(eventsFile ?? ""): \(error)")
        }

        let health = try supervision.healthCheckConfig(shutdownTimeout: shutdownTimeout)
        let sidecar: any SupervisedSidecar
        let closeEvents: @Sendable () -> Void
        if mode == "subprocess" {
            let child = SubprocessSidecar(configuration: configuration, logger: logger)
            (sidecar, closeEvents) = (child, child.closeEvents)
        } else {
            let embedded = EmbeddedSidecar(configuration: configuration, logger: logger)
            (sidecar, closeEvents) = (embedded, embedded.closeEvents)
        }
        let supervisor = try Supervisor(sidecar: sidecar, configuration: health, logger: logger)
        let writer = events.map { file in
            let stream = sidecar.events()
            return Task { for await event in stream { file.append(event) } }
        }
        let service = SidecarService(
            supervisor: supervisor, sidecar: sidecar,
            sighupRestart: mode == "subprocess" ? .respawn : RestartKind(rawValue: sighupRestart) ?? .cold,
            banner: StartBanner(tokenFile: tokenFile, token: token), logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
        if reload, let embedded = sidecar as? EmbeddedSidecar {
            services.append(.init(
                service: ReloadService(
                    supervisor: supervisor, serviceDirectory: { await embedded.runtime?.serviceDirectory },
                    agentsDirectory: configuration.serviceEnvironment["CAGENT_AGENTS_DIR"], logger: logger),
                successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        if let parentWatch {
            // Its end (the parent is gone) stops the whole group gracefully.
            services.append(.init(service: ParentExitService(watch: parentWatch, logger: logger),
                                  successTerminationBehavior: .gracefullyShutdownGroup,
                                  failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        var failure: Error?
        do {
            try await group.run()
        } catch {
            failure = error
        }
        closeEvents()
        await writer?.value
        if let failure {
            let message = (failure as? SidecarError)?.description ?? (failure as? SupervisorError)?.description ?? "\(failure)"
            StandardError.write("cagent-sidecar: \(message)\n")
            if case SupervisorError.restartExhausted? = failure as? SupervisorError {
                // Stopped gracefully; an outer supervisor restarts the process, which gives
                // back what cold restarts kept.
                StandardError.write("cagent-sidecar: exiting with status \(WedgedPolicy.exitStatus) (--on-exhausted exit)\n")
                throw ExitCode(WedgedPolicy.exitStatus)
            }
            if case SupervisorError.wedged? = failure as? SupervisorError {
                // The interpreter thread is stuck in C code holding the GIL: it can be
                // neither stopped nor finalized. Exit for an outer supervisor to restart us.
                StandardError.write("cagent-sidecar: exiting with status \(WedgedPolicy.exitStatus) (--on-wedged exit)\n")
                fflush(nil)
                _exit(WedgedPolicy.exitStatus)
            }
            switch failure as? SidecarError {
            case .shutdownTimedOut?, .interpreterNotFinalized?:
                // The interpreter thread may still be running Python: leave without
                // running destructors under its feet.
                fflush(nil)
                _exit(EXIT_FAILURE)
            default:
                throw ExitCode.failure
            }
        }
    }

    private func makeLogger() -> Logger {
        var logger = Logger(label: "cagent") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = switch logLevel {
        case "critical": .critical
        case "error": .error
        case "warning": .warning
        case "debug": .debug
        case "trace": .trace
        default: .info
        }
        return logger
    }
}
