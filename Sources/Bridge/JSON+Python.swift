import CPython

// Conversion between `JSON` (from CagentJSON) and Python objects. GIL held by the caller.
//
// Python -> JSON reads objects through the concrete C API (PyDict_Next, PyList_GET_ITEM,
// PyLong_AsLongLongAndOverflow, PyUnicode_AsUTF8AndSize, PyFloat_AS_DOUBLE), which never runs
// Python code, so no __eq__/__str__/__index__ of a subclass can mutate a container while it
// is being walked, and no other thread gets the GIL mid-conversion.

extension JSON {
    /// Deepest nesting converted by default. A self-referencing list hits this and fails
    /// cleanly instead of overflowing the stack.
    public static let defaultMaxDepth = 256

    /// Converts a Python value: `dict` (str keys only) → object, `list`/`tuple` → array,
    /// `str` → string (exact scalars; lone surrogates are an error), `bool` → bool,
    /// `int` → integer or bigInteger (any size), `float` → double (NaN/±inf/-0.0 kept),
    /// `None` → null; subclasses of these convert as their base. Anything else is an error
    /// naming the type and the path. GIL held by the caller.
    public init(python object: PythonObject, maxDepth: Int = JSON.defaultMaxDepth) throws(PythonConversionError) {
        assertGILHeld()
        var converter = PythonToJSON(maxDepth: maxDepth)
        self = try converter.convert(object.pointer, depth: 0)
    }
}

extension PythonObject {
    /// Builds the Python value for `json`: object → `dict` (insertion order unspecified),
    /// array → `list`, bigInteger → `int` (exact; digits validated), double → `float`.
    /// GIL held by the caller.
    public convenience init(json: JSON, maxDepth: Int = JSON.defaultMaxDepth) throws(PythonConversionError) {
        assertGILHeld()
        var converter = JSONToPython(maxDepth: maxDepth)
        let pointer = try converter.convert(json, depth: 0)
        self.init(owning: pointer)
    }
}

// MARK: - Python -> JSON

private struct PythonToJSON {
    let maxDepth: Int
    var path = ConversionPath()

    /// `object` is borrowed for the duration of the call.
    mutating func convert(_ object: UnsafeMutablePointer<PyObject>, depth: Int) throws(PythonConversionError) -> JSON {
        if cagent_IsNone(object) != 0 { return .null }
        // bool before int: bool is a subclass of int.
        if cagent_Bool_Check(object) != 0 { return .bool(object == cagent_True()) }
        if cagent_Long_Check(object) != 0 { return try integer(object) }
        if cagent_Float_Check(object) != 0 { return .double(cagent_Float_AsDouble(object)) }
        if cagent_Unicode_Check(object) != 0 {
            guard let string = utf8String(object) else {
                throw path.error("str contains a lone surrogate (not valid Unicode)")
            }
            return .string(string)
        }
        let isList = cagent_List_Check(object) != 0
        if isList || cagent_Tuple_Check(object) != 0 {
            try checkDepth(depth)
            let count = isList ? PyList_Size(object) : PyTuple_Size(object)
            var array: [JSON] = []
            array.reserveCapacity(count)
            for index in 0..<count {
                // Borrowed from the container, which nothing can mutate during conversion.
                let item = isList ? cagent_List_GetItem(object, index) : cagent_Tuple_GetItem(object, index)
                guard let item else { throw path.error("NULL item at index \(index)") }
                path.push(.index(index))
                array.append(try convert(item, depth: depth + 1))
                path.pop()
            }
            return .array(array)
        }
        if cagent_Dict_Check(object) != 0 {
            try checkDepth(depth)
            var dictionary: [String: JSON] = [:]
            dictionary.reserveCapacity(PyDict_Size(object))
            var position: Py_ssize_t = 0
            var key: UnsafeMutablePointer<PyObject>?
            var value: UnsafeMutablePointer<PyObject>?
            while PyDict_Next(object, &position, &key, &value) != 0 {  // borrowed key and value
                guard let key, let value else { continue }
                guard cagent_Unicode_Check(key) != 0 else {
                    throw path.error("dict keys must be str, found a key of type '\(qualifiedTypeName(of: key))'")
                }
                guard let keyString = utf8String(key) else {
                    throw path.error("dict key contains a lone surrogate (not valid Unicode)")
                }
                // Swift compares strings by canonical equivalence: "é" (U+00E9) and "e\u{301}"
                // are different Python keys but one Swift key. Refuse rather than drop one.
                if dictionary.index(forKey: keyString) != nil {
                    throw path.error("dict has keys that differ in Python but are canonically equivalent Unicode, which a Swift dictionary cannot keep apart: \(keyString.debugDescription)")
                }
                path.push(.key(keyString))
                dictionary[keyString] = try convert(value, depth: depth + 1)
                path.pop()
            }
            return .object(dictionary)
        }
        throw path.error("cannot convert '\(qualifiedTypeName(of: object))' to JSON")
    }

    private func checkDepth(_ depth: Int) throws(PythonConversionError) {
        if depth >= maxDepth {
            throw path.error("nesting deeper than \(maxDepth) levels (a container that contains itself?)")
        }
    }

    private func integer(_ object: UnsafeMutablePointer<PyObject>) throws(PythonConversionError) -> JSON {
        var overflow: Int32 = 0
        let value = PyLong_AsLongLongAndOverflow(object, &overflow)
        if overflow == 0 {
            if value == -1, PyErr_Occurred() != nil {
                throw path.error("cannot read int", pythonError: PythonError.fetch())
            }
            return .integer(Int(value))
        }
        // Exact int even for int subclasses (no __str__ override can run), then its digits.
        guard let exact = PyNumber_Index(object) else {  // new reference
            throw path.error("cannot read int", pythonError: PythonError.fetch())
        }
        defer { Py_DecRef(exact) }
        guard let digits = PyObject_Str(exact) else {  // new reference
            // e.g. ValueError past sys.get_int_max_str_digits() (4300 digits by default).
            let error = PythonError.fetch()
            throw path.error("cannot convert int to decimal digits: \(error?.message ?? "unknown error")", pythonError: error)
        }
        defer { Py_DecRef(digits) }
        guard let string = utf8String(digits) else { throw path.error("cannot read int digits") }
        return .bigInteger(string)
    }
}

// MARK: - JSON -> Python

private struct JSONToPython {
    let maxDepth: Int
    var path = ConversionPath()

    /// Returns a new reference owned by the caller.
    mutating func convert(_ value: JSON, depth: Int) throws(PythonConversionError) -> UnsafeMutablePointer<PyObject> {
        switch value {
        case .null:
            return newReference(cagent_None())
        case .bool(let flag):
            return newReference(flag ? cagent_True() : cagent_False())
        case .integer(let integer):
            return try check(PyLong_FromLongLong(Int64(integer)), "int")
        case .bigInteger(let digits):
            guard JSON.isDecimalInteger(digits) else {
                throw path.error("bigInteger must be decimal digits with an optional leading '-', got \(digits.debugDescription)")
            }
            return try check(PyLong_FromString(digits, nil, 10), "int")
        case .double(let double):
            return try check(PyFloat_FromDouble(double), "float")
        case .string(let string):
            var string = string
            let result = string.withUTF8 { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    PyUnicode_FromStringAndSize($0.baseAddress, $0.count)
                }
            }
            return try check(result, "str")
        case .array(let array):
            try checkDepth(depth)
            let list = try check(PyList_New(array.count), "list")
            for (index, element) in array.enumerated() {
                path.push(.index(index))
                let item: UnsafeMutablePointer<PyObject>
                do throws(PythonConversionError) {
                    item = try convert(element, depth: depth + 1)
                } catch {
                    Py_DecRef(list)  // the list's empty slots are NULL, which dealloc handles
                    throw error
                }
                path.pop()
                PyList_SetItem(list, index, item)  // steals `item`; index is in range
            }
            return list
        case .object(let object):
            try checkDepth(depth)
            let dict = try check(PyDict_New(), "dict")
            for (key, element) in object {
                path.push(.key(key))
                do throws(PythonConversionError) {
                    let pyKey = try convert(.string(key), depth: depth + 1)
                    defer { Py_DecRef(pyKey) }
                    let pyValue = try convert(element, depth: depth + 1)
                    defer { Py_DecRef(pyValue) }
                    if PyDict_SetItem(dict, pyKey, pyValue) != 0 {  // does not steal
                        throw path.error("cannot set dict item", pythonError: PythonError.fetch())
                    }
                } catch {
                    Py_DecRef(dict)
                    throw error
                }
                path.pop()
            }
            return dict
        }
    }

    private func newReference(_ object: UnsafeMutablePointer<PyObject>) -> UnsafeMutablePointer<PyObject> {
        Py_IncRef(object)
        return object
    }

    private func check(_ result: UnsafeMutablePointer<PyObject>?, _ what: String) throws(PythonConversionError) -> UnsafeMutablePointer<PyObject> {
        guard let result else {
            let error = PythonError.fetch()
            throw path.error("cannot create \(what): \(error.map { "\($0.typeName): \($0.message)" } ?? "unknown error")", pythonError: error)
        }
        return result
    }

    private func checkDepth(_ depth: Int) throws(PythonConversionError) {
        if depth >= maxDepth { throw path.error("nesting deeper than \(maxDepth) levels") }
    }
}
