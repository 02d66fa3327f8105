import CagentAPI

/// Why a client call failed.
public enum CagentClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The service answered with an error body: see ``ServiceError/code``.
    case service(ServiceError)
    /// An error status without the service's JSON error body (something else answered).
    case unexpectedStatus(Int, body: String)
    /// No complete answer within the timeout.
    case timedOut(Duration)
    /// The calling task was cancelled (and with it the request).
    case cancelled
    /// The connection failed: refused, reset, closed early.
    case transport(String)
    /// A request the client cannot send (a NaN or infinity in the input).
    case invalidRequest(String)
    /// An answer the client cannot read.
    case malformedResponse(String)
    /// An event stream dropped and could not be resumed; `lastEventID` is where a later
    /// ``CagentClient/stream(requestID:lastEventID:)`` can resume.
    case streamInterrupted(lastEventID: String?, attempts: Int, reason: String)

    /// The service's own error, when it sent one.
    public var serviceError: ServiceError? {
        if case .service(let error) = self { return error }
        return nil
    }

    public var description: String {
        switch self {
        case .service(let error): "the service answered \(error)"
        case .unexpectedStatus(let status, let body): "HTTP \(status) without an error body: \(body.prefix(300))"
        case .timedOut(let timeout): "no answer within \(timeout)"
        case .cancelled: "cancelled"
        case .transport(let reason): "connection failed: \(reason)"
        case .invalidRequest(let detail): "invalid request: \(detail)"
        case .malformedResponse(let detail): "malformed answer: \(detail)"
        case .streamInterrupted(let lastEventID, let attempts, let reason):
            "the event stream dropped and \(attempts) reconnection attempts failed (last event id: \(lastEventID ?? "none")): \(reason)"
        }
    }
}
