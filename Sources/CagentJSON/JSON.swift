/// A JSON value: what the agent service sends and receives over HTTP, and what crosses
/// between Swift and Python in-process.
///
/// One type for both, in a module that depends on nothing (not even Foundation), so the
/// HTTP client links no Python and the shipped binary no Foundation; `Bridge` adds the
/// conversion to and from Python objects.
///
/// Integers are exact at any size: `integer` when the value fits `Int`, `bigInteger` (decimal
/// digits with an optional leading `-`) otherwise, so a Python `2**200` round-trips unchanged.
///
/// Equality: `.double(.nan) == .double(.nan)` is true (so values containing NaN are
/// `Hashable` in a lawful way); `0.0 == -0.0` as for `Double`; `.integer(1) != .double(1)`.
/// Strings compare the way Swift strings do — by canonical equivalence — although the
/// scalars are preserved exactly.
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case integer(Int)
    /// An integer outside `Int`'s range, as exact decimal digits (`"-"` allowed first).
    case bigInteger(String)
    case double(Double)
    case string(String)
    case array([JSON])
    /// Key order is not kept (Swift `Dictionary`).
    case object([String: JSON])
}

extension JSON: Equatable {
    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.bigInteger(a), .bigInteger(b)): return a == b
        case let (.double(a), .double(b)): return a == b || (a.isNaN && b.isNaN)
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)): return a == b
        default: return false
        }
    }
}

extension JSON: Hashable {
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let v): hasher.combine(1); hasher.combine(v)
        case .integer(let v): hasher.combine(2); hasher.combine(v)
        case .bigInteger(let v): hasher.combine(3); hasher.combine(v)
        case .double(let v): hasher.combine(4); hasher.combine(v.isNaN ? Double.nan : v)
        case .string(let v): hasher.combine(5); hasher.combine(v)
        case .array(let v): hasher.combine(6); hasher.combine(v)
        case .object(let v): hasher.combine(7); hasher.combine(v)
        }
    }
}

extension JSON {
    /// Whether `text` is what `.bigInteger` holds: decimal digits, an optional leading `-`,
    /// nothing else (no `+`, spaces, or exponent). Both the coder and Python's `int()` check
    /// the digits with this before they read them.
    package static func isDecimalInteger(_ text: String) -> Bool {
        var utf8 = Substring(text).utf8[...]
        if utf8.first == UInt8(ascii: "-") { utf8 = utf8.dropFirst() }
        return !utf8.isEmpty && utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
