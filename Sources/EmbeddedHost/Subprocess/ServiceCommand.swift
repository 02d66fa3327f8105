import Foundation

/// The command line and environment of the child service: exactly
/// `cd <service> && <runtime>/bin/python -m uvicorn main:app --host H --port P`, plus
/// uvicorn options that match the embedded backend's server.
enum ServiceCommand {
    static func make(runtime: PythonRuntime, configuration: SidecarConfiguration, port: Int,
                     hostEnvironment: [String: String] = ProcessInfo.processInfo.environment) throws(SidecarError) -> ChildProcess.Command {
        guard let python = runtime.programName, FileManager.default.isExecutableFile(atPath: python) else {
            // A bundle links the interpreter into the host and ships no python executable.
            let hint = runtime.source == .bundle
                ? "; this bundle has none (its interpreter is linked into the host): pass --python-home with a virtual environment"
                : ""
            throw .runtimeInvalid(
                path: runtime.programName ?? runtime.home ?? runtime.serviceDirectory,
                reason: "the subprocess backend needs a python executable there\(hint)")
        }
        let graceful = max(1, Int(configuration.shutdownTimeout.seconds * 0.4))
        let arguments = [
            python, "-m", "uvicorn", "main:app",
            "--host", configuration.host, "--port", String(port),
            "--log-level", configuration.logLevel,
            "--loop", configuration.eventLoop, "--http", configuration.httpProtocol,
            // The service logs its own requests (RequestLog), as in the embedded backend.
            "--no-access-log",
            // Open SSE streams must not hold a SIGTERM past the host's shutdown timeout.
            "--timeout-graceful-shutdown", String(graceful),
        ]
        return ChildProcess.Command(
            executable: python, arguments: arguments,
            environment: environment(runtime: runtime, configuration: configuration, port: port, host: hostEnvironment),
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
        if let home = runtime.home { environment["PYTHONHOME"] = home }
        return environment
    }
}
