/// The subprocess backend under the ``Supervisor``: a crash is the child exiting (see
/// ``SubprocessSidecar/waitUntilFailed()``), and every restart is a new child. There is
/// no watchdog: a stuck child cannot freeze the host, and SIGKILL always ends it.
extension SubprocessSidecar: SupervisedSidecar {
    public var healthEndpoint: HealthEndpoint? {
        guard case .running = state, let port else { return nil }
        return HealthEndpoint(host: configuration.host, port: port)
    }

    public nonisolated var restartKindAfterCrash: RestartKind { .respawn }
    public nonisolated var restartKindWhenFaulty: RestartKind { .respawn }

    public func enableWatchdog(stallThreshold: Duration) async -> (any SidecarWatchdog)? { nil }
}
