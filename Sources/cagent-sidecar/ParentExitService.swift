import EmbeddedHost
import FoundationEssentials
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// `run --exit-with-parent`: ends when the process that started the host is gone, and
/// its group then stops the host gracefully (within the shutdown timeout; exit status 0).
///
/// Runs inside the ``ServiceGroup``, whose SIGTERM handler is installed before any
/// service starts: so the death signal, SIGTERM, is armed only once a SIGTERM is a
/// graceful stop and never the default action (killed, nothing cleaned up).
struct ParentExitService: Service {
    let watch: ParentWatch
    let logger: Logger

    func run() async throws {
        switch watch.armDeathSignal(SIGTERM) {
        case .armed:
            logger.debug("exit-with-parent: SIGTERM when process \(watch.parent) ends")
        case .parentGone(let now):
            logger.warning("exit-with-parent: the parent process \(watch.parent) has already ended (now \(now)); stopping")
            return
        case .unavailable(let reason):
            logger.notice("exit-with-parent: no parent-death signal here (\(reason)); watching standard input only")
        }
        guard ParentWatch.standardInputIsPipe else {
            // Nothing more to watch: wait for the group to stop for another reason.
            try? await gracefulShutdown()
            return
        }
        let reason = await cancelWhenGracefulShutdown { await ParentWatch.standardInputClosed() }
        if let reason {
            logger.warning("exit-with-parent: \(reason): the parent process has ended or closed it; stopping")
        }
    }
}
