/// Why an exchange with a loopback HTTP server failed, sorted into what the callers tell
/// apart: no connection, no answer in time, the peer hung up, an answer that is not
/// HTTP/1.1, or a socket error.
public struct LoopbackError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case connect
        case timedOut
        case closed
        case malformed
        case io
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        (self.kind, self.detail) = (kind, detail)
    }

    public var description: String {
        switch kind {
        case .connect: "cannot connect: \(detail)"
        case .timedOut: "no answer in time: \(detail)"
        case .closed: "closed by the server: \(detail)"
        case .malformed: "malformed answer: \(detail)"
        case .io: detail
        }
    }
}
