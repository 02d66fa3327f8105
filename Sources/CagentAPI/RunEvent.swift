
/// One event of a run, as `GET /agent/stream/{request_id}` delivers it.
///
/// Every event but `keepalive` has an id (its position in the run's log, `"0"`, `"1"`,
/// ...), which `Last-Event-ID` refers to. A run ends with exactly one `result` or `error`.
public struct RunEvent: Sendable, Equatable {
    public var id: String?
    public var kind: Kind

    public enum Kind: Sendable, Equatable {
        case thinking(JSONObject)
        case toolCall(JSONObject)
        case toolResult(JSONObject)
        /// The run finished: its result.
        case result(ExecuteResult)
        /// The run failed (`agent_failed`, `timeout`, `cancelled`, `shutting_down`).
        case error(ServiceError)
        /// Sent while the run is idle, so that proxies and clients see a live connection.
        case keepalive
        /// An event type of the agent's own.
        case other(type: String, data: JSONObject)
    }

    public init(id: String?, kind: Kind) {
        self.id = id
        self.kind = kind
    }

    /// The wire name: `thinking`, `tool_call`, `tool_result`, `result`, `error`, `keepalive`, ...
    public var type: String {
        switch kind {
        case .thinking: "thinking"
        case .toolCall: "tool_call"
        case .toolResult: "tool_result"
        case .result: "result"
        case .error: "error"
        case .keepalive: "keepalive"
        case .other(let type, _): type
        }
    }

    /// `result` or `error`: nothing follows it.
    public var isTerminal: Bool {
        switch kind {
        case .result, .error: true
        default: false
        }
    }

    /// The event's data as a JSON object.
    public var data: JSONObject {
        switch kind {
        case .thinking(let data), .toolCall(let data), .toolResult(let data), .other(_, let data):
            return data
        case .result(let result):
            return ["result": .object(result.result), "execution_time": .double(result.executionTime), "agent_id": .string(result.agentID)]
        case .error(let error):
            var data = error.details
            data["code"] = .string(error.code)
            data["message"] = .string(error.message)
            if let requestID = error.requestID { data["request_id"] = .string(requestID) }
            return data
        case .keepalive:
            return [:]
        }
    }

    public enum DecodingFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The data of an event was not a JSON object.
        case notAnObject(type: String, data: String)
        /// A `result` or `error` event whose data lacks what it must have.
        case malformed(type: String, data: String)

        public var description: String {
            switch self {
            case .notAnObject(let type, let data): "the data of a \(type) event is not a JSON object: \(data.prefix(200))"
            case .malformed(let type, let data): "malformed \(type) event: \(data.prefix(200))"
            }
        }
    }

    /// An event from its SSE `event` type, `data` text and `id`.
    public init(type: String, data: String, id: String?) throws(DecodingFailure) {
        guard case .object(let object)? = try? JSON(parsing: data) else { throw .notAnObject(type: type, data: data) }
        try self.init(type: type, object: object, id: id)
    }

    /// An event from its type and data object: what the host's direct calls receive.
    public init(type: String, object: JSONObject, id: String?) throws(DecodingFailure) {
        let kind: Kind
        switch type {
        case "thinking": kind = .thinking(object)
        case "tool_call": kind = .toolCall(object)
        case "tool_result": kind = .toolResult(object)
        case "keepalive": kind = .keepalive
        case "result":
            guard let result = ExecuteResult(object: object) else {
                throw .malformed(type: type, data: Self.text(of: object))
            }
            kind = .result(result)
        case "error":
            guard let error = ServiceError(object: object, status: nil) else {
                throw .malformed(type: type, data: Self.text(of: object))
            }
            kind = .error(error)
        default:
            kind = .other(type: type, data: object)
        }
        self.init(id: id, kind: kind)
    }

    /// Compact JSON text with sorted keys, for error messages.
    static func text(of object: JSONObject) -> String {
        (try? JSON.object(object).text()) ?? "\(object)"
    }
}
