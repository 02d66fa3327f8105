import CagentAPI
import FoundationEssentials
import Synchronization

/// Calling agents from Swift with no HTTP in between: the same agents, results, events
/// and errors as ``CagentClient`` (a failure is the same ``ServiceError`` the client
/// carries in `CagentClientError.service`), through the running service's event loop.
extension EmbeddedSidecar {
    /// Runs `agentID` to its end. Throws ``ServiceError`` as the service reports it
    /// (`unknown_agent`, `invalid_request`, `agent_failed`, `timeout`, `shutting_down`, ...),
    /// ``SidecarError/notRunning(_:)``, or `CancellationError` — cancelling the calling
    /// task cancels the Python run.
    public nonisolated func execute(
        agentID: String, input: JSONObject, context: JSONObject? = nil, timeout: Duration? = nil
    ) async throws -> ExecuteResult {
        let outcome = Once<Result<ExecuteResult, any Error>>()
        let call = try submit(.init(kind: .execute, agentID: agentID, input: input, context: context, timeout: timeout)) { delivery in
            switch delivery {
            case .result(let result): outcome.fire(.success(result))
            case .error(let error): outcome.fire(.failure(error))
            case .done(let cancelled):
                outcome.fire(.failure(cancelled ? CancellationError() as any Error
                    : SidecarError.serviceStopped("the call ended without an answer")))
            case .event: break
            }
        }
        // A cancelled wait returns nil at once; the Python run is cancelled with it.
        let result = await withTaskCancellationHandler {
            await outcome.wait()
        } onCancel: {
            call.cancel()
        }
        guard let result else { throw CancellationError() }
        return try result.get()
    }

    /// Starts `agentID` and streams every event of its run, the last one `result` or
    /// `error` (an `error` event ends the stream normally; errors before the run starts
    /// are thrown). Ending the iteration early cancels the Python run.
    public nonisolated func stream(
        agentID: String, input: JSONObject, context: JSONObject? = nil, timeout: Duration? = nil
    ) async throws -> AsyncThrowingStream<RunEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: RunEvent.self)
        let call = try submit(.init(kind: .stream, agentID: agentID, input: input, context: context, timeout: timeout)) { delivery in
            switch delivery {
            case .event(let event):
                continuation.yield(event)
                if event.isTerminal { continuation.finish() }
            case .error(let error): continuation.finish(throwing: error)
            case .done(let cancelled):
                continuation.finish(throwing: cancelled ? CancellationError() as any Error
                    : SidecarError.serviceStopped("the run ended without a result or error event"))
            case .result: break
            }
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { call.cancel() }
        }
        return stream
    }

    /// Queues the call for the running service's loop; throws ``SidecarError/notRunning(_:)``.
    private nonisolated func submit(
        _ request: DirectCallQueue.Request, deliver: @escaping DirectCallQueue.Deliver
    ) throws -> DirectCall {
        let (state, queue) = direct.withLock { $0 }
        guard case .running = state, let queue else { throw SidecarError.notRunning(state) }
        guard let id = queue.submit(request, deliver: deliver) else { throw SidecarError.notRunning(state) }
        return DirectCall(id: id, queue: queue)
    }
}
