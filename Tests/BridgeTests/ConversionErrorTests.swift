import Testing
@testable import Bridge
import CPython

/// The error `body` throws, or nil.
func conversionFailure(_ body: () throws(PythonConversionError) -> Void) -> PythonConversionError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

extension BridgeTests {
    @Suite struct ConversionErrors {
        func conversionError(_ expression: String, setup: String = "") throws -> PythonConversionError? {
            try withPython {
                let globals = try PythonObject.run(setup)
                let value = try PythonObject.evaluate(expression, globals: globals)
                let error = conversionFailure { () throws(PythonConversionError) in _ = try JSON(python: value) }
                #expect(PyErr_Occurred() == nil, "conversion must not leave an exception set")
                return error
            }
        }

        @Test func unsupportedTypeNamesTypeAndPath() throws {
            let error = try #require(try conversionError("{'a': [1, 2, {3}]}"))
            #expect(error.description == "$.a[2]: cannot convert 'set' to JSON")
            #expect(error.path == "$.a[2]")
        }

        @Test func oddKeysAreQuotedInThePath() throws {
            let error = try #require(try conversionError("{'odd key': [object()]}"))
            #expect(error.description == "$[\"odd key\"][0]: cannot convert 'object' to JSON")
        }

        /// User classes are named with their module, like the library's own types.
        @Test(arguments: [
            ("[Foo()]", "class Foo: pass", "$[0]: cannot convert '__bridge__.Foo' to JSON"),
            ("{'b': b'x'}", "", "$.b: cannot convert 'bytes' to JSON"),
            ("__import__('decimal').Decimal('1.5')", "", "$: cannot convert 'decimal.Decimal' to JSON"),
        ])
        func userClassesAreNamedWithTheirModule(expression: String, setup: String, description: String) throws {
            let error = try #require(try conversionError(expression, setup: setup))
            #expect(error.description == description)
        }

        @Test func nonStringKeysAreRefused() throws {
            let error = try #require(try conversionError("{'ok': {1: 'x'}}"))
            #expect(error.description == "$.ok: dict keys must be str, found a key of type 'int'")
            let tupleKey = try #require(try conversionError("{(1, 2): 'x'}"))
            #expect(tupleKey.message.contains("'tuple'"))
        }

        @Test func loneSurrogatesAreRefused() throws {
            let error = try #require(try conversionError("['ok', '\\ud800']"))
            #expect(error.path == "$[1]")
            #expect(error.message.contains("lone surrogate"))
            let key = try #require(try conversionError("{'\\udfff': 1}"))
            #expect(key.message.contains("lone surrogate"))
        }

        @Test func canonicallyEquivalentKeysAreRefusedNotMerged() throws {
            let error = try #require(try conversionError("{'\\u00e9': 1, 'e\\u0301': 2}"))
            #expect(error.message.contains("canonically equivalent"))
        }

        @Test func selfReferenceHitsTheDepthLimit() throws {
            let error = try #require(try conversionError("l", setup: "l = []\nl.append(l)"))
            #expect(error.message.contains("nesting deeper than \(JSON.defaultMaxDepth)"))
            #expect(error.path.hasPrefix("$[0][0][0]"))
            let dict = try #require(try conversionError("d", setup: "d = {}\nd['self'] = d"))
            #expect(dict.path.hasPrefix("$.self.self"))
            // A custom limit.
            let shallow = try withPython {
                let value = try PythonObject.evaluate("[[[1]]]")
                return conversionFailure { () throws(PythonConversionError) in _ = try JSON(python: value, maxDepth: 2) }
            }
            #expect(shallow?.path == "$[0][0]")
        }

        @Test func intsBeyondThePythonDigitLimitAreAClearError() throws {
            let error = try #require(try conversionError("10**5000"))
            #expect(error.message.contains("decimal digits"))
            #expect(error.pythonError?.typeName == "ValueError")
        }

        @Test func invalidBigIntegerDigitsAreRefused() throws {
            for bad in ["", "-", "12a", "1_000", " 1", "0x10", "+5", "1.5"] {
                let error = try withPython {
                    conversionFailure { () throws(PythonConversionError) in _ = try PythonObject(json: ["n": [.bigInteger(bad)]]) }
                }
                #expect(error?.path == "$.n[0]", "\(bad.debugDescription)")
            }
        }

        @Test func deepSwiftValuesHitTheDepthLimit() throws {
            var deep: JSON = 1
            for _ in 0..<(JSON.defaultMaxDepth + 5) { deep = [deep] }
            let error = try withPython {
                conversionFailure { () throws(PythonConversionError) in _ = try PythonObject(json: deep) }
            }
            #expect(error?.message.contains("nesting deeper") == true)
        }
    }
}
