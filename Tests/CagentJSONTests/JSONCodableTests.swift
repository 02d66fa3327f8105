import CagentJSON
import Foundation
import Testing

/// `JSON` as plain JSON through Foundation's coders; no interpreter, no network.
@Suite struct JSONCodableTests {
    @Test func decodesPlainJSON() throws {
        let text = #"{"a":[1,2.5,"x",null,true,{"b":-7}],"big":9223372036854775808,"s":"é😀"}"#
        let value = try decode(text)
        #expect(value["a"] == [1, 2.5, "x", nil, true, ["b": -7]])
        // Past Int, within 128 bits: exact.
        #expect(value["big"] == .bigInteger("9223372036854775808"))
        #expect(value["s"] == "é😀")
    }

    @Test func encodesAndDecodesBack() throws {
        let value: JSON = ["list": [1, -2, 3.25, "four", nil, false], "obj": ["k": "v"], "empty": [:], "none": []]
        #expect(try decode(encode(value)) == value)
    }

    static let bigIntegers: [String] = [
        "9223372036854775808", "-9223372036854775809",   // just past Int
        "1267650600228229401496703205376",                 // 2**100
        "-170141183460469231731687303715884105728",        // Int128.min
        "340282366920938463463374607431768211455",         // UInt128.max
    ]

    @Test(arguments: bigIntegers)
    func bigIntegersWithin128BitsRoundTripAsExactNumbers(_ digits: String) throws {
        let text = try encode([.bigInteger(digits)])
        #expect(text == "[\(digits)]")  // a JSON number, not a string
        #expect(try decode(text) == [.bigInteger(digits)])
    }

    @Test func bigIntegersPast128BitsEncodeAsTheNearestDouble() throws {
        let twoTo200 = "1606938044258990275541962092341162602522202993782792835301376"
        #expect(try decode(encode([.bigInteger(twoTo200)])) == [.double(0x1p200)])
        #expect(try decode(encode([.bigInteger("-" + twoTo200)])) == [.double(-0x1p200)])
    }

    @Test func aBigIntegerThatFitsIntDecodesAsInteger() throws {
        #expect(try decode(encode([.bigInteger("42")])) == [42])
    }

    @Test(arguments: ["", "-", "+1", "1e5", " 1", "nan", "0x10"])
    func aBigIntegerThatIsNotDigitsDoesNotEncode(_ digits: String) {
        #expect(throws: EncodingError.self) { try encode([.bigInteger(digits)]) }
    }

    @Test func integralNumbersDecodeAsIntegersWhateverTheirSpelling() throws {
        #expect(try decode("[1e3, 1000.0, 1.5, 1e40]") == [1000, 1000, 1.5, .double(1e40)])
    }

    private func encode(_ value: JSON) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    private func decode(_ text: String) throws -> JSON {
        try JSONDecoder().decode(JSON.self, from: Data(text.utf8))
    }
}
