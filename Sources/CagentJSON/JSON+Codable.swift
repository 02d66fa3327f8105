/// `JSON` as a plain JSON value in any `Encoder`/`Decoder` (no case tags).
///
/// Integers are exact as far as a coder can carry them: `Codable` offers numbers only as
/// fixed-size types, the widest being `Int128`/`UInt128`. So a `.bigInteger` within
/// 128 bits encodes as its exact digits and decodes back as the same `.bigInteger` (a Python
/// `2**100` crosses HTTP unchanged); beyond 128 bits it encodes as the nearest `Double`, and
/// a wider number decodes as the nearest `.double`. Exact integers of any size travel
/// through the Python conversion (`Bridge`), which reads digits, not a fixed-size type.
///
/// Decoding cannot tell `1000` from `1000.0` or `1e3`: a number that is an integer decodes
/// as `.integer` (or `.bigInteger` past `Int`), any other as `.double`. NaN and infinities
/// encode only if the encoder is configured for non-conforming floats.
extension JSON: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Int128.self) {
            self = .bigInteger(String(value))
        } else if let value = try? container.decode(UInt128.self) {
            self = .bigInteger(String(value))
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSON].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSON].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .bigInteger(let digits):
            guard Self.isDecimalInteger(digits) else {
                throw EncodingError.invalidValue(self, .init(codingPath: encoder.codingPath, debugDescription: "bigInteger must be decimal digits with an optional leading '-', got \(digits.debugDescription)"))
            }
            if let value = Int128(digits) {
                try container.encode(value)
            } else if let value = UInt128(digits) {
                try container.encode(value)
            } else {
                // Past 128 bits: the nearest Double (±infinity past its range, which an
                // encoder refuses unless configured for non-conforming floats).
                try container.encode(Double(digits) ?? (digits.hasPrefix("-") ? -.infinity : .infinity))
            }
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
