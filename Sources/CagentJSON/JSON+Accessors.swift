/// Reading a value without a `switch`: each accessor is nil when the case differs.
extension JSON {
    /// `value["key"]`: nil unless this is an object with that key.
    public subscript(key: String) -> JSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// `value[index]`: nil unless this is an array long enough.
    public subscript(index: Int) -> JSON? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// Only `.integer`: a `.bigInteger` does not fit `Int`.
    public var intValue: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// Integers too, as the nearest `Double`.
    public var doubleValue: Double? {
        switch self {
        case .double(let value): value
        case .integer(let value): Double(value)
        case .bigInteger(let digits): Double(digits)
        default: nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSON]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }
}
