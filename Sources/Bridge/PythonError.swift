import CPython

/// A Python exception as a Swift error: what was raised, its message and traceback.
///
/// `SystemExit` and `KeyboardInterrupt` arrive here like any other exception — the Bridge
/// never calls `PyErr_Print`, which is what would exit the process on `SystemExit`.
public struct PythonError: Error, Sendable, CustomStringConvertible {
    /// Qualified type name: `ValueError` for builtins, otherwise `module.QualName`, e.g.
    /// `pydantic_core._pydantic_core.ValidationError`.
    public let typeName: String
    /// `str(exception)`.
    public let message: String
    /// `"".join(traceback.format_exception(exception))`: the text Python would print,
    /// including chained causes. Empty if formatting itself failed.
    public let traceback: String
    /// The exception object itself, when this error came from Python: lets a Swift function
    /// called from Python re-raise the very same exception (`restore()`). Holding it keeps
    /// the traceback's frames alive until this error is dropped.
    public let exception: PythonObject?

    public init(typeName: String, message: String, traceback: String = "", exception: PythonObject? = nil) {
        self.typeName = typeName
        self.message = message
        self.traceback = traceback
        self.exception = exception
    }

    public var description: String {
        let head = message.isEmpty ? typeName : "\(typeName): \(message)"
        return traceback.isEmpty ? head : "\(head)\n\(traceback)"
    }

    /// Takes the current Python exception, clearing the error indicator; `nil` if none is
    /// set. GIL held by the caller.
    ///
    /// CPython 3.11 has no `PyErr_GetRaisedException`: this is `PyErr_Fetch` +
    /// `PyErr_NormalizeException` (so the value is an exception instance) +
    /// `PyException_SetTraceback` (so the instance carries its traceback).
    public static func fetch() -> PythonError? {
        assertGILHeld()
        // All three are new references (or NULL) owned by us after PyErr_Fetch.
        var type: UnsafeMutablePointer<PyObject>?
        var value: UnsafeMutablePointer<PyObject>?
        var traceback: UnsafeMutablePointer<PyObject>?
        PyErr_Fetch(&type, &value, &traceback)
        guard type != nil else {
            Py_DecRef(value)  // Py_DecRef accepts NULL
            Py_DecRef(traceback)
            return nil
        }
        PyErr_NormalizeException(&type, &value, &traceback)
        defer {
            Py_DecRef(type)
            Py_DecRef(traceback)
        }
        guard let value else {
            let name = type.map { qualifiedTypeName(ofType: $0) } ?? "<unknown>"
            return PythonError(typeName: name, message: "")
        }
        let exception = PythonObject(owning: value)  // takes our reference to value
        if let traceback {
            _ = PyException_SetTraceback(value, traceback)  // does not steal
        }
        let typeName = qualifiedTypeName(ofType: UnsafeMutableRawPointer(Py_TYPE(value)).assumingMemoryBound(to: PyObject.self))
        return PythonError(
            typeName: typeName,
            message: safeString(value) ?? "<unprintable \(typeName) object>",
            traceback: formatTraceback(value),
            exception: exception)
    }

    /// `fetch()`, or — for a C API call that returned NULL/-1 without setting an exception —
    /// a `SystemError` naming `context`, as CPython itself reports that situation.
    public static func fetchOrUnknown(context: String) -> PythonError {
        fetch() ?? PythonError(
            typeName: "SystemError",
            message: "\(context) failed without setting a Python exception")
    }

    /// Sets this error as the current Python exception (for returning NULL to Python).
    /// The original exception object if there is one, otherwise a `RuntimeError` carrying
    /// the description. GIL held by the caller.
    public func restore() {
        assertGILHeld()
        if let exception, exception.isAlive, cagent_ExceptionInstance_Check(exception.pointer) != 0 {
            let value = exception.pointer
            let type = UnsafeMutableRawPointer(Py_TYPE(value)).assumingMemoryBound(to: PyObject.self)
            Py_IncRef(type)
            Py_IncRef(value)
            // PyErr_Restore steals all three; GetTraceback returns a new reference or NULL.
            PyErr_Restore(type, value, PyException_GetTraceback(value))
        } else {
            cagent_Err_SetString(cagent_Exc_RuntimeError(), message.isEmpty ? typeName : "\(typeName): \(message)")
        }
    }

    /// Whether this is a `SystemExit` (e.g. `sys.exit()` in the snippet or service).
    public var isSystemExit: Bool { typeName == "SystemExit" }
}

// MARK: - Helpers (GIL held; none of them leaves an exception set)

/// `module.QualName` of a type object, or just `QualName` for builtins.
func qualifiedTypeName(ofType type: UnsafeMutablePointer<PyObject>) -> String {
    let qualname = attributeString(type, "__qualname__")
    let module = attributeString(type, "__module__")
    guard let qualname else {
        // Fall back to tp_name, which for static types is already "module.Name".
        let typeObject = UnsafeMutableRawPointer(type).assumingMemoryBound(to: PyTypeObject.self)
        return typeObject.pointee.tp_name.map { String(cString: $0) } ?? "<unknown>"
    }
    if let module, module != "builtins" { return "\(module).\(qualname)" }
    return qualname
}

/// The qualified type name of an object.
func qualifiedTypeName(of object: UnsafeMutablePointer<PyObject>) -> String {
    qualifiedTypeName(ofType: UnsafeMutableRawPointer(Py_TYPE(object)).assumingMemoryBound(to: PyObject.self))
}

private func attributeString(_ object: UnsafeMutablePointer<PyObject>, _ name: String) -> String? {
    guard let attribute = PyObject_GetAttrString(object, name) else {  // new reference
        PyErr_Clear()
        return nil
    }
    defer { Py_DecRef(attribute) }
    guard cagent_Unicode_Check(attribute) != 0 else { return nil }
    return utf8String(attribute)
}

/// `str(object)`, or nil (error cleared) if `__str__` raised or returned something odd.
func safeString(_ object: UnsafeMutablePointer<PyObject>) -> String? {
    guard let text = PyObject_Str(object) else {  // new reference
        PyErr_Clear()
        return nil
    }
    defer { Py_DecRef(text) }
    return utf8String(text)
}

/// The exact contents of a `str` object; nil (error cleared) if it holds lone surrogates.
func utf8String(_ unicode: UnsafeMutablePointer<PyObject>) -> String? {
    var size: Py_ssize_t = 0
    // Borrowed buffer cached inside the str object; valid while `unicode` lives.
    guard let bytes = PyUnicode_AsUTF8AndSize(unicode, &size) else {
        PyErr_Clear()
        return nil
    }
    return bytes.withMemoryRebound(to: UInt8.self, capacity: size) {
        String(decoding: UnsafeBufferPointer(start: $0, count: size), as: UTF8.self)
    }
}

/// `"".join(traceback.format_exception(exception))`, or "" if that fails.
private func formatTraceback(_ exception: UnsafeMutablePointer<PyObject>) -> String {
    guard let module = PyImport_ImportModule("traceback") else {  // new reference
        PyErr_Clear()
        return ""
    }
    defer { Py_DecRef(module) }
    guard let format = PyObject_GetAttrString(module, "format_exception") else {  // new reference
        PyErr_Clear()
        return ""
    }
    defer { Py_DecRef(format) }
    guard let lines = PyObject_CallOneArg(format, exception) else {  // new reference
        PyErr_Clear()
        return ""
    }
    defer { Py_DecRef(lines) }
    guard let empty = PyUnicode_FromString("") else { PyErr_Clear(); return "" }
    defer { Py_DecRef(empty) }
    guard let joined = PyUnicode_Join(empty, lines) else {
        PyErr_Clear()
        return ""
    }
    defer { Py_DecRef(joined) }
    return utf8String(joined) ?? ""
}
