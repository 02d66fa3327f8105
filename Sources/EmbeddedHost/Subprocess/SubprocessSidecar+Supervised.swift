/// The subprocess backend under the ``Supervisor``: a crash is the child exiting (see
/// ``SubprocessSidecar/waitUntilFailed()``), and every restart is a new child. There is
/// no watchdog: a stuck child cannot freeze the host, and SIGKILL always ends it.
extension SubprocessSidecar: SupervisedSidecar {
    public var healthEndpoint: HealthEndpoint? {
        guard case .running = state, let port else { return nil }
        return HealthEndpoint(host: configuration.host, port: port)
    }

    public func recoveryPlan() -> RecoveryPlan {
        RecoveryPlan(kind: .respawn, why: "the subprocess backend replaces its child")
    }

    public func enableWatchdog(stallThreshold: Duration) async -> (any SidecarWatchdog)? { nil }

    /// `GET /health`; a service that says `shutting_down` was asked to stop by a client
    /// (the host's own stop is not probed): that is reported as the stop request at once,
    /// before the child has exited (with status 0), so that failed probes in between are
    /// not taken for a fault and restarted.
    public func probeHealth(timeout: Duration) async -> Result<Void, HealthProbe.Failure> {
        guard let endpoint = healthEndpoint else { return .failure(.connect("the service is not listening")) }
        let result = await HealthProbe(host: endpoint.host, port: endpoint.port, timeout: timeout).check()
        if case .failure(.shuttingDown) = result {
            serviceAskedToStop("POST /shutdown (/health says shutting_down)")
        }
        return result.map { _ in () }
    }
}
