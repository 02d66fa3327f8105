import Testing
@testable import Bridge
import CPython

extension BridgeTests {
    @Suite struct PythonErrors {
        /// Runs `code` and returns the PythonError it raised (checking the indicator is clear).
        func raised(_ code: String) throws -> PythonError? {
            try withPython { () -> PythonError? in
                do throws(PythonError) {
                    try PythonObject.run(code)
                    return nil
                } catch {
                    #expect(PyErr_Occurred() == nil)
                    return error
                }
            }
        }

        @Test func typeMessageAndTraceback() throws {
            let error = try #require(try raised("""
                def inner(x):
                    raise ValueError(f"bad value {x}")
                def outer():
                    inner(42)
                outer()
                """))
            #expect(error.typeName == "ValueError")
            #expect(error.message == "bad value 42")
            #expect(error.traceback.hasPrefix("Traceback (most recent call last):"))
            #expect(error.traceback.contains("File \"<bridge>\", line 2, in inner"))
            #expect(error.traceback.contains("in outer"))
            #expect(error.traceback.hasSuffix("ValueError: bad value 42\n"))
            #expect(error.description.hasPrefix("ValueError: bad value 42\nTraceback"))
            #expect(error.exception != nil)
        }

        @Test(arguments: [
            ("import json\njson.loads('{')", "json.decoder.JSONDecodeError"),
            ("class Outer:\n    class Oops(Exception): pass\nraise Outer.Oops('x')", "__bridge__.Outer.Oops"),
            ("import no_such_module_for_bridge_tests", "ModuleNotFoundError"),
        ])
        func qualifiedTypeNames(code: String, typeName: String) throws {
            let error = try #require(try raised(code))
            #expect(error.typeName == typeName)
        }

        @Test func chainedExceptionsAppearInTheTraceback() throws {
            let error = try #require(try raised("""
                try:
                    {}['k']
                except KeyError as e:
                    raise RuntimeError('wrapped') from e
                """))
            #expect(error.typeName == "RuntimeError")
            #expect(error.traceback.contains("KeyError: 'k'"))
            #expect(error.traceback.contains("The above exception was the direct cause"))
        }

        @Test func systemExitAndKeyboardInterruptAreCapturedNotActedOn() throws {
            let exit = try #require(try raised("import sys\nsys.exit(3)"))
            #expect(exit.typeName == "SystemExit")
            #expect(exit.isSystemExit)
            #expect(exit.message == "3")
            let interrupt = try #require(try raised("raise KeyboardInterrupt"))
            #expect(interrupt.typeName == "KeyboardInterrupt")
            // Still alive and well.
            #expect(try pyJSON("1 + 1") == 2)
        }

        @Test func unprintableExceptionsStillConvert() throws {
            let error = try #require(try raised("""
                class Weird(Exception):
                    def __str__(self): raise RuntimeError('no str for you')
                raise Weird()
                """))
            #expect(error.typeName == "__bridge__.Weird")
            #expect(error.message == "<unprintable __bridge__.Weird object>")
        }

        @Test func syntaxErrorsCarryTheirLocation() throws {
            let error = try #require(try raised("def broken(:\n    pass"))
            #expect(error.typeName == "SyntaxError")
            #expect(error.traceback.contains("<bridge>"))
        }

        @Test func fetchWithoutAnExceptionIsNil() throws {
            try withPython {
                #expect(PythonError.fetch() == nil)
                let unknown = PythonError.fetchOrUnknown(context: "PyFoo")
                #expect(unknown.typeName == "SystemError")
                #expect(unknown.message.contains("PyFoo"))
                // A C-level error set directly is fetched and cleared.
                cagent_Err_SetString(cagent_Exc_ValueError(), "from C")
                let error = try #require(PythonError.fetch())
                #expect(error.typeName == "ValueError")
                #expect(error.message == "from C")
                #expect(PyErr_Occurred() == nil)
            }
        }

        @Test func restoreReRaisesTheSameObject() throws {
            try withPython {
                let error = try #require(try raised("raise ValueError('v')"))
                error.restore()
                let again = try #require(PythonError.fetch())
                #expect(again.exception?.pointer == error.exception?.pointer)
                #expect(again.typeName == "ValueError")
            }
        }
    }
}

extension PythonError: Equatable {
    public static func == (a: PythonError, b: PythonError) -> Bool {
        a.typeName == b.typeName && a.message == b.message && a.traceback == b.traceback
    }
}
