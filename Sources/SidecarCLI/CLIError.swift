/// A command-line failure with a message for the user (printed as is, exit status 1).
public struct CLIError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
