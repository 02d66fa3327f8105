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
    /// Where a bundle (`make bundle`) keeps its standard library, below the prefix: the
    /// sourceless `lib/pythonX.Y` as a folder of that name inside the zip. `sys.path` names
    /// the folder, not the archive: importlib.metadata reads the whole directory of every
    /// archive on `sys.path` (looking for dist-info folders; pydantic asks at start) and
    /// keeps it for the life of the process, ~0.6 KB per entry, while a folder inside an
    /// archive it passes over. CPython's own `lib/pythonXY.zip` would be such an archive
    /// on `sys.path`, so the bundle's is named otherwise and its paths given
    /// (``moduleSearchPaths``).
    public static let bundleStandardLibrary = "lib/stdlib.zip"
    /// Where a bundle keeps its requirements that are only compiled Python, below
    /// `lib/pythonX.Y`: the folder `site-packages` inside it goes on `sys.path` after the
    /// standard library, for the same reason. Their dist-info folders stay files in
    /// `dist-packages`, where importlib.metadata lists them.
    public static let bundleRequirements = "dist-packages/requirements.zip"

    /// `PyConfig.program_name`: a venv's `bin/python` makes `sys.prefix` the venv.
    public var programName: String?
    /// `PyConfig.home`, for a standalone prefix (a bundle).
    public var home: String?
    /// `PyConfig.module_search_paths`, when CPython would not find the standard library
    /// itself (a bundle's: ``bundleStandardLibrary``).
    public var moduleSearchPaths: [String]?

    public init(programName: String?, home: String? = nil, moduleSearchPaths: [String]? = nil) {
        self.programName = programName
        self.home = home
        self.moduleSearchPaths = moduleSearchPaths
    }
}
