import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension CagentClient {
    /// `GET /agent/stream/{request_id}`: the run's events as they happen, from its start
    /// (or after `lastEventID`) to its `result` or `error`, which ends the stream.
    ///
    /// A connection that drops before the end (or stays silent past
    /// ``ClientConfiguration/streamIdleTimeout``) is reopened with `Last-Event-ID` set to
    /// the last id received, after the server's `retry:` delay or the configured one;
    /// the service replays what came after it, so no event is lost or repeated. After
    /// ``ClientConfiguration/Reconnection/maxAttempts`` consecutive failures the stream
    /// throws ``CagentClientError/streamInterrupted(lastEventID:attempts:reason:)``. An
    /// error answer (404 `unknown_run`, 400 `invalid_last_event_id`, 401) throws at once.
    /// Ending the iteration closes the connection; the run itself goes on.
    public func stream(requestID: String, lastEventID: String? = nil) -> AsyncThrowingStream<RunEvent, Error> {
        let (events, continuation) = AsyncThrowingStream.makeStream(of: RunEvent.self)
        let reader = Task {
            do {
                try await self.follow(requestID: requestID, from: lastEventID, into: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in reader.cancel() }
        return events
    }

    /// How one connection ended.
    private enum ConnectionEnd {
        /// The terminal event was delivered.
        case finished
        /// Dropped; `progressed` when it delivered at least one event with an id.
        case dropped(reason: String, progressed: Bool)
    }

    private func follow(
        requestID: String, from lastEventID: String?, into continuation: AsyncThrowingStream<RunEvent, Error>.Continuation
    ) async throws {
        var parser = ServerSentEventParser(lastEventID: lastEventID ?? "")
        var failures = 0
        while true {
            let end = try await readConnection(requestID: requestID, parser: &parser, into: continuation)
            guard case .dropped(let reason, let progressed) = end else { return }
            failures = progressed ? 1 : failures + 1
            let resumeAt = parser.lastEventID.isEmpty ? nil : parser.lastEventID
            guard failures <= configuration.reconnection.maxAttempts else {
                throw CagentClientError.streamInterrupted(lastEventID: resumeAt, attempts: failures - 1, reason: reason)
            }
            let delay = parser.retryMilliseconds.map { Duration.milliseconds($0) } ?? configuration.reconnection.delay
            try await Task.sleep(for: delay)
            parser.finish()
        }
    }

    private func readConnection(
        requestID: String, parser: inout ServerSentEventParser,
        into continuation: AsyncThrowingStream<RunEvent, Error>.Continuation
    ) async throws -> ConnectionEnd {
        let path = "/agent/stream/" + (requestID.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? requestID)
        var request = request("GET", "")
        request.url = URL(string: configuration.baseURL.absoluteString.trimmingSuffix("/") + path)
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        request.setValue("no-cache", forHTTPHeaderField: "Cache-Control")
        if !parser.lastEventID.isEmpty { request.setValue(parser.lastEventID, forHTTPHeaderField: "Last-Event-ID") }

        let response = transport.open(request)
        let idle = IdleTimer(timeout: configuration.streamIdleTimeout) {
            response.abort(.timedOut(self.configuration.streamIdleTimeout))
        }
        defer { idle.stop() }
        var progressed = false
        var status: Int?
        var errorBody = Data()
        var headerRequestID: String?
        do {
            for try await part in response.parts {
                idle.touch()
                switch part {
                case .head(let head):
                    status = head.statusCode
                    headerRequestID = head.value(forHTTPHeaderField: "X-Request-ID")
                case .body(let data) where status != 200:
                    errorBody.append(data)
                case .body(let data):
                    for event in parser.feed(data) {
                        let runEvent: RunEvent
                        do {
                            runEvent = try RunEvent(type: event.type, data: event.data, id: event.hasID ? event.lastEventID : nil)
                        } catch {
                            throw CagentClientError.malformedResponse(error.description)
                        }
                        continuation.yield(runEvent)
                        if event.hasID { progressed = true }
                        if runEvent.isTerminal {
                            response.abort(.transport("closed by the client after the run's end"))
                            return .finished
                        }
                    }
                }
            }
        } catch let error as CagentClientError {
            switch error {
            case .transport(let reason): return .dropped(reason: reason, progressed: progressed)
            case .timedOut: return .dropped(reason: error.description, progressed: progressed)
            default: throw error
            }
        }
        try Task.checkCancellation()
        guard let status else { return .dropped(reason: "no response", progressed: progressed) }
        guard status == 200 else {
            throw Self.error(status: status, body: errorBody, headerRequestID: headerRequestID)
        }
        return .dropped(reason: "the server ended the stream before the run's end", progressed: progressed)
    }
}

/// Calls `expired` once when ``touch()`` has not been called for `timeout`.
private final class IdleTimer: Sendable {
    private let lastTouch = Mutex(ContinuousClock.now)
    private let watcher = Mutex<Task<Void, Never>?>(nil)

    init(timeout: Duration, expired: @escaping @Sendable () -> Void) {
        let task = Task { [self] in
            while !Task.isCancelled {
                let due = lastTouch.withLock { $0 } + timeout
                if ContinuousClock.now >= due {
                    expired()
                    return
                }
                try? await Task.sleep(until: due)
            }
        }
        watcher.withLock { $0 = task }
    }

    func touch() { lastTouch.withLock { $0 = .now } }
    /// Must be called: the watcher holds this timer until then.
    func stop() { watcher.withLock { $0?.cancel() } }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
