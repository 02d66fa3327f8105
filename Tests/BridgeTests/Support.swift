import Testing
@testable import Bridge
import CPython
import Foundation

/// All Bridge tests share the process's one interpreter; they run serialized so that
/// measurements (reference counts, RSS) are not disturbed by other tests. The concurrency
/// test spawns its own parallel work.
@Suite(.serialized) struct BridgeTests {}

/// The process's interpreter, initialized once (isolated config, standard library only) and
/// never finalized here: initialize/finalize cycles are tested by the host in child processes.
enum TestInterpreter {
    static let ready: Void = {
        if PythonInterpreter.isInitialized { return }
        do {
            try PythonInterpreter.initialize(InterpreterConfiguration())
        } catch {
            // Another test target in the same process may have started it first.
            if !PythonInterpreter.isInitialized { fatalError("cannot initialize Python for tests: \(error)") }
        }
    }()
}

/// Runs `body` holding the GIL, initializing the shared interpreter on first use.
func withPython<T>(_ body: () throws -> T) throws -> T {
    TestInterpreter.ready
    return try GIL.withLock(body)
}

/// `eval(expression)` in a fresh namespace (or `globals`).
func py(_ expression: String, _ globals: PythonObject? = nil) throws -> PythonObject {
    try PythonObject.evaluate(expression, globals: globals)
}

/// Python value of `expression` as JSON.
func pyJSON(_ expression: String) throws -> JSON {
    try withPython { try JSON(python: py(expression)) }
}

/// JSON → Python → JSON.
func roundTrip(_ value: JSON) throws -> JSON {
    try withPython { try JSON(python: PythonObject(json: value)) }
}

/// Resident set size of this process in bytes (Linux /proc; 0 elsewhere).
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
    return pages * 4096
}
