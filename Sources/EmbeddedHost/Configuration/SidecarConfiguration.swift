import FoundationEssentials

/// Everything a sidecar needs to start, as one value.
public struct SidecarConfiguration: Sendable {
    /// Loopback by default: the service is local-first.
    public var host: String = "127.0.0.1"
    /// 0 picks a free port.
    public var port: Int = 8765
    /// Required by every endpoint but `/health`.
    public var token: String
    /// Python's level names: critical, error, warning, info, debug, trace.
    public var logLevel: String = "info"
    /// An explicit runtime (a virtual environment or a Python prefix); see ``RuntimeLocator``.
    public var pythonHome: String?
    /// The service folder (`python/`, the one with `main.py`). When nil it is found beside
    /// the runtime: `python/` beside a project's `.venv` (also beside an explicit
    /// ``pythonHome``), `service/` beside a bundle's `runtime/`; see ``RuntimeLocator``.
    public var serviceDirectory: String?
    /// uvicorn's `--loop` (auto, asyncio, uvloop) and `--http` (auto, h11, httptools).
    public var eventLoop: String = "auto"
    public var httpProtocol: String = "auto"
    public var startTimeout: Duration = .seconds(30)
    public var shutdownTimeout: Duration = .seconds(5)
    /// Extra `CAGENT_*` settings for the service (agents dir, toolsets file, ...).
    public var serviceEnvironment: [String: String] = [:]
    /// Modules that, when loaded, make the host refuse a cold restart, on top of the
    /// built-in list (`cagent_host.generation.KNOWN_UNSAFE`).
    public var coldRestartUnsafeModules: [String] = []
    /// The subprocess backend's interpreter; see ``ChildInterpreter``.
    public var childInterpreter: ChildInterpreter = .runtime

    public init(token: String = AccessToken.generate()) {
        self.token = token
    }
}

/// Which interpreter runs the subprocess backend's child.
public enum ChildInterpreter: String, Sendable, CaseIterable {
    /// The runtime's own `python` executable (`.venv/bin/python`): plain uvicorn, as the
    /// service runs without this host. A bundle has none and uses ``host``.
    case runtime
    /// This executable run as `python` (`cagent-sidecar python -m uvicorn ...`): what a
    /// bundle does, here on any runtime.
    case host
    /// `cagent-python` beside this executable: CPython's own main linked against the
    /// host's libpython, without Swift. The bench's control: the embedded backend's
    /// interpreter build in a child process, so that comparing the two measures embedding
    /// and not two builds of CPython (Debian's libpython3.11.so runs Python ~20 % slower
    /// than its python3.11 executable; see docs/benchmarks.md).
    case libpython

    /// Where ``libpython`` expects `cagent-python`: beside this executable.
    public static var libpythonExecutable: String {
        PathString.join(RuntimeLocator.currentExecutableDirectory(), "cagent-python")
    }
}
