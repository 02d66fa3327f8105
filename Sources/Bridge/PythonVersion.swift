import CPython

/// The version string of the libpython this binary links, e.g. "3.11.2 (main, ...)".
public func linkedPythonVersion() -> String {
    String(cString: Py_GetVersion())
}
