import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A typed client for the agent service's HTTP API, what `cagent-client.ts` was for the
/// Electron app: health, agents, execute, runs streamed over SSE, shutdown.
///
/// Every call throws ``CagentClientError``; an error answer of the service is
/// ``CagentClientError/service(_:)`` with its code, message, status and request id.
/// Calls may run concurrently; cancelling the calling task cancels the request.
public final class CagentClient: Sendable {
    public let configuration: ClientConfiguration
    let transport = HTTPTransport()

    public init(_ configuration: ClientConfiguration) {
        self.configuration = configuration
    }

    public convenience init(baseURL: URL, token: String?) {
        self.init(ClientConfiguration(baseURL: baseURL, token: token))
    }

    /// `GET /health` (no token needed).
    public func health() async throws(CagentClientError) -> Health {
        try await call("GET", "/health", authorized: false)
    }

    /// `GET /agents`.
    public func agents() async throws(CagentClientError) -> [AgentInfo] {
        let list: AgentList = try await call("GET", "/agents")
        return list.agents
    }

    /// `POST /agent/execute`: runs the agent to its end.
    ///
    /// A failed run throws ``CagentClientError/service(_:)``: `agent_failed` (500),
    /// `timeout` (504), `shutting_down` (503), `unknown_agent` (404), `invalid_request` (422).
    public func execute(_ request: ExecuteRequest) async throws(CagentClientError) -> ExecuteResult {
        let timeout = request.timeoutSeconds.map { .milliseconds(Int64($0 * 1000)) + configuration.requestTimeout }
            ?? configuration.executeTimeout
        return try await call("POST", "/agent/execute", body: request, timeout: timeout)
    }

    public func execute(
        agentID: String, input: JSONObject, context: JSONObject? = nil, timeoutSeconds: Double? = nil
    ) async throws(CagentClientError) -> ExecuteResult {
        try await execute(ExecuteRequest(agentID: agentID, input: input, context: context, timeoutSeconds: timeoutSeconds))
    }

    /// `POST /agent/runs`: starts a run and returns its request id, for ``stream(requestID:lastEventID:)``.
    public func startRun(_ request: ExecuteRequest) async throws(CagentClientError) -> String {
        let created: RunCreated = try await call("POST", "/agent/runs", body: request)
        return created.requestID
    }

    public func startRun(
        agentID: String, input: JSONObject, context: JSONObject? = nil, timeoutSeconds: Double? = nil
    ) async throws(CagentClientError) -> String {
        try await startRun(ExecuteRequest(agentID: agentID, input: input, context: context, timeoutSeconds: timeoutSeconds))
    }

    /// `POST /shutdown`: the service stops accepting runs, ends running ones with
    /// `shutting_down`, closes its MCP sessions, then the process that runs it stops and
    /// exits (`cagent-sidecar run` exits 0 and does not restart it; docs/supervision.md).
    public func shutdown() async throws(CagentClientError) {
        let _: JSON = try await call("POST", "/shutdown")
    }

    // MARK: - Requests

    func request(_ method: String, _ path: String, authorized: Bool = true) -> URLRequest {
        var request = URLRequest(url: configuration.baseURL.appendingPathComponent(path))
        request.httpMethod = method
        if authorized, let token = configuration.token {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        return request
    }

    private func call<Answer: Decodable>(
        _ method: String, _ path: String, body: ExecuteRequest? = nil, authorized: Bool = true,
        timeout: Duration? = nil
    ) async throws(CagentClientError) -> Answer {
        var request = request(method, path, authorized: authorized)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let body {
            do {
                request.httpBody = try JSONEncoder().encode(body)
            } catch {
                // Only a non-finite Double in the input gets here.
                throw .invalidRequest("cannot encode the request body: \(error)")
            }
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if method == "POST" {
            request.httpBody = Data()
        }
        let response: HTTPURLResponse
        let data: Data
        do {
            (response, data) = try await transport.send(request, timeout: timeout ?? configuration.requestTimeout)
        } catch let error as CagentClientError {
            throw error
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .transport(describe(error))
        }
        guard (200..<300).contains(response.statusCode) else {
            throw Self.error(status: response.statusCode, body: data, headerRequestID: response.value(forHTTPHeaderField: "X-Request-ID"))
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: data)
        } catch {
            throw .malformedResponse("\(method) \(path): \(error); body: \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
    }

    /// The typed error of an error answer. The body's `request_id` names a run; without
    /// one, the `X-Request-ID` header (the id the service logged the request under) does.
    static func error(status: Int, body: Data, headerRequestID: String?) -> CagentClientError {
        guard let json = try? JSONDecoder().decode(JSON.self, from: body),
              let object = json["error"]?.objectValue,
              var error = ServiceError(object: object, status: status)
        else {
            return .unexpectedStatus(status, body: String(decoding: body.prefix(1000), as: UTF8.self))
        }
        if error.requestID == nil { error.requestID = headerRequestID }
        return .service(error)
    }
}
