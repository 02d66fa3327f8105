import Bridge
import CagentAPI
import FoundationEssentials

/// One agent call queued for the service's loop (``DirectCallQueue``), and what Python
/// delivers for it.
struct DirectCall: Sendable {
    enum Kind: String, Sendable {
        case execute, stream
    }

    /// What Python delivered, converted.
    enum Delivery: Sendable {
        case result(ExecuteResult)
        case event(RunEvent)
        case error(ServiceError)
        /// Always last; `cancelled` when the caller had asked to cancel the call.
        case done(cancelled: Bool)
    }

    let id: UInt64
    let queue: DirectCallQueue

    /// Cancels the call and its run. Any thread, never blocks.
    func cancel() {
        queue.cancel(id)
    }

    /// A delivery from Python (its kind, payload dict); GIL held (loop thread). Nil for
    /// `done`, which carries nothing to convert (the queue handles it).
    static func convert(_ kind: DirectDelivery, payload object: PythonObject) -> Delivery? {
        guard case .object(let payload)? = try? JSON(python: object) else { return nil }
        switch kind {
        case .result:
            return ExecuteResult(object: payload).map(Delivery.result)
        case .event:
            guard let type = payload["type"]?.stringValue, case .object(let data)? = payload["data"],
                  let event = try? RunEvent(type: type, object: data, id: payload["id"]?.stringValue)
            else { return nil }
            return .event(event)
        case .error:
            return ServiceError(object: payload, status: payload["status"]?.intValue).map(Delivery.error)
        case .done:
            return nil
        }
    }
}
