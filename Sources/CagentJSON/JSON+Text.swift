/// `JSON` to and from JSON text (RFC 8259), with no `Codable` coder in between.
///
/// What the host reads and writes itself (the health answer, the options it hands the
/// interpreter, the events file, SSE event data) goes through here: Foundation's
/// `JSONDecoder`/`JSONEncoder` are ~250 KB of code that the shipped executable would
/// otherwise run on every health probe (docs/shipping.md, "Where the memory goes"). And integers are
/// exact at any size here (`.bigInteger` keeps its digits), where `Codable` stops at 128 bits.
extension JSON {
    /// Parses one JSON value; whitespace around it is allowed, anything else is not.
    ///
    /// Numbers without a fraction or exponent are `.integer`, or `.bigInteger` past `Int`;
    /// others `.double` (out of `Double`'s range is an error). Strings must be valid UTF-8,
    /// their `\u` escapes whole characters (a surrogate pair, never half of one). Nesting
    /// deeper than ``JSONTextError/maximumDepth`` is refused. A key given twice keeps its
    /// last value, as Python's `json` does.
    public init(parsing text: some Collection<UInt8>) throws(JSONTextError) {
        var parser = JSONParser(bytes: Array(text))
        self = try parser.parseDocument()
    }

    /// Parses the UTF-8 of `text`: ``init(parsing:)-(Collection<UInt8>)``.
    public init(parsing text: String) throws(JSONTextError) {
        try self.init(parsing: text.utf8)
    }

    /// Compact JSON text: no spaces, object keys sorted (the same value always gives the
    /// same text), non-ASCII characters and `/` as they are, control characters escaped.
    /// Throws for what JSON cannot carry: a NaN or infinite `.double`, a `.bigInteger`
    /// that is not decimal digits.
    public func text() throws(JSONTextError) -> String {
        var out: [UInt8] = []
        try JSONWriter.write(self, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Why JSON text could not be read, or a value not written.
public struct JSONTextError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nesting of arrays and objects the parser accepts.
    public static let maximumDepth = 512

    public let message: String
    /// The byte offset in the text where reading stopped; `nil` for writing.
    public let offset: Int?

    public init(_ message: String, offset: Int?) {
        self.message = message
        self.offset = offset
    }

    public var description: String {
        offset.map { "invalid JSON at byte \($0): \(message)" } ?? "cannot write JSON: \(message)"
    }
}

/// A recursive-descent reader over the whole text.
private struct JSONParser {
    let bytes: [UInt8]
    var index = 0
    var depth = 0

    mutating func parseDocument() throws(JSONTextError) -> JSON {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw error("unexpected text after the value") }
        return value
    }

    private func error(_ message: String) -> JSONTextError { JSONTextError(message, offset: index) }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private mutating func parseValue() throws(JSONTextError) -> JSON {
        guard let byte = current else { throw error("unexpected end of text") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character \(Self.show(byte))")
        }
    }

    private mutating func expect(_ word: StaticString) throws(JSONTextError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count,
              word.withUTF8Buffer({ bytes[index..<index + count].elementsEqual($0) }) else {
            throw error("expected \(word)")
        }
        index += count
    }

    private mutating func enter() throws(JSONTextError) {
        depth += 1
        guard depth <= JSONTextError.maximumDepth else { throw error("nested deeper than \(JSONTextError.maximumDepth)") }
    }

    private mutating func parseArray() throws(JSONTextError) -> JSON {
        try enter()
        defer { depth -= 1 }
        index += 1  // [
        var elements: [JSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return .array(elements) }
        repeat {
            skipWhitespace()
            elements.append(try parseValue())
        } while try nextElement(closedBy: UInt8(ascii: "]"), in: "an array")
        return .array(elements)
    }

    private mutating func parseObject() throws(JSONTextError) -> JSON {
        try enter()
        defer { depth -= 1 }
        index += 1  // {
        var members: [String: JSON] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return .object(members) }
        repeat {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key in an object") }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected : after an object key") }
            index += 1
            skipWhitespace()
            members[key] = try parseValue()
        } while try nextElement(closedBy: UInt8(ascii: "}"), in: "an object")
        return .object(members)
    }

    /// After an element: true past a `,` (another follows), false past `close`.
    private mutating func nextElement(closedBy close: UInt8, in container: String) throws(JSONTextError) -> Bool {
        skipWhitespace()
        switch current {
        case UInt8(ascii: ","): index += 1; return true
        case close: index += 1; return false
        default: throw error("expected , or \(Character(Unicode.Scalar(close))) in \(container)")
        }
    }

    private mutating func parseString() throws(JSONTextError) -> String {
        index += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard let byte = current else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: utf8, as: UTF8.self) else {
                    throw error("a string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                try parseEscape(into: &utf8)
            case 0x00..<0x20:
                throw error("control character \(Self.show(byte)) in a string (must be escaped)")
            default:
                utf8.append(byte)
                index += 1
            }
        }
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws(JSONTextError) {
        guard let byte = current else { throw error("unterminated escape") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try parseHex4())
            if (0xD800..<0xDC00).contains(scalar) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw error("a \\u escape is half of a surrogate pair")
                }
                index += 2
                let low = UInt32(try parseHex4())
                guard (0xDC00..<0xE000).contains(low) else { throw error("a \\u escape is half of a surrogate pair") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw error("a \\u escape is half of a surrogate pair")
            }
            utf8.append(contentsOf: Unicode.UTF8.encode(Unicode.Scalar(scalar)!)!)
        default:
            index -= 1
            throw error("unknown escape \\\(Self.show(byte))")
        }
    }

    private mutating func parseHex4() throws(JSONTextError) -> UInt16 {
        guard index + 4 <= bytes.count else { throw error("a \\u escape needs four hex digits") }
        var value: UInt16 = 0
        for byte in bytes[index..<index + 4] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("a \\u escape needs four hex digits")
            }
            value = value << 4 | UInt16(digit)
        }
        index += 4
        return value
    }

    private mutating func parseNumber() throws(JSONTextError) -> JSON {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, Self.isDigit(first) else { throw error("expected a digit") }
        index += 1
        if first == UInt8(ascii: "0"), let next = current, Self.isDigit(next) {
            throw error("a number cannot start with 0")
        }
        skipDigits()
        var integral = true
        if current == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let next = current, Self.isDigit(next) else { throw error("expected a digit after .") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            integral = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let next = current, Self.isDigit(next) else { throw error("expected a digit in the exponent") }
            skipDigits()
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if integral {
            if let value = Int(text) { return .integer(value) }
            return .bigInteger(text)
        }
        guard let value = Double(text), value.isFinite else {
            index = start
            throw error("the number \(text) is out of range")
        }
        return .double(value)
    }

    private mutating func skipDigits() {
        while let byte = current, Self.isDigit(byte) { index += 1 }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private static func show(_ byte: UInt8) -> String {
        (0x20..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x" + String(byte, radix: 16)
    }
}

/// Writes compact JSON text.
private enum JSONWriter {
    static func write(_ value: JSON, to out: inout [UInt8]) throws(JSONTextError) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): out.append(contentsOf: String(number).utf8)
        case .bigInteger(let digits):
            guard JSON.isDecimalInteger(digits) else {
                throw JSONTextError("bigInteger must be decimal digits with an optional leading '-', got \(digits.debugDescription)", offset: nil)
            }
            out.append(contentsOf: digits.utf8)
        case .double(let number):
            guard number.isFinite else { throw JSONTextError("\(number) is not a JSON number", offset: nil) }
            // Swift's shortest round-trip form: 0.1, 1e-05, 1e+20, 100.0: all JSON numbers.
            out.append(contentsOf: number.description.utf8)
        case .string(let string): writeString(string, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                try write(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (position, key) in members.keys.sorted().enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                try write(members[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func writeString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: Array("\\u00".utf8) + [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
