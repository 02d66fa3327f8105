import CPython

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// A Swift closure callable from Python.
//
// Ownership: the Python function object holds (as its `self`) a PyCapsule, the capsule holds
// a retained `FunctionContext`, and the context owns the closure, the heap-allocated
// `PyMethodDef` the function points at, and the strdup'd name the def points at. When Python
// drops the function, the capsule's destructor releases the context, which frees the rest —
// in that order, so the def outlives the function object (CPython requires it). No globals.

extension PythonObject {
    /// A Python callable (`builtin_function_or_method`) that runs `body` with the positional
    /// arguments. Keyword arguments are refused by Python itself (`METH_VARARGS`).
    ///
    /// `body` runs on the calling Python thread with the GIL held: it may use Python
    /// directly. A `PythonError` it throws re-raises the original Python exception; a
    /// `PythonConversionError` raises `TypeError`; any other error raises `RuntimeError`
    /// with the error's description. GIL held by the caller of `function`.
    public static func function(
        name: String,
        _ body: @escaping @Sendable (_ args: [PythonObject]) throws -> PythonObject
    ) -> PythonObject {
        assertGILHeld()
        let context = FunctionContext(name: name, body: body)
        let opaque = Unmanaged.passRetained(context).toOpaque()
        guard let capsule = PyCapsule_New(opaque, cagent_function_capsule_name(), functionCapsuleDestructor) else {
            Unmanaged<FunctionContext>.fromOpaque(opaque).release()
            fatalError("PyCapsule_New failed (out of memory)")
        }
        // PyCFunction_NewEx takes its own reference to the capsule; ours goes at scope end,
        // which (on failure) runs the destructor and frees the context.
        defer { Py_DecRef(capsule) }
        guard let function = PyCFunction_NewEx(context.definition, capsule, nil) else {
            fatalError("PyCFunction_NewEx failed (out of memory)")
        }
        return PythonObject(owning: function)
    }

    /// `function(name:_:)` for JSON-shaped functions: arguments arrive as `JSON`s and
    /// the result is converted back. A non-convertible argument raises `TypeError` naming the
    /// argument (`$[1]...`).
    public static func functionJSON(
        name: String,
        _ body: @escaping @Sendable (_ args: [JSON]) throws -> JSON
    ) -> PythonObject {
        function(name: name) { args in
            var values: [JSON] = []
            values.reserveCapacity(args.count)
            for (index, arg) in args.enumerated() {
                do throws(PythonConversionError) {
                    values.append(try JSON(python: arg))
                } catch {
                    throw PythonConversionError(
                        path: "argument \(index) \(error.path)", message: error.message, pythonError: error.pythonError)
                }
            }
            return try PythonObject(json: body(values))
        }
    }
}

/// What the capsule keeps alive for one Swift function.
final class FunctionContext {
    let body: @Sendable ([PythonObject]) throws -> PythonObject
    let name: UnsafeMutablePointer<CChar>
    let definition: UnsafeMutablePointer<PyMethodDef>

    init(name: String, body: @escaping @Sendable ([PythonObject]) throws -> PythonObject) {
        self.body = body
        self.name = strdup(name)
        self.definition = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        definition.initialize(to: PyMethodDef(
            ml_name: UnsafePointer(self.name),
            ml_meth: functionTrampoline,
            ml_flags: METH_VARARGS,
            ml_doc: nil))
    }

    deinit {
        definition.deinitialize(count: 1)
        definition.deallocate()
        free(name)
    }
}

/// `PyCFunction` for every Swift function: `capsule` is the function's `self`, `args` the
/// positional tuple (both borrowed). Returns a new reference, or NULL with an exception set.
private let functionTrampoline: PyCFunction = { capsule, args in
    guard let capsule,
          let raw = PyCapsule_GetPointer(capsule, cagent_function_capsule_name())  // sets an error on mismatch
    else { return nil }
    let context = Unmanaged<FunctionContext>.fromOpaque(raw).takeUnretainedValue()

    var arguments: [PythonObject] = []
    if let args {
        let count = PyTuple_Size(args)
        arguments.reserveCapacity(count)
        for index in 0..<count {
            guard let item = cagent_Tuple_GetItem(args, index) else { continue }  // borrowed
            arguments.append(PythonObject(borrowing: item))
        }
    }

    do {
        let result = try context.body(arguments)
        return result.newReference()  // the caller receives a new reference
    } catch let error as PythonError {
        error.restore()
    } catch let error as PythonConversionError {
        cagent_Err_SetString(cagent_Exc_TypeError(), error.description)
    } catch {
        cagent_Err_SetString(cagent_Exc_RuntimeError(), String(describing: error))
    }
    return nil
}

/// Runs when the capsule dies (GIL held): releases the context, freeing the closure,
/// the method definition and its name.
private let functionCapsuleDestructor: PyCapsule_Destructor = { capsule in
    guard let capsule, let raw = PyCapsule_GetPointer(capsule, cagent_function_capsule_name()) else {
        PyErr_Clear()
        return
    }
    Unmanaged<FunctionContext>.fromOpaque(raw).release()
}
