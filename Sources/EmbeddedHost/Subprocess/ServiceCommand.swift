import FoundationEssentials
import Loopback

/// The command line and environment of the child service: exactly
/// `cd <service> && <runtime>/bin/python -m uvicorn main:app --host H --port P` (from a
/// bundle, or with ``ChildInterpreter/host``, `<host> python -m uvicorn ...`; with
/// ``ChildInterpreter/libpython``, `<host folder>/cagent-python -m uvicorn ...`), plus
/// uvicorn options that match the embedded backend's server.
enum ServiceCommand {
    /// This process's executable (the single file itself, for a single-file build).
    static var hostExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func make(runtime: PythonRuntime, configuration: SidecarConfiguration, port: Int,
                     hostEnvironment: [String: String] = ProcessInfo.processInfo.environment) throws(SidecarError) -> ChildProcess.Command {
        // A bundle links the interpreter into the host and ships no python executable:
        // the host runs itself as one (`cagent-sidecar python`).
        let python: [String]
        if configuration.childInterpreter == .host {
            python = [hostExecutable, "python"]
        } else if configuration.childInterpreter == .libpython {
            let control = ChildInterpreter.libpythonExecutable
            guard FileManager.default.isExecutableFile(atPath: control) else {
                throw .runtimeInvalid(path: control, reason: "--child-python libpython needs cagent-python beside this executable (`make build` builds it)")
            }
            python = [control]
        } else if let program = runtime.programName, FileManager.default.isExecutableFile(atPath: program) {
            python = [program]
        } else if runtime.source == .bundle {
            python = [hostExecutable, "python"]
        } else {
            throw .runtimeInvalid(
                path: runtime.programName ?? runtime.home ?? runtime.serviceDirectory,
                reason: "the subprocess backend needs a python executable there")
        }
        let graceful = max(1, Int(configuration.shutdownTimeout.inSeconds * 0.4))
        let arguments = python + [
            "-m", "uvicorn", "main:app",
            "--host", configuration.host, "--port", String(port),
            "--log-level", configuration.logLevel,
            "--loop", configuration.eventLoop, "--http", configuration.httpProtocol,
            // The service logs its own requests (RequestLog), as in the embedded backend.
            "--no-access-log",
            // Open SSE streams must not hold a SIGTERM past the host's shutdown timeout.
            "--timeout-graceful-shutdown", String(graceful),
        ]
        var environment = environment(runtime: runtime, configuration: configuration, port: port, host: hostEnvironment)
        if python[0] != runtime.programName {
            // Not the runtime's own python (`cagent-sidecar python`, `cagent-python`):
            // point it at the runtime this host found.
            environment["CAGENT_PYTHON_HOME"] = runtime.root
        }
        return ChildProcess.Command(
            executable: python[0], arguments: arguments, environment: environment,
            directory: runtime.serviceDirectory)
    }

    /// The host's environment without its `CAGENT_*` and `PYTHON*` settings (the child is
    /// isolated from them, as the embedded interpreter is), then the service's settings.
    /// The token travels here and never on the command line, which any user can read in
    /// /proc/<pid>/cmdline; /proc/<pid>/environ is readable by the same user only.
    static func environment(runtime: PythonRuntime, configuration: SidecarConfiguration, port: Int,
                            host: [String: String]) -> [String: String] {
        var environment = host.filter { !$0.key.hasPrefix("CAGENT_") && !$0.key.hasPrefix("PYTHON") }
        environment.merge(configuration.serviceEnvironment) { $1 }
        environment["CAGENT_TOKEN"] = configuration.token
        environment["CAGENT_HOST"] = configuration.host
        environment["CAGENT_PORT"] = String(port)
        environment["CAGENT_LOG_LEVEL"] = configuration.logLevel
        // Line by line into the host's log, not in 8 KiB blocks.
        environment["PYTHONUNBUFFERED"] = "1"
        return environment
    }
}
