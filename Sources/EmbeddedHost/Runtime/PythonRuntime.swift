/// A Python installation the host can initialize its interpreter from.
public struct PythonRuntime: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// `--python-home` / ``SidecarConfiguration/pythonHome``.
        case explicit
        /// A runtime shipped beside the executable (`make bundle`).
        case bundle
        /// The project's `.venv`, made by `make setup`.
        case virtualEnvironment
    }

    public var source: Source
    /// The virtual environment or prefix itself, as ``RuntimeLocator`` accepts it.
    public var root: String
    /// `PyConfig.program_name`: a venv's `bin/python` makes `sys.prefix` the venv.
    public var programName: String?
    /// `PyConfig.home`, for a standalone prefix (a bundle).
    public var home: String?
    /// The service's folder (`python/`, with `main.py`).
    public var serviceDirectory: String
    /// The folder holding the `cagent_host` package.
    public var hostModulesDirectory: String
}
