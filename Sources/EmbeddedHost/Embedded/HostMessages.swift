import Bridge
import Loopback

/// Every message between the host and its Python half, by name: the Swift side of
/// `Sources/EmbeddedHost/Python/cagent_host/messages.py`. `HostMessagesTests` checks
/// that the two sets agree, name for name.

/// What the runner tells the host: `notify(notice, payload)`, on the interpreter
/// thread with the GIL held (``InterpreterThread`` handles them).
enum HostNotice: String, Sendable, CaseIterable {
    /// Payload: the generation's `Controller`.
    case controller
    /// `{"service_generation", "restart": "warm" | null}`.
    case serving
    /// `{"error"}`: the previous service keeps serving.
    case warmRestartFailed = "warm_restart_failed"
    /// `{"reasons"}`: done warm instead.
    case coldRestartRefused = "cold_restart_refused"
    /// `{"command"}`: the loop has taken a command.
    case command
    /// `{"reason"}`: the service asked to be stopped (`POST /shutdown`).
    case stopRequested = "stop_requested"
    /// `{}`: what a restart replaced is stopped and collected, the new service warmed up.
    case retired
}

/// What the host asks of the running loop: `Controller.request(command)`.
enum HostCommand: String, Sendable, CaseIterable {
    case stop, warm, cold
    /// Stop the servers a warm restart replaced (they serve until the new one is healthy).
    case retire
}

/// What the watchdog's signal handlers ask the host: `ask(question)`
/// (``InterpreterLink/take(_:)`` answers).
enum HostAsk: String, Sendable, CaseIterable {
    /// Answer: null (not armed) or the request id to interrupt ("" for any run).
    case interrupt
    /// Answer: a bool.
    case abort
}

/// One item of the host's direct-call inbox: ``DirectCallQueue`` hands them to
/// `cagent_host.direct`, which starts or cancels the call. Crosses as a JSON object with
/// the ``Field`` keys (`DirectRequest` in messages.py).
enum DirectRequest: Sendable {
    case start(callID: UInt64, DirectCallQueue.Request)
    case cancel(callID: UInt64)

    enum Kind: String, Sendable, CaseIterable {
        case execute, stream, cancel
    }

    /// The object's keys; `kind` and `call_id` always, the others with a start.
    enum Field: String, Sendable, CaseIterable {
        case kind
        case callID = "call_id"
        case agentID = "agent_id"
        case input, context
        case timeoutSeconds = "timeout_s"
    }

    var json: JSON {
        switch self {
        case .start(let id, let request):
            let kind: Kind = switch request.kind {
            case .execute: .execute
            case .stream: .stream
            }
            return Self.object([
                .kind: .string(kind.rawValue),
                .callID: .integer(Int(id)),
                .agentID: .string(request.agentID),
                .input: .object(request.input),
                .context: request.context.map(JSON.object) ?? .null,
                .timeoutSeconds: request.timeout.map { .double($0.inSeconds) } ?? .null,
            ])
        case .cancel(let id):
            return Self.object([.kind: .string(Kind.cancel.rawValue), .callID: .integer(Int(id))])
        }
    }

    private static func object(_ fields: [Field: JSON]) -> JSON {
        .object(Dictionary(uniqueKeysWithValues: fields.map { ($0.key.rawValue, $0.value) }))
    }
}

/// What `cagent_host.direct` reports for a direct call: `deliver(call_id, delivery,
/// payload)` on the loop thread (``DirectCall/convert(_:payload:)`` reads the payload).
enum DirectDelivery: String, Sendable, CaseIterable {
    /// Execute's `{result, execution_time, agent_id}`.
    case result
    /// `{id, type, data}`: one of stream's events, the last one terminal.
    case event
    /// `{code, message, status, ...}`: the call could not run, or failed.
    case error
    /// `{"cancelled"}`: last, always (also when the loop closes under a pending call).
    case done
}
