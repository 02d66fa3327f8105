/// An error the service reported: the body `{"error": {"code", "message", ...}}` of a
/// 4xx/5xx answer, or the data of a run's `error` event.
///
/// `code` is stable and machine-readable (`unauthorized`, `unknown_agent`, `unknown_run`,
/// `invalid_request`, `body_too_large`, `agent_failed`, `timeout`, `cancelled`,
/// `shutting_down`, `invalid_last_event_id`, `host_not_allowed`, ...); `message` is for people.
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status; nil for an `error` event inside a stream (which arrives with 200).
    public var status: Int?
    public var code: String
    public var message: String
    /// The run the error belongs to, when there is one.
    public var requestID: String?
    /// Every other member of the error object (e.g. `errors` for 422, `agent_id` for 404).
    public var details: JSONObject

    public init(status: Int?, code: String, message: String, requestID: String? = nil, details: JSONObject = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.requestID = requestID
        self.details = details
    }

    /// Reads an error object (`{"code", "message", "request_id"?, ...}`); nil when it has
    /// no string `code` and `message`.
    public init?(object: JSONObject, status: Int?) {
        guard let code = object["code"]?.stringValue, let message = object["message"]?.stringValue else { return nil }
        var details = object
        for key in ["code", "message", "request_id"] { details.removeValue(forKey: key) }
        self.init(status: status, code: code, message: message, requestID: object["request_id"]?.stringValue, details: details)
    }

    public var description: String {
        let http = status.map { "HTTP \($0) " } ?? ""
        let run = requestID.map { " (request \($0))" } ?? ""
        return "\(http)\(code): \(message)\(run)"
    }
}
