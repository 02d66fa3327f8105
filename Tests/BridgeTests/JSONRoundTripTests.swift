import Testing
@testable import Bridge
import CPython
import Foundation

extension BridgeTests {
    @Suite struct JSONRoundTrip {
        static let scalars: [JSON] = [
            .null, true, false, 0, 1, -1, .integer(Int.max), .integer(Int.min),
            1.5, -2.25, 1e308, .double(.leastNonzeroMagnitude), .double(.infinity), .double(-.infinity),
            "", "plain", .bigInteger("9223372036854775808"), .bigInteger("-9223372036854775809"),
        ]

        @Test(arguments: scalars)
        func scalarRoundTrips(_ value: JSON) throws {
            #expect(try roundTrip(value) == value)
        }

        static let strings: [String] = [
            "😀",                          // astral plane (one Python code point, a surrogate pair in UTF-16)
            "\u{10FFFF}\u{10000}",         // plane edges
            "a\u{0}b\u{0}",                // embedded NUL
            "e\u{301}",                    // combining mark, decomposed
            "\u{E9}",                      // the same letter, precomposed
            "👩‍👩‍👧‍👦",                           // ZWJ sequence: 7 scalars, one Character
            "🇫🇷",                          // regional indicators
            "\u{FEFF}bom",                 // BOM kept
            "עברית العربية",               // RTL scripts
            "\r\n\t\\\"'",
            String(repeating: "ß", count: 10_000),
        ]

        @Test(arguments: strings)
        func stringsKeepExactScalars(_ text: String) throws {
            let back = try roundTrip(.string(text))
            guard case .string(let result) = back else {
                Issue.record("not a string: \(back)")
                return
            }
            // Compare scalars, not String ==, which is canonical equivalence.
            #expect(Array(result.unicodeScalars) == Array(text.unicodeScalars))
            // Python sees code points: len() equals the scalar count.
            let length = try withPython {
                try JSON(python: PythonObject.evaluate("len").call(PythonObject(json: .string(text))))
            }
            #expect(length == .integer(text.unicodeScalars.count))
        }

        @Test func combiningAndPrecomposedStayDistinctInPython() throws {
            let equal = try withPython {
                let globals = PythonObject.dict()
                try globals.setItem("a", PythonObject(json: .string("e\u{301}")))
                try globals.setItem("b", PythonObject(json: .string("\u{E9}")))
                return try JSON(python: PythonObject.evaluate("a == b", globals: globals))
            }
            #expect(equal == false)
        }

        @Test func hugeIntegersAreExact() throws {
            let cases: [(String, String)] = [
                ("2**200", "1606938044258990275541962092341162602522202993782792835301376"),
                ("-(2**200)", "-1606938044258990275541962092341162602522202993782792835301376"),
                ("2**63", "9223372036854775808"),
                ("-(2**63) - 1", "-9223372036854775809"),
            ]
            for (expression, digits) in cases {
                let value = try pyJSON(expression)
                #expect(value == .bigInteger(digits), "\(expression)")
                // And back into Python, compared there.
                let same = try withPython {
                    let globals = PythonObject.dict()
                    try globals.setItem("v", PythonObject(json: value))
                    return try JSON(python: PythonObject.evaluate("type(v) is int and v == \(expression)", globals: globals))
                }
                #expect(same == true, "\(expression)")
            }
            #expect(try pyJSON("2**63 - 1") == .integer(Int.max))
            #expect(try pyJSON("-(2**63)") == .integer(Int.min))
            // A bigInteger that fits Int normalizes to .integer.
            #expect(try roundTrip(.bigInteger("42")) == 42)
        }

        /// A Python int past Int64 read into `.bigInteger`, written as JSON text and read back
        /// (what an HTTP body does to it): exact within 128 bits, as a JSON number; past that,
        /// the nearest double, since a coder offers no wider integer type.
        @Test func bigIntegersSurviveJSONText() throws {
            for expression in ["2**63", "-(2**63) - 1", "2**100", "-(2**127)", "2**128 - 1"] {
                let value = try pyJSON(expression)
                let text = try JSONEncoder().encode(value)
                #expect(String(decoding: text, as: UTF8.self) == value.bigIntegerDigits, "\(expression)")
                let back = try JSONDecoder().decode(JSON.self, from: text)
                #expect(back == value, "\(expression)")
                let same = try withPython {
                    let globals = PythonObject.dict()
                    try globals.setItem("v", PythonObject(json: back))
                    return try JSON(python: PythonObject.evaluate("type(v) is int and v == \(expression)", globals: globals))
                }
                #expect(same == true, "\(expression)")
            }
            let past128Bits = try JSONDecoder().decode(JSON.self, from: JSONEncoder().encode(pyJSON("2**200")))
            #expect(past128Bits == .double(0x1p200))
        }

        @Test func boolIsNotInt() throws {
            #expect(try pyJSON("True") == .bool(true))
            #expect(try pyJSON("[True, 1, False, 0]") == [true, 1, false, 0])
            let isBool = try withPython {
                let globals = PythonObject.dict()
                try globals.setItem("v", PythonObject(json: .bool(true)))
                return try JSON(python: PythonObject.evaluate("v is True", globals: globals))
            }
            #expect(isBool == true)
        }

        @Test func floatsKeepSpecialValues() throws {
            #expect(try pyJSON("float('inf')") == .double(.infinity))
            #expect(try pyJSON("float('-inf')") == .double(-.infinity))
            guard case .double(let nan) = try pyJSON("float('nan')") else { Issue.record("nan"); return }
            #expect(nan.isNaN)
            guard case .double(let negativeZero) = try roundTrip(.double(-0.0)) else { Issue.record("-0.0"); return }
            #expect(negativeZero == 0 && negativeZero.sign == .minus)
            let pythonSeesNegativeZero = try withPython {
                let globals = PythonObject.dict()
                try globals.setItem("v", PythonObject(json: .double(-0.0)))
                return try JSON(python: PythonObject.evaluate("__import__('math').copysign(1, v)", globals: globals))
            }
            #expect(pythonSeesNegativeZero == -1.0)
            guard case .double(let nanBack) = try roundTrip(.double(.nan)) else { Issue.record("nan back"); return }
            #expect(nanBack.isNaN)
            #expect(try pyJSON("1.0") == .double(1.0))  // float stays float
        }

        @Test func nestedStructures() throws {
            let value: JSON = [
                "name": "agent",
                "ids": [1, .bigInteger("123456789012345678901234567890"), -3],
                "nested": ["deeper": ["deepest": [nil, true, 2.5, ["x": "ÿ😀"]]]],
                "empty_list": [],
                "empty_object": [:],
                "odd key with spaces": "v",
                "": "empty key",
            ]
            #expect(try roundTrip(value) == value)
            // Deep but within the limit.
            var deep: JSON = "leaf"
            for _ in 0..<200 { deep = [deep] }
            #expect(try roundTrip(deep) == deep)
        }

        @Test func pythonContainersConvert() throws {
            #expect(try pyJSON("(1, 'two', (3.0, None))") == [1, "two", [3.0, nil]])
            #expect(try pyJSON("{'a': {'b': [1, {'c': None}]}}") == ["a": ["b": [1, ["c": nil]]]])
            #expect(try pyJSON("__import__('collections').OrderedDict(a=1)") == ["a": 1])
            #expect(try pyJSON("__import__('enum').IntEnum('E', 'A B').B") == 2)
            // The converted list is a real Python list; objects become dicts.
            let types = try withPython {
                let globals = PythonObject.dict()
                try globals.setItem("v", PythonObject(json: ["a": [1, 2]]))
                return try JSON(python: PythonObject.evaluate("(type(v).__name__, type(v['a']).__name__)", globals: globals))
            }
            #expect(types == ["dict", "list"])
        }
    }
}

private extension JSON {
    /// The digits of a `.bigInteger`; nil for any other case.
    var bigIntegerDigits: String? {
        if case .bigInteger(let digits) = self { return digits }
        return nil
    }
}
