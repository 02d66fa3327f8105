import Testing
@testable import Bridge
import CPython
import Synchronization

/// Records deaths of `Context` objects, to observe the capsule destructor.
final class LifeSignal: Sendable {
    private let deaths: Mutex<Int>
    init() { deaths = Mutex(0) }
    var count: Int { deaths.withLock { $0 } }
    func died() { deaths.withLock { $0 += 1 } }
}

final class Context: Sendable {
    let signal: LifeSignal
    init(_ signal: LifeSignal) { self.signal = signal }
    deinit { signal.died() }
}

struct SwiftFailure: Error, CustomStringConvertible {
    let description: String
}

extension BridgeTests {
    @Suite struct SwiftFunctions {
        @Test func calledFromPythonWithArguments() throws {
            let result = try withPython {
                let add = PythonObject.function(name: "add") { args in
                    var total = 0
                    for arg in args { total += try JSON(python: arg).intValue ?? 0 }
                    return .integer(total)
                }
                let globals = PythonObject.dict()
                try globals.setItem("add", add)
                let value = try PythonObject.evaluate("(add(1, 2, 39), add(), add.__name__)", globals: globals)
                return try JSON(python: value)
            }
            #expect(result == [42, 0, "add"])
        }

        @Test func swiftErrorsBecomeRuntimeErrorCaughtInPython() throws {
            let caught = try withPython {
                let fail = PythonObject.function(name: "fail") { _ in
                    throw SwiftFailure(description: "swift says no")
                }
                let globals = PythonObject.dict()
                try globals.setItem("fail", fail)
                try PythonObject.run("""
                    try:
                        fail()
                    except RuntimeError as e:
                        caught = (type(e).__name__, str(e))
                    """, globals: globals)
                return try JSON(python: globals.item("caught"))
            }
            #expect(caught == ["RuntimeError", "swift says no"])
        }

        @Test func pythonErrorsPassThroughUnchanged() throws {
            let caught = try withPython {
                let relay = PythonObject.function(name: "relay") { args in
                    // Calls back into Python, which raises; the PythonError propagates.
                    try args[0].call()
                }
                let globals = PythonObject.dict()
                try globals.setItem("relay", relay)
                try PythonObject.run("""
                    class Custom(Exception): pass
                    original = Custom('from python')
                    def boom(): raise original
                    try:
                        relay(boom)
                    except Custom as e:
                        caught = (e is original, str(e))
                    """, globals: globals)
                return try JSON(python: globals.item("caught"))
            }
            #expect(caught == [true, "from python"])
        }

        @Test func conversionErrorsBecomeTypeError() throws {
            let caught = try withPython {
                let echo = PythonObject.functionJSON(name: "echo") { args in .array(args) }
                let globals = PythonObject.dict()
                try globals.setItem("echo", echo)
                try PythonObject.run("""
                    ok = echo(1, 'two', {'three': [3.0, None]}, 2**100)
                    try:
                        echo(1, {'a': {1, 2}})
                    except TypeError as e:
                        caught = str(e)
                    """, globals: globals)
                return try (JSON(python: globals.item("ok")), JSON(python: globals.item("caught")))
            }
            #expect(caught.0 == [1, "two", ["three": [3.0, nil]], .bigInteger("1267650600228229401496703205376")])
            #expect(caught.1 == "argument 1 $.a: cannot convert 'set' to JSON")
        }

        @Test func keywordArgumentsAreRefusedByPython() throws {
            let message = try withPython {
                let f = PythonObject.function(name: "positional_only") { _ in .none }
                let globals = PythonObject.dict()
                try globals.setItem("f", f)
                try PythonObject.run("""
                    try:
                        f(x=1)
                    except TypeError as e:
                        caught = str(e)
                    """, globals: globals)
                return try globals.item("caught").str()
            }
            #expect(message.contains("keyword"))
        }

        @Test func capsuleDestructorFreesTheContext() throws {
            let signal = LifeSignal()
            try withPython {
                do {
                    let context = Context(signal)
                    let f = PythonObject.function(name: "holds_context") { _ in
                        _ = context
                        return .none
                    }
                    try f.call()
                }
                // The only reference (ours) is gone: PyCFunction → capsule → destructor.
                #expect(signal.count == 1)

                // Kept by Python, freed when Python drops it.
                let globals = PythonObject.dict()
                do {
                    let context = Context(signal)
                    let f = PythonObject.function(name: "kept") { _ in
                        _ = context
                        return .none
                    }
                    try globals.setItem("kept", f)
                }
                #expect(signal.count == 1)
                try PythonObject.run("kept(); del kept", globals: globals)
                #expect(signal.count == 2)
            }
        }

        @Test func callableFromPythonThreads() throws {
            let result = try withPython {
                let square = PythonObject.functionJSON(name: "square") { args in
                    let n = args.first?.intValue ?? 0
                    return .integer(n * n)
                }
                let globals = PythonObject.dict()
                try globals.setItem("square", square)
                // join() releases the GIL; the Python threads take it and call into Swift.
                try PythonObject.run("""
                    import threading
                    out = [None] * 8
                    def work(i):
                        out[i] = sum(square(i) for _ in range(100))
                    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
                    for t in threads: t.start()
                    for t in threads: t.join()
                    """, globals: globals)
                return try JSON(python: globals.item("out"))
            }
            #expect(result == .array((0..<8).map { .integer($0 * $0 * 100) }))
        }
    }
}
