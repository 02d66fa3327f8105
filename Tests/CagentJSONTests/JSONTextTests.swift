import CagentJSON
import Foundation
import Testing

/// `JSON(parsing:)` and `JSON.text()`: the host's own JSON reader and writer.
@Suite struct JSONTextTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSON(parsing: #" { "a" : [1, -2.5e1, "x", null, true, false, {"b": -7}], "e": {}, "l": [] } "#)
        #expect(value == ["a": [1, -25.0, "x", nil, true, false, ["b": -7]], "e": [:], "l": []])
    }

    @Test func integersAreExactAtAnySize() throws {
        let twoTo200 = "1606938044258990275541962092341162602522202993782792835301376"
        #expect(try JSON(parsing: "[9223372036854775807, 9223372036854775808, -\(twoTo200), -0]")
                == [.integer(.max), .bigInteger("9223372036854775808"), .bigInteger("-" + twoTo200), .integer(0)])
        #expect(try JSON.array([.bigInteger(twoTo200)]).text() == "[\(twoTo200)]")
        #expect(try JSON(parsing: "1.0") == .double(1) && JSON(parsing: "1e3") == .double(1000))
    }

    @Test func decodesEscapesAndUnicode() throws {
        let text = #""q\" b\\ s\/ \b\f\n\r\t \u00e9 \uD83D\uDE00 é😀""#
        #expect(try JSON(parsing: text) == .string("q\" b\\ s/ \u{8}\u{C}\n\r\t é 😀 é😀"))
    }

    @Test func writesCompactTextWithSortedKeys() throws {
        let value: JSON = ["b": [1, 2.5, "x/y", nil], "a": ["z": true, "c": "é\n\u{1}\"\\"]]
        #expect(try value.text() == #"{"a":{"c":"é\n\u0001\"\\","z":true},"b":[1,2.5,"x/y",null]}"#)
        #expect(try JSON.double(1e20).text() == "1e+20" && JSON.double(0.1).text() == "0.1")
    }

    /// Whatever the writer makes, the reader reads back the same.
    @Test func roundTripsRandomValues() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let value = Self.randomValue(depth: 0, using: &generator)
            let text = try value.text()
            #expect(try JSON(parsing: text) == value, "\(text)")
        }
    }

    /// Text Foundation's encoder writes (escaped slashes, its own key order) reads alike.
    @Test func readsWhatFoundationWrites() throws {
        let value: JSON = ["path": "/a/b", "n": -12, "d": 0.25, "s": "tab\there", "list": [true, nil]]
        let text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        #expect(try JSON(parsing: text) == value)
    }

    static let malformed: [(String, String)] = [
        ("", "unexpected end of text"),
        ("[1,]", "unexpected character ']'"),
        ("{\"a\" 1}", "expected : after an object key"),
        ("{a:1}", "expected a string key in an object"),
        ("[1 2]", "expected , or ] in an array"),
        ("01", "a number cannot start with 0"),
        ("-", "expected a digit"),
        ("1.", "expected a digit after ."),
        ("1e", "expected a digit in the exponent"),
        (".5", "unexpected character '.'"),
        ("1e400", "the number 1e400 is out of range"),
        ("\"abc", "unterminated string"),
        ("\"a\nb\"", "control character 0xa in a string (must be escaped)"),
        (#""\x""#, "unknown escape \\'x'"),
        (#""\u12""#, "a \\u escape needs four hex digits"),
        (#""\uD83D""#, "a \\u escape is half of a surrogate pair"),
        (#""\uDE00""#, "a \\u escape is half of a surrogate pair"),
        ("tru", "expected true"),
        ("null x", "unexpected text after the value"),
        ("NaN", "unexpected character 'N'"),
    ]

    @Test(arguments: malformed)
    func refusesMalformedTextSayingWhy(text: String, message: String) {
        let failure = #expect(throws: JSONTextError.self) { try JSON(parsing: text) }
        #expect(failure?.message == message)
        #expect(failure?.description.hasPrefix("invalid JSON at byte ") == true)
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONTextError("a string is not valid UTF-8", offset: 4)) {
            try JSON(parsing: [0x22, 0xC3, 0x28, 0x22])
        }
        let deep = String(repeating: "[", count: JSONTextError.maximumDepth + 1)
        #expect(throws: JSONTextError.self) { try JSON(parsing: deep) }
        let allowed = String(repeating: "[", count: JSONTextError.maximumDepth) + String(repeating: "]", count: JSONTextError.maximumDepth)
        #expect((try? JSON(parsing: allowed)) != nil)
    }

    @Test func refusesToWriteWhatJSONCannotCarry() {
        #expect(throws: JSONTextError.self) { try JSON.double(.nan).text() }
        #expect(throws: JSONTextError.self) { try JSON.array([.double(.infinity)]).text() }
        #expect(throws: JSONTextError.self) { try JSON.bigInteger("12a").text() }
    }

    private static func randomValue(depth: Int, using generator: inout SystemRandomNumberGenerator) -> JSON {
        let kind = Int.random(in: 0..<(depth < 4 ? 9 : 7), using: &generator)
        switch kind {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .integer(Int.random(in: .min ... .max, using: &generator))
        case 3: return .bigInteger((Bool.random(using: &generator) ? "-" : "") + "1" + String(repeating: "7", count: Int.random(in: 19...60, using: &generator)))
        case 4:
            let value = Double(bitPattern: UInt64.random(in: 0 ... .max, using: &generator))
            return .double(value.isFinite ? value : 0.5)
        case 5, 6:
            let scalars = (0..<Int.random(in: 0..<12, using: &generator)).map { _ -> Character in
                let pool: [UInt32] = [0x01, 0x0A, 0x22, 0x2F, 0x41, 0x5C, 0x7F, 0xE9, 0x4E2D, 0x1F600]
                return Character(Unicode.Scalar(pool.randomElement(using: &generator)!)!)
            }
            return .string(String(scalars))
        case 7:
            return .array((0..<Int.random(in: 0..<4, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) })
        default:
            var members: [String: JSON] = [:]
            for index in 0..<Int.random(in: 0..<4, using: &generator) {
                members["k\(index)\u{E9}"] = randomValue(depth: depth + 1, using: &generator)
            }
            return .object(members)
        }
    }
}
