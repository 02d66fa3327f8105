import CPython

// Everyday operations. All of them require the GIL held by the caller (asserted in debug
// builds): wrap them in `GIL.withLock { ... }`. Each C call's NULL/-1 return becomes a
// `PythonError` carrying the exception, so the error indicator is never left set.

extension PythonObject {
    /// Wraps a new reference returned by a C API call, or throws the pending exception.
    static func checked(_ result: UnsafeMutablePointer<PyObject>?, _ context: @autoclosure () -> String) throws(PythonError) -> PythonObject {
        guard let result else { throw PythonError.fetchOrUnknown(context: context()) }
        return PythonObject(owning: result)
    }

    static func checkedStatus(_ status: Int32, _ context: @autoclosure () -> String) throws(PythonError) {
        if status < 0 { throw PythonError.fetchOrUnknown(context: context()) }
    }

    // MARK: Creating objects

    /// `import name` (dotted names return the leaf module, like `importlib.import_module`).
    public static func importModule(_ name: String) throws(PythonError) -> PythonObject {
        assertGILHeld()
        return try checked(PyImport_ImportModule(name), "import \(name)")
    }

    /// A `str` with exactly this text (embedded NUL included). Swift strings are always valid
    /// Unicode, so this only fails on memory exhaustion, which traps like a Swift allocation.
    public static func string(_ value: String) -> PythonObject {
        assertGILHeld()
        var value = value
        let result = value.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                PyUnicode_FromStringAndSize($0.baseAddress, $0.count)
            }
        }
        guard let result else { fatalError("PyUnicode_FromStringAndSize failed (out of memory)") }
        return PythonObject(owning: result)
    }

    /// An `int`. Traps only on memory exhaustion.
    public static func integer(_ value: Int) -> PythonObject {
        assertGILHeld()
        guard let result = PyLong_FromLongLong(Int64(value)) else { fatalError("PyLong_FromLongLong failed (out of memory)") }
        return PythonObject(owning: result)
    }

    /// A `float`. Traps only on memory exhaustion.
    public static func double(_ value: Double) -> PythonObject {
        assertGILHeld()
        guard let result = PyFloat_FromDouble(value) else { fatalError("PyFloat_FromDouble failed (out of memory)") }
        return PythonObject(owning: result)
    }

    /// `True` or `False`.
    public static func bool(_ value: Bool) -> PythonObject {
        PythonObject(borrowing: value ? cagent_True() : cagent_False())
    }

    /// A new reference to `None`.
    public static var none: PythonObject { PythonObject(borrowing: cagent_None()) }

    /// A new empty `dict`.
    public static func dict() -> PythonObject {
        assertGILHeld()
        guard let result = PyDict_New() else { fatalError("PyDict_New failed (out of memory)") }
        return PythonObject(owning: result)
    }

    // MARK: Inspecting

    public var isNone: Bool { cagent_IsNone(pointer) != 0 }

    /// Qualified type name: `int`, `collections.OrderedDict`, ... GIL held by the caller.
    public var typeName: String {
        assertGILHeld()
        return qualifiedTypeName(of: pointer)
    }

    /// `str(self)`. GIL held by the caller.
    public func str() throws(PythonError) -> String {
        assertGILHeld()
        let text = try PythonObject.checked(PyObject_Str(pointer), "str()")
        defer { keepAlive(text) }
        guard let string = utf8String(text.pointer) else {
            throw PythonError(typeName: "UnicodeEncodeError", message: "str() result contains lone surrogates")
        }
        return string
    }

    /// `repr(self)`. GIL held by the caller.
    public func repr() throws(PythonError) -> String {
        assertGILHeld()
        let text = try PythonObject.checked(PyObject_Repr(pointer), "repr()")
        defer { keepAlive(text) }
        return utf8String(text.pointer) ?? "<repr with lone surrogates>"
    }

    /// `bool(self)`. GIL held by the caller.
    public func isTruthy() throws(PythonError) -> Bool {
        assertGILHeld()
        let result = PyObject_IsTrue(pointer)
        try PythonObject.checkedStatus(result, "bool()")
        return result == 1
    }

    // MARK: Attributes and items

    /// `getattr(self, name)`.
    public func attribute(_ name: String) throws(PythonError) -> PythonObject {
        assertGILHeld()
        return try PythonObject.checked(PyObject_GetAttrString(pointer, name), "getattr(\(name))")
    }

    /// `setattr(self, name, value)`.
    public func setAttribute(_ name: String, _ value: PythonObject) throws(PythonError) {
        assertGILHeld()
        try PythonObject.checkedStatus(PyObject_SetAttrString(pointer, name, value.pointer), "setattr(\(name))")
    }

    /// `self[key]`.
    public func item(_ key: PythonObject) throws(PythonError) -> PythonObject {
        assertGILHeld()
        return try PythonObject.checked(PyObject_GetItem(pointer, key.pointer), "__getitem__")
    }

    /// `self[key]` with a `str` key, e.g. a name in a globals dict.
    public func item(_ key: String) throws(PythonError) -> PythonObject {
        try item(.string(key))
    }

    /// `self[key] = value`.
    public func setItem(_ key: PythonObject, _ value: PythonObject) throws(PythonError) {
        assertGILHeld()
        try PythonObject.checkedStatus(PyObject_SetItem(pointer, key.pointer, value.pointer), "__setitem__")
    }

    /// `self[key] = value` with a `str` key.
    public func setItem(_ key: String, _ value: PythonObject) throws(PythonError) {
        try setItem(.string(key), value)
    }

    // MARK: Calling

    /// `self(*args, **kwargs)`.
    public func call(_ args: [PythonObject], kwargs: [String: PythonObject] = [:]) throws(PythonError) -> PythonObject {
        assertGILHeld()
        let tuple = try PythonObject.tuple(args)
        defer { keepAlive(tuple) }
        guard !kwargs.isEmpty else {
            return try PythonObject.checked(PyObject_Call(pointer, tuple.pointer, nil), "call")
        }
        let dict = PythonObject.dict()
        defer { keepAlive(dict) }
        for (key, value) in kwargs {
            try PythonObject.checkedStatus(PyDict_SetItemString(dict.pointer, key, value.pointer), "kwargs[\(key)]")
        }
        return try PythonObject.checked(PyObject_Call(pointer, tuple.pointer, dict.pointer), "call")
    }

    /// `self(*args)`.
    @discardableResult
    public func call(_ args: PythonObject...) throws(PythonError) -> PythonObject {
        try call(args)
    }

    /// `self.name(*args, **kwargs)`.
    public func callMethod(_ name: String, _ args: [PythonObject], kwargs: [String: PythonObject] = [:]) throws(PythonError) -> PythonObject {
        try attribute(name).call(args, kwargs: kwargs)
    }

    /// `self.name(*args)`.
    @discardableResult
    public func callMethod(_ name: String, _ args: PythonObject...) throws(PythonError) -> PythonObject {
        try attribute(name).call(args)
    }

    /// A new `tuple` holding `items`.
    public static func tuple(_ items: [PythonObject]) throws(PythonError) -> PythonObject {
        assertGILHeld()
        let tuple = try checked(PyTuple_New(items.count), "PyTuple_New")
        for (index, item) in items.enumerated() {
            // PyTuple_SetItem steals a reference: hand it a new one.
            try checkedStatus(PyTuple_SetItem(tuple.pointer, index, item.newReference()), "PyTuple_SetItem")
        }
        return tuple
    }

    // MARK: Running code

    /// Executes `code` (statements, like a module body) in `globals` and returns the globals
    /// dict, where the snippet's definitions now live. With `globals` nil a fresh dict is used
    /// (with `__name__` = `"__bridge__"` so classes and dataclasses defined there work).
    /// `filename` appears in tracebacks. A `SystemExit` raised by the snippet is thrown, never
    /// acted on.
    @discardableResult
    public static func run(_ code: String, globals: PythonObject? = nil, filename: String = "<bridge>") throws(PythonError) -> PythonObject {
        let namespace = try prepareGlobals(globals)
        let compiled = try compile(code, filename: filename, mode: Py_file_input)
        defer { keepAlive(compiled) }
        _ = try checked(PyEval_EvalCode(compiled.pointer, namespace.pointer, namespace.pointer), "exec")
        return namespace
    }

    /// Evaluates the expression `code` in `globals` (a fresh namespace when nil) and returns
    /// its value.
    public static func evaluate(_ code: String, globals: PythonObject? = nil, filename: String = "<bridge>") throws(PythonError) -> PythonObject {
        let namespace = try prepareGlobals(globals)
        let compiled = try compile(code, filename: filename, mode: Py_eval_input)
        defer { keepAlive(namespace, compiled) }
        return try checked(PyEval_EvalCode(compiled.pointer, namespace.pointer, namespace.pointer), "eval")
    }

    private static func compile(_ code: String, filename: String, mode: Int32) throws(PythonError) -> PythonObject {
        assertGILHeld()
        guard !code.utf8.contains(0) else {
            throw PythonError(typeName: "ValueError", message: "source code string cannot contain null bytes")
        }
        return try checked(Py_CompileStringExFlags(code, filename, mode, nil, -1), "compile(\(filename))")
    }

    private static func prepareGlobals(_ globals: PythonObject?) throws(PythonError) -> PythonObject {
        assertGILHeld()
        let namespace = globals ?? dict()
        guard cagent_Dict_Check(namespace.pointer) != 0 else {
            throw PythonError(typeName: "TypeError", message: "globals must be a dict, not \(namespace.typeName)")
        }
        // What PyRun_String does: code run without __builtins__ would have no builtins.
        if PyDict_GetItemString(namespace.pointer, "__builtins__") == nil {  // borrowed
            try checkedStatus(PyDict_SetItemString(namespace.pointer, "__builtins__", PyEval_GetBuiltins()), "set __builtins__")
        }
        if globals == nil {
            let name = string("__bridge__")
            defer { keepAlive(name) }
            try checkedStatus(PyDict_SetItemString(namespace.pointer, "__name__", name.pointer), "set __name__")
        }
        return namespace
    }
}

extension PythonObject: CustomStringConvertible, CustomDebugStringConvertible {
    /// `str(self)`. Safe from any thread: takes the GIL itself (reentrant), and describes
    /// rather than touches an object whose interpreter is gone.
    public var description: String {
        rendered(by: { PyObject_Str($0) }, failure: "unprintable", resultType: "str")
    }

    /// `repr(self)`, with the same safety as `description`.
    public var debugDescription: String {
        rendered(by: { PyObject_Repr($0) }, failure: "unrepresentable", resultType: "repr")
    }

    /// What `str` and `repr` share: `convert` (`PyObject_Str` or `PyObject_Repr`) under
    /// the GIL, and a text naming the failure instead of an exception wherever Python cannot answer
    /// (`<failure TYPE object>`, a `resultType` with lone surrogates, no interpreter).
    private func rendered(
        by convert: (UnsafeMutablePointer<PyObject>) -> UnsafeMutablePointer<PyObject>?,
        failure: String, resultType: String
    ) -> String {
        guard isAlive else { return "<PythonObject from finalized interpreter generation \(generation)>" }
        let text = GIL.withLockIfAvailable { () -> String in
            guard let text = convert(pointer) else {
                PyErr_Clear()
                return "<\(failure) \(qualifiedTypeName(of: pointer)) object>"
            }
            defer { Py_DecRef(text) }
            return utf8String(text) ?? "<\(resultType) with lone surrogates>"
        }
        return text ?? "<PythonObject: interpreter not running>"
    }
}
