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
    /// How the interpreter starts on it.
    public var interpreter: InterpreterPaths
    /// The service's folder (`python/`, with `main.py`).
    public var serviceDirectory: String
    /// The folder holding the `cagent_host` package.
    public var hostModulesDirectory: String
}

extension PythonRuntime {
    public var programName: String? { interpreter.programName }
    public var home: String? { interpreter.home }
}

/// The `PyConfig` paths that start an interpreter on a runtime (``RuntimeLocator``).
public struct InterpreterPaths: Sendable, Equatable {
    /// `PyConfig.program_name`: a venv's `bin/python` makes `sys.prefix` the venv.
    public var programName: String?
    /// `PyConfig.home`, for a standalone prefix (a bundle).
    public var home: String?
    /// `PyConfig.module_search_paths`, when CPython would not find the standard library
    /// itself (a bundle's: ``RuntimeLocator/bundleStandardLibrary``).
    public var moduleSearchPaths: [String]?

    public init(programName: String?, home: String? = nil, moduleSearchPaths: [String]? = nil) {
        self.programName = programName
        self.home = home
        self.moduleSearchPaths = moduleSearchPaths
    }
}
