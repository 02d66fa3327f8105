import CagentJSON
import Testing

/// Literals, accessors, equality: `JSON` without any coder.
@Suite struct JSONValueTests {
    @Test func literalsAndAccessors() {
        let value: JSON = ["n": 1, "d": 1.5, "s": "x", "b": true, "z": nil, "a": [1], "o": ["k": "v"]]
        #expect(value["n"]?.intValue == 1)
        #expect(value["d"]?.doubleValue == 1.5)
        #expect(value["n"]?.doubleValue == 1.0)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["b"]?.boolValue == true)
        #expect(value["z"] == .null)
        #expect(value["a"]?[0] == 1)
        #expect(value["a"]?[1] == nil)
        #expect(value["a"]?.arrayValue == [1])
        #expect(value["o"]?.objectValue == ["k": "v"])
        #expect(value["missing"] == nil)
        #expect(value["s"]?.intValue == nil)
    }

    @Test func bigIntegersReadAsTheNearestDoubleButNotAsInt() {
        let big = JSON.bigInteger("1267650600228229401496703205376")
        #expect(big.doubleValue == 0x1p100)
        #expect(big.intValue == nil)
    }

    @Test func stringInterpolationMakesAString() {
        let kind = "warm"
        let value: JSON = ["text": "after \(kind) restart \(3)"]
        #expect(value["text"] == .string("after warm restart 3"))
    }

    @Test func aLaterDuplicateKeyWins() {
        let value: JSON = ["k": 1, "k": 2]
        #expect(value == ["k": 2])
    }

    @Test func nanEqualsNanSoHashingIsLawful() {
        #expect(JSON.double(.nan) == .double(.nan))
        #expect(Set<JSON>([.double(.nan), .double(.nan)]).count == 1)
        #expect(JSON.integer(1) != .double(1))
        #expect(JSON.integer(1) != .bigInteger("1"))
    }
}
