import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// HTTP for the client: one `URLSession` whose delegate hands each task's response,
/// bytes and completion to a handler of that task.
///
/// Why `URLSession` with a data delegate and not AsyncHTTPClient (swift-nio): it adds no
/// dependency (on Linux it is FoundationNetworking over libcurl, part of the toolchain),
/// while AsyncHTTPClient's first build costs about four minutes on the project's two-core
/// CI, which builds from scratch every time. The delegate's `didReceive data` streams an
/// SSE body chunk by chunk on Linux too; `URLSession.bytes(for:)` would be simpler but
/// FoundationNetworking does not have it. Loopback HTTP/1.1 to one local service is all
/// the client needs; connection reuse (keep-alive) comes with the session.
final class HTTPTransport: Sendable {
    private let session: URLSession
    private let router: TaskRouter

    init() {
        let router = TaskRouter()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        // Deadlines are the client's own (see send and open): the session's idle timers
        // must never fire first.
        configuration.timeoutIntervalForRequest = 24 * 3600
        configuration.timeoutIntervalForResource = 7 * 24 * 3600
        self.router = router
        self.session = URLSession(configuration: configuration, delegate: router, delegateQueue: nil)
    }

    deinit {
        // A session keeps its delegate until invalidated.
        session.invalidateAndCancel()
    }

    /// One request, its whole body; fails with ``CagentClientError/timedOut(_:)`` when the
    /// answer is not complete within `timeout`. Cancelling the calling task cancels it.
    func send(_ request: URLRequest, timeout: Duration) async throws -> (HTTPURLResponse, Data) {
        let collector = Collector()
        let task = session.dataTask(with: request)
        router.register(collector, for: task)
        let timer = Task { [weak task] in
            try await Task.sleep(for: timeout)
            collector.timedOut(timeout)
            task?.cancel()
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                collector.start(continuation)
                task.resume()
            }
        } onCancel: {
            collector.cancelled()
            task.cancel()
        }
    }

    /// Starts a request whose body is read as it arrives (an event stream).
    func open(_ request: URLRequest) -> StreamingResponse {
        let (parts, continuation) = AsyncThrowingStream.makeStream(of: StreamingResponse.Part.self)
        let task = session.dataTask(with: request)
        let streamer = Streamer(continuation)
        router.register(streamer, for: task)
        continuation.onTermination = { [weak task] _ in task?.cancel() }
        task.resume()
        return StreamingResponse(parts: parts, streamer: streamer, task: task)
    }
}

/// The parts of a streamed answer: the response head, then body chunks; the stream ends
/// when the server ends the body, and throws when the connection fails.
struct StreamingResponse: Sendable {
    enum Part: Sendable {
        case head(HTTPURLResponse)
        case body(Data)
    }

    let parts: AsyncThrowingStream<Part, Error>
    fileprivate let streamer: Streamer
    fileprivate let task: URLSessionDataTask

    /// Ends the stream with `error` and closes the connection.
    func abort(_ error: CagentClientError) {
        streamer.fail(error)
        task.cancel()
    }
}

// MARK: - Delegate plumbing

/// What the session tells about one task.
protocol TaskHandler: Sendable {
    func received(_ response: HTTPURLResponse)
    func received(_ data: Data)
    func completed(_ error: (any Error)?)
}

/// The session's delegate: routes callbacks by task identifier.
final class TaskRouter: NSObject, URLSessionDataDelegate, Sendable {
    private let handlers = Mutex<[Int: any TaskHandler]>([:])

    func register(_ handler: any TaskHandler, for task: URLSessionTask) {
        handlers.withLock { $0[task.taskIdentifier] = handler }
    }

    private func handler(for task: URLSessionTask) -> (any TaskHandler)? {
        handlers.withLock { $0[task.taskIdentifier] }
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        if let response = response as? HTTPURLResponse { handler(for: dataTask)?.received(response) }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        handler(for: dataTask)?.received(data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let handler = handlers.withLock { $0.removeValue(forKey: task.taskIdentifier) }
        handler?.completed(error)
    }

    /// No redirects: the service never sends one, and following one could carry the
    /// token somewhere else.
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}

/// Collects one whole answer and resumes its caller once.
private final class Collector: TaskHandler {
    private enum Ending: Sendable {
        case timedOut(Duration)
        case cancelled
    }

    private struct State {
        var continuation: CheckedContinuation<(HTTPURLResponse, Data), Error>?
        var response: HTTPURLResponse?
        var body = Data()
        var ending: Ending?
        /// Completed before the continuation was set.
        var early: Result<(HTTPURLResponse, Data), Error>?
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<(HTTPURLResponse, Data), Error>) {
        let early = state.withLock { state -> Result<(HTTPURLResponse, Data), Error>? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func timedOut(_ timeout: Duration) { state.withLock { if $0.ending == nil { $0.ending = .timedOut(timeout) } } }
    func cancelled() { state.withLock { if $0.ending == nil { $0.ending = .cancelled } } }

    func received(_ response: HTTPURLResponse) { state.withLock { $0.response = response } }
    func received(_ data: Data) { state.withLock { $0.body.append(data) } }

    func completed(_ error: (any Error)?) {
        let (continuation, result) = state.withLock { state -> (CheckedContinuation<(HTTPURLResponse, Data), Error>?, Result<(HTTPURLResponse, Data), Error>) in
            let result: Result<(HTTPURLResponse, Data), Error>
            switch (state.ending, error, state.response) {
            case (.timedOut(let timeout)?, _, _): result = .failure(CagentClientError.timedOut(timeout))
            case (.cancelled?, _, _): result = .failure(CagentClientError.cancelled)
            case (nil, let error?, _): result = .failure(CagentClientError.transport(describe(error)))
            case (nil, nil, let response?): result = .success((response, state.body))
            case (nil, nil, nil): result = .failure(CagentClientError.malformedResponse("no HTTP response"))
            }
            let continuation = state.continuation
            state.continuation = nil
            if continuation == nil { state.early = result }
            return (continuation, result)
        }
        continuation?.resume(with: result)
    }
}

/// Forwards a streamed answer into an `AsyncThrowingStream`.
private final class Streamer: TaskHandler {
    private let continuation: AsyncThrowingStream<StreamingResponse.Part, Error>.Continuation
    private let failure = Mutex<CagentClientError?>(nil)

    init(_ continuation: AsyncThrowingStream<StreamingResponse.Part, Error>.Continuation) {
        self.continuation = continuation
    }

    func fail(_ error: CagentClientError) {
        failure.withLock { if $0 == nil { $0 = error } }
        continuation.finish(throwing: error)
    }

    func received(_ response: HTTPURLResponse) { continuation.yield(.head(response)) }
    func received(_ data: Data) { continuation.yield(.body(data)) }

    func completed(_ error: (any Error)?) {
        if let set = failure.withLock({ $0 }) {
            continuation.finish(throwing: set)
        } else if let error {
            continuation.finish(throwing: CagentClientError.transport(describe(error)))
        } else {
            continuation.finish()
        }
    }
}

/// A transport failure in words: the `URLError` code's meaning, not just its number.
func describe(_ error: any Error) -> String {
    if let error = error as? URLError {
        let what = switch error.code {
        case .cannotConnectToHost: "cannot connect (connection refused)"
        case .networkConnectionLost: "the connection was lost"
        case .timedOut: "timed out"
        case .cannotFindHost: "cannot find the host"
        case .badServerResponse: "bad server response"
        default: "URL error \(error.code.rawValue)"
        }
        return "\(what): \(error.localizedDescription)"
    }
    return "\(error)"
}
