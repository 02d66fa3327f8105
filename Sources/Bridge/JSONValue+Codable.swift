/// `JSONValue` as a plain JSON value in any `Encoder`/`Decoder` (no case tags).
///
/// Limits of `Codable`, not of `JSONValue`: a decoder exposes numbers only as fixed-size
/// types, so integers that fit `Int` decode as `.integer`, and larger ones (or ones written
/// with a fraction or exponent) decode as the nearest `.double` — `JSONDecoder` cannot read
/// them exactly, and `.bigInteger` is never produced by decoding. Likewise `.bigInteger`
/// encodes as the nearest `Double`, because an `Encoder` cannot write arbitrary digits.
/// NaN and infinities encode only if the encoder is configured for non-conforming floats.
/// Exact big integers travel through the Python conversion instead.
extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
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
            guard let value = Double(digits) else {
                throw EncodingError.invalidValue(self, .init(codingPath: encoder.codingPath, debugDescription: "not an integer: \(digits)"))
            }
            try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
