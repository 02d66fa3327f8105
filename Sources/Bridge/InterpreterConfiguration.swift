/// How to start the embedded interpreter. Turned into a `PyConfig` by
/// `PythonInterpreter.initialize(_:)`.
public struct InterpreterConfiguration: Sendable {
    /// `PyConfig.program_name`. Point it at a virtual environment's `bin/python`: with an
    /// isolated config CPython then finds `pyvenv.cfg` beside it, `sys.prefix` becomes the
    /// venv, and nothing else leaks into `sys.path`. `nil` keeps CPython's default.
    public var programName: String?

    /// `PyConfig.home` (what `PYTHONHOME` would set): the prefix holding `lib/python3.11`,
    /// for a relocated runtime bundle. `nil` lets CPython compute it.
    public var pythonHome: String?

    /// `true` uses `PyConfig_InitIsolatedConfig`: the user's `PYTHON*` environment variables
    /// are ignored and there is no user site directory, so the host behaves the same on every
    /// machine. `false` uses `PyConfig_InitPythonConfig` (behaves like `python3`).
    public var isolated: Bool

    /// `PyConfig.install_signal_handlers`. Off by default: the Swift host owns process
    /// signals (docs/design.md, "Thread model"). Note that importing `signal` or `asyncio.run` on
    /// Python's main thread still installs a SIGINT handler; ignore SIGINT at the process
    /// level before initializing if that matters.
    public var installSignalHandlers: Bool

    /// `sys.argv`. Not parsed as interpreter options (isolated configs set `parse_argv = 0`).
    public var argv: [String]

    /// Directories put in front of `sys.path` after initialization, in this order. Done after
    /// init rather than through `module_search_paths`, which would replace the computed
    /// standard-library paths instead of extending them.
    public var extraSearchPaths: [String]

    /// `PyConfig.module_search_paths`, set: `sys.path` before `site` is exactly these, and
    /// CPython computes none. For a prefix whose standard library is not where CPython
    /// looks (a bundle keeps it in a folder inside a zip: `RuntimeLocator`). `nil` lets
    /// CPython compute them from the prefix.
    public var moduleSearchPaths: [String]?

    public init(
        programName: String? = nil,
        pythonHome: String? = nil,
        moduleSearchPaths: [String]? = nil,
        isolated: Bool = true,
        installSignalHandlers: Bool = false,
        argv: [String] = [],
        extraSearchPaths: [String] = []
    ) {
        self.programName = programName
        self.pythonHome = pythonHome
        self.moduleSearchPaths = moduleSearchPaths
        self.isolated = isolated
        self.installSignalHandlers = installSignalHandlers
        self.argv = argv
        self.extraSearchPaths = extraSearchPaths
    }
}

/// Why `PythonInterpreter.initialize(_:)` failed.
public struct PythonInitError: Error, Sendable, CustomStringConvertible {
    /// CPython's message (`PyStatus.err_msg`), or the Bridge's own reason.
    public let message: String
    /// The C function that failed, when CPython says (`PyStatus.func`).
    public let function: String?
    /// Set when CPython asked to exit instead of failing (`PyStatus_IsExit`), e.g. for
    /// `--help` style argv in a non-isolated config.
    public let exitCode: Int32?

    public init(message: String, function: String? = nil, exitCode: Int32? = nil) {
        self.message = message
        self.function = function
        self.exitCode = exitCode
    }

    public var description: String {
        var text = "Python initialization failed: \(message)"
        if let function { text += " (in \(function))" }
        if let exitCode { text += " (exit code \(exitCode))" }
        return text
    }
}
