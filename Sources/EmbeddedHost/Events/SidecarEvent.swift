import Bridge
import Foundation

/// One lifecycle change, for UI feedback and the CLI's `--events-file`.
public struct SidecarEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case starting(generation: Int)
        case healthy(generation: Int)
        case restarting(kind: RestartKind, reason: String)
        /// A cold restart was refused; `instead` is what was done.
        case restartRefused(reasons: [String], instead: RestartKind)
        /// A restart that did not happen; the previous service keeps serving.
        case restartFailed(kind: RestartKind, error: String)
        case stopping
        case stopped(clean: Bool, detail: String?)
        case failed(error: String)
    }

    public let kind: Kind
    public let timestamp: Date

    public init(_ kind: Kind, timestamp: Date = Date()) {
        self.kind = kind
        self.timestamp = timestamp
    }

    /// The wire name: `starting`, `healthy`, `restarting`, ...
    public var type: String {
        switch kind {
        case .starting: "starting"
        case .healthy: "healthy"
        case .restarting: "restarting"
        case .restartRefused: "restart_refused"
        case .restartFailed: "restart_failed"
        case .stopping: "stopping"
        case .stopped: "stopped"
        case .failed: "failed"
        }
    }

    /// `{"type": ..., "ts": <unix seconds>, ...fields}`: one line of the events file.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["type": .string(type), "ts": .double(timestamp.timeIntervalSince1970)]
        switch kind {
        case .starting(let generation), .healthy(let generation):
            object["generation"] = .integer(generation)
        case .restarting(let kind, let reason):
            object["kind"] = .string(kind.rawValue)
            object["reason"] = .string(reason)
        case .restartRefused(let reasons, let instead):
            object["reasons"] = .array(reasons.map { .string($0) })
            object["instead"] = .string(instead.rawValue)
        case .restartFailed(let kind, let error):
            object["kind"] = .string(kind.rawValue)
            object["error"] = .string(error)
        case .stopping:
            break
        case .stopped(let clean, let detail):
            object["clean"] = .bool(clean)
            if let detail { object["detail"] = .string(detail) }
        case .failed(let error):
            object["error"] = .string(error)
        }
        return .object(object)
    }
}
