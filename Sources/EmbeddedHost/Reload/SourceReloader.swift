#if canImport(Glibc)
import Logging

/// The development loop: a warm restart through the ``Supervisor`` for each burst of
/// source changes a ``SourceWatcher`` reports (`cagent-sidecar run --reload`).
///
/// A warm restart imports the service anew in the same interpreter (~50 ms, no new
/// process). A change that fails to import leaves the previous service serving: the
/// embedded backend publishes `restart_failed` with the error, and it is logged here;
/// the next save that imports recovers.
public struct SourceReloader: Sendable {
    public let supervisor: Supervisor
    public let watcher: SourceWatcher
    let logger: Logger

    public init(supervisor: Supervisor, watcher: SourceWatcher, logger: Logger = Logger(label: "cagent.reload")) {
        self.supervisor = supervisor
        self.watcher = watcher
        self.logger = logger
    }

    /// Restarts warm after each batch of changes, until the watcher stops or the task is
    /// cancelled.
    public func run() async {
        for await files in watcher.changes {
            let names = files.map { $0.split(separator: "/").last.map(String.init) ?? $0 }
            let reason = "reload: \(names.joined(separator: ", ")) changed"
            logger.info("sources changed; restarting warm", metadata: ["files": "\(files.joined(separator: ", "))"])
            do {
                try await supervisor.restart(.warm, reason: reason)
                logger.info("reloaded", metadata: ["files": "\(names.joined(separator: ", "))"])
            } catch {
                // The first line: the service has logged the whole traceback already.
                let detail = (error as? SidecarError)?.description ?? "\(error)"
                let summary = detail.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? detail
                if await supervisor.state == .running {
                    logger.error("reload failed; the previous service keeps serving", metadata: ["error": "\(summary)"])
                } else {
                    logger.error("reload failed", metadata: ["error": "\(summary)"])
                }
            }
        }
    }
}
#endif
