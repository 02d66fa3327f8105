import Bridge
import CagentAPI

/// The wire types' `JSON` (what the client and direct calls speak) and the Bridge's
/// `JSONValue` (what crosses into Python) are kept apart so the client links no Python;
/// this is the one place they meet.
extension JSON {
    /// `.bigInteger` becomes the nearest `.double`, as the client decodes such numbers.
    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let bool): self = .bool(bool)
        case .integer(let int): self = .integer(int)
        case .bigInteger(let digits): self = .double(Double(digits) ?? .nan)
        case .double(let double): self = .double(double)
        case .string(let string): self = .string(string)
        case .array(let array): self = .array(array.map(JSON.init))
        case .object(let object): self = .object(object.mapValues(JSON.init))
        }
    }
}

extension JSONValue {
    init(_ json: JSON) {
        switch json {
        case .null: self = .null
        case .bool(let bool): self = .bool(bool)
        case .integer(let int): self = .integer(int)
        case .double(let double): self = .double(double)
        case .string(let string): self = .string(string)
        case .array(let array): self = .array(array.map(JSONValue.init))
        case .object(let object): self = .object(object.mapValues(JSONValue.init))
        }
    }
}
