import EmbeddedHost
import Logging
import ServiceLifecycle

/// `run --reload`: once the service is running, watches its folder (and the agents
/// folder, `CAGENT_AGENTS_DIR`, when set) and restarts it warm on each burst of `.py`
/// changes (``SourceReloader``).
struct ReloadService: Service {
    let supervisor: Supervisor
    /// The resolved service folder, once running (the sidecar found it).
    let serviceDirectory: @Sendable () async -> String?
    let agentsDirectory: String?
    let logger: Logger

    func run() async throws {
        do {
            try await supervisor.waitUntilRunning()
        } catch {
            return  // it never ran: the supervisor's service reports why
        }
        guard let service = await serviceDirectory() else { return }
        let roots = [service] + (agentsDirectory.map { [$0] } ?? [])
        let watcher = try SourceWatcher(roots: roots)
        defer { watcher.stop() }
        logger.info("reloading on changes to .py files", metadata: [
            "folders": "\(roots.joined(separator: ", "))", "watches": "\(watcher.watchedFolders.count)",
        ])
        let reloader = SourceReloader(supervisor: supervisor, watcher: watcher, logger: logger)
        await cancelWhenGracefulShutdown { await reloader.run() }
    }
}
