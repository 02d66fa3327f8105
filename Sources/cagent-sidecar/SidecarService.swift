import EmbeddedHost
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// The sidecar as a swift-service-lifecycle `Service`: started when the group runs,
/// stopped gracefully on SIGINT/SIGTERM, restarted on SIGHUP.
struct SidecarService: Service {
    let sidecar: EmbeddedSidecar
    let sighupRestart: RestartKind
    let logger: Logger

    func run() async throws {
        try await sidecar.start()
        if let url = await sidecar.baseURL {
            print("listening on \(url.absoluteString)")
            fflush(nil)
        }
        var ended: Error?
        do {
            try await serveUntilShutdown()
        } catch {
            ended = error
        }
        try await sidecar.stop()
        if let ended { throw ended }
    }

    /// Returns on graceful shutdown; throws when the service stops on its own.
    private func serveUntilShutdown() async throws {
        let sidecar = self.sidecar
        let kind = sighupRestart
        let logger = self.logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    do {
                        try await sidecar.restart(kind)
                    } catch {
                        logger.error("restart on SIGHUP failed: \(error)")
                    }
                }
            }
            group.addTask { try await sidecar.waitUntilFailed() }
            group.addTask { try await gracefulShutdown() }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
