/// Waiting for a condition, never for a length of time.
///
/// A test that sleeps "long enough" for something to happen is slow when it is right and
/// flaky when the machine is busy; a poll without a deadline hangs instead of failing.
/// `waitUntil` looks at the condition until it holds and throws `WaitTimedOut`, naming
/// what was awaited, once the deadline passes. The timeout is a safety net against hangs,
/// not a timing assertion, so it is generous.
///
/// A library of its own (no dependencies) so that every test target uses the same one;
/// it throws rather than records an issue, so it needs no testing framework: a thrown
/// error fails the test with its description.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public let what: String
    public let timeout: Duration
    public let file: String
    public let line: Int

    public var description: String { "\(file):\(line): timed out after \(timeout) waiting until \(what)" }
}

/// Returns once `condition` holds; throws `WaitTimedOut` naming `what` after `timeout`.
/// Runs on the caller's isolation, so the condition may read what the caller owns.
public func waitUntil(
    _ what: @autoclosure () -> String,
    timeout: Duration = .seconds(60),
    isolation: isolated (any Actor)? = #isolation,
    file: String = #fileID,
    line: Int = #line,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            throw WaitTimedOut(what: what(), timeout: timeout, file: file, line: line)
        }
        try await Task.sleep(for: pollInterval)
    }
}

/// How often a condition is looked at: short next to any timeout, long next to a check.
let pollInterval: Duration = .milliseconds(20)
