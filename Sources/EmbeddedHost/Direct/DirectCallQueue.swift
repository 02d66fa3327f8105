import Bridge
import CagentAPI
import FoundationEssentials
import Loopback
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How direct calls reach the service's event loop without the caller taking the GIL.
///
/// A caller appends its call to an inbox under a lock and, when the inbox was empty,
/// writes one byte to a pipe the loop watches (`loop.add_reader`, see
/// `cagent_host/direct.py`). The loop thread, which holds the GIL while it runs anyway,
/// drains the inbox, converts the inputs and starts the runs; it reports back through
/// one Swift function. A call therefore costs its caller a lock and at most one
/// `write(2)`: no GIL hand-off between threads and no Python thread state for a Swift
/// thread Python has never seen (measured: those were most of a direct call's time).
///
/// One queue per ``InterpreterThread``; open while a generation's loop serves it.
final class DirectCallQueue: Sendable {
    struct Request: Sendable {
        var kind: DirectCall.Kind
        var agentID: String
        var input: JSONObject
        var context: JSONObject?
        var timeout: Duration?
    }

    typealias Deliver = @Sendable (DirectCall.Delivery) -> Void

    private struct Call: Sendable {
        var deliver: Deliver
        var cancelRequested = false
    }

    private struct State: Sendable {
        var open = false
        var inbox: [DirectRequest] = []
        var calls: [UInt64: Call] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let pipe = LoopPipe()

    /// Queues a call; `nil` when no loop serves the queue (the service is not running).
    /// `deliver` is called on the loop thread, GIL held: it must only hand over.
    func submit(_ request: Request, deliver: @escaping Deliver) -> UInt64? {
        let (id, wake) = state.withLock { state -> (UInt64?, Bool) in
            guard state.open else { return (nil, false) }
            state.nextID += 1
            let id = state.nextID
            state.calls[id] = Call(deliver: deliver)
            state.inbox.append(.start(callID: id, request))
            return (id, state.inbox.count == 1)
        }
        if wake { wakeLoop() }
        return id
    }

    /// Asks the loop to cancel the call's run; its `done` delivery follows. Any thread.
    func cancel(_ id: UInt64) {
        let wake = state.withLock { state -> Bool in
            guard state.open, state.calls[id] != nil else { return false }
            state.calls[id]?.cancelRequested = true
            state.inbox.append(.cancel(callID: id))
            return state.inbox.count == 1
        }
        if wake { wakeLoop() }
    }

    private func wakeLoop() {
        var byte: UInt8 = 1
        // A full pipe holds wake-ups the loop has not read yet; one is enough.
        _ = withUnsafeBytes(of: &byte) { pipe.send($0) }
    }

    // MARK: - Loop thread, GIL held

    /// Hands the inbox to `controller.direct` and opens the queue. Called when a
    /// generation's loop has started.
    func attach(to controller: PythonObject) throws {
        let take = PythonObject.function(name: "cagent_direct_take") { [self] _ in
            try PythonObject(json: .array(takeInbox()))
        }
        let deliver = PythonObject.function(name: "cagent_direct_deliver") { [self] arguments in
            deliverFromPython(arguments)
            return PythonObject.none
        }
        state.withLock { $0.open = true }
        do {
            _ = try controller.attribute("direct").callMethod(
                "attach", [PythonObject.integer(Int(pipe.readDescriptor)), take, deliver])
        } catch {
            state.withLock { $0.open = false }
            throw error
        }
    }

    /// Closes the queue when a generation's loop has ended: every call still waiting for
    /// an answer ends with `done` (the caller reports the service stopped, or its own
    /// cancellation). Any thread; delivers outside the lock.
    func closeInbox() {
        let orphans = state.withLock { state -> [Call] in
            state.open = false
            state.inbox.removeAll()
            defer { state.calls.removeAll() }
            return Array(state.calls.values)
        }
        for call in orphans { call.deliver(.done(cancelled: call.cancelRequested)) }
        pipe.drain()
    }

    /// The inbox, each item a ``DirectRequest`` object.
    private func takeInbox() -> [JSON] {
        let items = state.withLock { state -> [DirectRequest] in
            defer { state.inbox.removeAll(keepingCapacity: true) }
            return state.inbox
        }
        return items.map(\.json)
    }

    /// `deliver(call_id, delivery, payload)` from Python (``DirectDelivery``).
    private func deliverFromPython(_ arguments: [PythonObject]) {
        guard arguments.count == 3, case .integer(let raw)? = try? JSON(python: arguments[0]) else { return }
        let id = UInt64(raw)
        guard case .string(let name)? = try? JSON(python: arguments[1]), let kind = DirectDelivery(rawValue: name) else { return }
        if kind == .done {
            guard let call = state.withLock({ $0.calls.removeValue(forKey: id) }) else { return }
            call.deliver(.done(cancelled: call.cancelRequested))
            return
        }
        guard let call = state.withLock({ $0.calls[id] }),
              let delivery = DirectCall.convert(kind, payload: arguments[2])
        else { return }
        call.deliver(delivery)
    }
}
