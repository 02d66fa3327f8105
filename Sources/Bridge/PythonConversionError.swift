/// A value that cannot cross between Python and `JSON`, with where it sits.
///
/// `description` reads like `$.a[2]: cannot convert 'set' to JSON`.
public struct PythonConversionError: Error, Sendable, CustomStringConvertible {
    /// JSONPath-like location of the offending value: `$`, `$.key`, `$["odd key"][3]`.
    public let path: String
    /// What is wrong there.
    public let message: String
    /// The Python exception behind it, when there was one (e.g. the int-to-str digit limit).
    public let pythonError: PythonError?

    public init(path: String, message: String, pythonError: PythonError? = nil) {
        self.path = path
        self.message = message
        self.pythonError = pythonError
    }

    public var description: String { "\(path): \(message)" }
}

/// The location being converted, kept as components and rendered only for an error.
struct ConversionPath {
    enum Component {
        case key(String)
        case index(Int)
    }

    private(set) var components: [Component] = []

    mutating func push(_ component: Component) { components.append(component) }
    mutating func pop() { components.removeLast() }

    var rendered: String {
        var text = "$"
        for component in components {
            switch component {
            case .index(let index):
                text += "[\(index)]"
            case .key(let key) where Self.isIdentifier(key):
                text += ".\(key)"
            case .key(let key):
                var escaped = ""
                for scalar in key.unicodeScalars {
                    switch scalar {
                    case "\"": escaped += "\\\""
                    case "\\": escaped += "\\\\"
                    case "\n": escaped += "\\n"
                    case "\0": escaped += "\\0"
                    default: escaped.unicodeScalars.append(scalar)
                    }
                }
                text += "[\"\(escaped)\"]"
            }
        }
        return text
    }

    func error(_ message: String, pythonError: PythonError? = nil) -> PythonConversionError {
        PythonConversionError(path: rendered, message: message, pythonError: pythonError)
    }

    private static func isIdentifier(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return key.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
