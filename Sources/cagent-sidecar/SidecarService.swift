import EmbeddedHost
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import UnixSignals

/// The supervised sidecar as a swift-service-lifecycle `Service`: started when the group
/// runs, stopped gracefully on SIGINT/SIGTERM, restarted on SIGHUP; ends with an error
/// when the supervisor gives up (circuit open) or the service is wedged.
struct SidecarService: Service {
    let supervisor: Supervisor
    let sidecar: any SupervisedSidecar
    let sighupRestart: RestartKind
    let banner: StartBanner
    let logger: Logger

    func run() async throws {
        let supervisor = self.supervisor
        let sidecar = self.sidecar
        let kind = sighupRestart
        let banner = self.banner
        let logger = self.logger
        let events = sidecar.events()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Ends when stopped (returns) or when it gives up (throws).
            group.addTask { try await supervisor.run() }
            group.addTask {
                // Announce the address once, the first time the service answers; one
                // write, so that a reader of the first line never sees half of it.
                for await event in events {
                    if case .healthy = event.kind, let address = await sidecar.address {
                        print(banner.text(for: address), terminator: "")
                        fflush(nil)
                        break
                    }
                }
                try await Task.sleep(for: .seconds(86_400 * 365 * 100))
            }
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    do {
                        try await supervisor.restart(kind)
                    } catch {
                        logger.error("restart on SIGHUP failed: \(error)")
                    }
                }
            }
            group.addTask {
                do {
                    try await gracefulShutdown()
                } catch {
                    return  // cancelled: the supervisor ended first
                }
                try await supervisor.stop()
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
