import CPython

extension PythonInterpreter {
    /// Runs CPython as the `python` command would, with `arguments` as its command line
    /// (`["-m", "uvicorn", ...]`), and returns its exit status. Initializes, runs and
    /// finalizes on the calling thread; nothing else may use Python in this process.
    ///
    /// For hosts that link the interpreter and ship no `python` executable: they can run
    /// themselves as one. Like `python -I`: isolated from the user's `PYTHON*` variables
    /// and user site, and neither the script's folder nor the working directory is put on
    /// `sys.path` (uvicorn adds its `--app-dir` itself); Python's own signal handlers are
    /// installed, as in any `python` process.
    /// `moduleSearchPaths`: as ``InterpreterConfiguration/moduleSearchPaths``.
    public static func runMain(
        programName: String, pythonHome: String?, moduleSearchPaths: [String]? = nil, arguments: [String]
    ) -> Int32 {
        var config = PyConfig()
        let status: PyStatus = withUnsafeMutablePointer(to: &config) { cfg in
            PyConfig_InitIsolatedConfig(cfg)
            defer { PyConfig_Clear(cfg) }
            cfg.pointee.parse_argv = 1
            cfg.pointee.install_signal_handlers = 1
            var s = PyConfig_SetBytesString(cfg, &cfg.pointee.program_name, programName)
            if PyStatus_Exception(s) != 0 { return s }
            if let pythonHome {
                s = PyConfig_SetBytesString(cfg, &cfg.pointee.home, pythonHome)
                if PyStatus_Exception(s) != 0 { return s }
            }
            if let moduleSearchPaths {
                s = setModuleSearchPaths(cfg, moduleSearchPaths)
                if PyStatus_Exception(s) != 0 { return s }
            }
            s = withCStringArray([programName] + arguments) { argc, argv in
                PyConfig_SetBytesArgv(cfg, argc, argv)
            }
            if PyStatus_Exception(s) != 0 { return s }
            return Py_InitializeFromConfig(cfg)
        }
        if PyStatus_Exception(status) != 0 {
            // Py_ExitStatusException prints the message and exits; keep that behaviour.
            Py_ExitStatusException(status)
        }
        return Py_RunMain()
    }
}
