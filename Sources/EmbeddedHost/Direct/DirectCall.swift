import Bridge
import CagentAPI
import Foundation
import Synchronization

/// One agent call submitted to the service's loop (`cagent_host.direct`).
///
/// Python reports through a Swift function called on the loop thread with the GIL held,
/// so ``deliver`` only converts and hands over; it never blocks. The Python future is
/// kept to cancel the call: cancelling it cancels the run.
final class DirectCall: Sendable {
    enum Kind: String, Sendable {
        case execute, stream
    }

    /// What Python delivered, converted.
    enum Delivery: Sendable {
        case result(ExecuteResult)
        case event(RunEvent)
        case error(ServiceError)
        /// Always last; `cancelled` when the call ended without an answer.
        case done(cancelled: Bool)
    }

    private let future: Mutex<PythonObject?>

    private init(future: PythonObject) {
        self.future = Mutex(future)
    }

    /// Submits the call; `deliver` receives every ``Delivery`` on the loop thread.
    static func submit(
        _ kind: Kind, on thread: InterpreterThread, agentID: String, input: JSONObject, context: JSONObject?,
        timeout: Duration?, deliver: @escaping @Sendable (Delivery) -> Void
    ) throws -> DirectCall {
        let submitted: Result<PythonObject, any Error>? = GIL.withLockIfAvailable {
            Result {
                guard let controller = thread.controller.withLock({ $0 }) else {
                    throw SidecarError.notRunning(.stopped)
                }
                let callback = PythonObject.function(name: "cagent_deliver") { arguments in
                    if let delivery = Self.convert(arguments) { deliver(delivery) }
                    return PythonObject.none
                }
                let seconds = timeout.map { PythonObject.double($0.seconds) } ?? PythonObject.none
                let direct = try controller.attribute("direct")
                return try direct.callMethod(kind.rawValue, [
                    PythonObject.string(agentID),
                    try PythonObject(json: .object(input.mapValues(JSONValue.init))),
                    try context.map { try PythonObject(json: .object($0.mapValues(JSONValue.init))) } ?? PythonObject.none,
                    seconds,
                    callback,
                ])
            }
        }
        guard let submitted else { throw SidecarError.notRunning(.stopped) }
        return DirectCall(future: try submitted.get())
    }

    /// Cancels the call and its run. Takes the GIL, so never on the loop thread.
    func cancel() {
        guard let future = future.withLock({ $0 }) else { return }
        _ = GIL.withLockIfAvailable { _ = try? future.callMethod("cancel") }
    }

    /// GIL held (loop thread).
    private static func convert(_ arguments: [PythonObject]) -> Delivery? {
        guard arguments.count == 2,
              case .string(let kind)? = try? JSONValue(python: arguments[0]),
              case .object(let raw)? = try? JSONValue(python: arguments[1])
        else { return nil }
        let payload = raw.mapValues(JSON.init)
        switch kind {
        case "result":
            return ExecuteResult(object: payload).map(Delivery.result)
        case "event":
            guard let type = payload["type"]?.stringValue, case .object(let data)? = payload["data"],
                  let event = try? RunEvent(type: type, object: data, id: payload["id"]?.stringValue)
            else { return nil }
            return .event(event)
        case "error":
            return ServiceError(object: payload, status: payload["status"]?.intValue).map(Delivery.error)
        case "done":
            return .done(cancelled: payload["cancelled"]?.boolValue ?? false)
        default:
            return nil
        }
    }
}
