import Testing
@testable import Bridge
import CPython

extension BridgeTests {
    @Suite struct Interpreter {
        @Test func linkedVersionIs311() {
            #expect(linkedPythonVersion().hasPrefix("3.11"))
        }

        @Test func initializedIsolated() throws {
            let (version, isolated) = try withPython {
                let sys = try PythonObject.importModule("sys")
                let version = try JSON(python: sys.attribute("version_info").attribute("minor"))
                let isolated = try JSON(python: sys.attribute("flags").attribute("isolated"))
                return (version, isolated)
            }
            #expect(PythonInterpreter.isInitialized)
            #expect(version == 11)
            #expect(isolated == 1)
        }

        @Test func gilIsReentrantAndReleasedBetweenScopes() throws {
            TestInterpreter.ready
            #expect(!GIL.isHeldByCurrentThread)
            let inner = try GIL.withLock {
                #expect(GIL.isHeldByCurrentThread)
                let value = try GIL.withLock { () throws(PythonError) -> PythonObject in
                    #expect(GIL.isHeldByCurrentThread)
                    return try PythonObject.evaluate("6 * 7")
                }
                return try JSON(python: value).intValue ?? 0
            }
            #expect(inner == 42)
            #expect(GIL.withLockIfAvailable { 1 } == 1)
        }

        @Test func generationIsStableWhileRunning() throws {
            let object = try withPython { PythonObject.integer(5) }
            #expect(object.generation == PythonInterpreter.generation)
            #expect(object.isAlive)
            // description takes the GIL itself, so it works outside a scope.
            #expect(object.description == "5")
            #expect(object.debugDescription == "5")
        }

        @Test func objectHelpers() throws {
            try withPython {
                let globals = try PythonObject.run("""
                    class Box:
                        def __init__(self, v): self.v = v
                        def twice(self, k=1): return self.v * 2 * k
                    b = Box(21)
                    """)
                let box = try globals.item("b")
                #expect(box.typeName == "__bridge__.Box")
                #expect(try JSON(python: box.callMethod("twice")) == 42)
                #expect(try JSON(python: box.callMethod("twice", [], kwargs: ["k": .integer(2)])) == 84)
                try box.setAttribute("v", .string("ab"))
                #expect(try box.attribute("v").str() == "ab")
                #expect(PythonObject.none.isNone)
                #expect(try PythonObject.bool(true).isTruthy())
                #expect(try !PythonObject.string("").isTruthy())
                #expect(try PythonObject.double(1.5).repr() == "1.5")
                let tuple = try PythonObject.tuple([.integer(1), .string("x")])
                #expect(try tuple.repr() == "(1, 'x')")
                let len = try PythonObject.evaluate("len").call(PythonObject.string("a\u{0}b"))
                #expect(try JSON(python: len) == 3)
                #expect(throws: PythonError.self) { try PythonObject.importModule("no_such_module_for_bridge_tests") }
                #expect(throws: PythonError.self) { try box.attribute("missing") }
            }
        }
    }
}
