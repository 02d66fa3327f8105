/// Bodies of the service's answers, as `python/web/models.py` and
/// `python/service/models.py` define them (snake_case on the wire).

/// `GET /health`.
public struct Health: Codable, Sendable, Equatable {
    /// `"ok"`, or `"shutting_down"` after `POST /shutdown`.
    public var status: String
    public var version: String
    public var uptimeSeconds: Double
    /// How many agents the service offers.
    public var agents: Int

    public init(status: String, version: String, uptimeSeconds: Double, agents: Int) {
        self.status = status
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.agents = agents
    }

    enum CodingKeys: String, CodingKey {
        case status, version, agents
        case uptimeSeconds = "uptime_s"
    }
}

/// One entry of `GET /agents`.
public struct AgentInfo: Codable, Sendable, Equatable {
    public var id: String
    public var description: String
    /// The JSON schema of the agent's input.
    public var inputSchema: JSON

    public init(id: String, description: String, inputSchema: JSON) {
        self.id = id
        self.description = description
        self.inputSchema = inputSchema
    }

    enum CodingKeys: String, CodingKey {
        case id, description
        case inputSchema = "input_schema"
    }
}

/// `{"agents": [...]}`.
package struct AgentList: Codable, Sendable {
    package var agents: [AgentInfo]
}

/// The body of `POST /agent/execute` and `POST /agent/runs`.
public struct ExecuteRequest: Codable, Sendable, Equatable {
    public var agentID: String
    public var input: JSONObject
    public var context: JSONObject?
    /// The run's own time limit in seconds; the service's default when nil.
    public var timeoutSeconds: Double?

    public init(agentID: String, input: JSONObject, context: JSONObject? = nil, timeoutSeconds: Double? = nil) {
        self.agentID = agentID
        self.input = input
        self.context = context
        self.timeoutSeconds = timeoutSeconds
    }

    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id"
        case input, context
        case timeoutSeconds = "timeout_s"
    }

    /// Absent members stay absent: the service refuses unknown ones and treats
    /// `null` and absence alike, but a minimal body is easier to read in its log.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(agentID, forKey: .agentID)
        try container.encode(input, forKey: .input)
        try container.encodeIfPresent(context, forKey: .context)
        try container.encodeIfPresent(timeoutSeconds, forKey: .timeoutSeconds)
    }
}

/// What a run returns: the answer of `POST /agent/execute` and the data of a `result` event.
public struct ExecuteResult: Codable, Sendable, Equatable {
    public var result: JSONObject
    /// Seconds the agent ran.
    public var executionTime: Double
    public var agentID: String

    public init(result: JSONObject, executionTime: Double, agentID: String) {
        self.result = result
        self.executionTime = executionTime
        self.agentID = agentID
    }

    /// From `{"result": {...}, "execution_time": seconds, "agent_id": ...}`; nil when a member is missing.
    public init?(object: JSONObject) {
        guard case .object(let result)? = object["result"], let time = object["execution_time"]?.doubleValue,
              let agentID = object["agent_id"]?.stringValue
        else { return nil }
        self.init(result: result, executionTime: time, agentID: agentID)
    }

    enum CodingKeys: String, CodingKey {
        case result
        case executionTime = "execution_time"
        case agentID = "agent_id"
    }
}

/// `POST /agent/runs` answers 202 with the id to stream.
package struct RunCreated: Codable, Sendable {
    package var requestID: String

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id"
    }
}
