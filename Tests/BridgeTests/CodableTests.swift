import Testing
@testable import Bridge
import Foundation

/// JSONValue as plain JSON through Foundation's coders; no interpreter involved.
@Suite struct JSONValueCodable {
    @Test func decodesPlainJSON() throws {
        let text = #"{"a":[1,2.5,"x",null,true,{"b":-7}],"big":9223372036854775808,"s":"é😀"}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(value["a"] == [1, 2.5, "x", nil, true, ["b": -7]])
        // Beyond Int: JSONDecoder offers no exact integer, so it arrives as a Double.
        #expect(value["big"] == .double(9223372036854775808.0))
        #expect(value["s"] == "é😀")
    }

    @Test func encodesAndDecodesBack() throws {
        let value: JSONValue = ["list": [1, -2, 3.25, "four", nil, false], "obj": ["k": "v"], "empty": [:]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    }

    @Test func bigIntegersEncodeAsTheNearestDouble() throws {
        let data = try JSONEncoder().encode(JSONValue.array([.bigInteger("100000000000000000000")]))
        let back = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(back == [.double(1e20)])
    }

    @Test func literalsAndAccessors() {
        let value: JSONValue = ["n": 1, "d": 1.5, "s": "x", "b": true, "z": nil, "a": [1]]
        #expect(value["n"]?.intValue == 1)
        #expect(value["d"]?.doubleValue == 1.5)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["b"]?.boolValue == true)
        #expect(value["z"] == .null)
        #expect(value["a"]?[0] == 1)
        #expect(value["missing"] == nil)
        // NaN equals NaN here, so JSONValue is lawfully Hashable.
        #expect(JSONValue.double(.nan) == .double(.nan))
        #expect(Set<JSONValue>([.double(.nan), .double(.nan)]).count == 1)
        #expect(JSONValue.integer(1) != .double(1))
    }
}
