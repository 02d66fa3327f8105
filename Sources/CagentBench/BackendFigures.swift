/// Everything the bench measures for one backend. Nil means "not measured" or "does not
/// apply" (direct calls and warm restarts exist for the embedded backend only); it is
/// written as `null`, never as a zero that could be read as a result.
public struct BackendFigures: Sendable, Equatable {
    /// Launch of `cagent-sidecar run` to `listening on` (the service answered /health).
    public var coldStartMs: Summary?
    /// Restart to healthy: a cold re-initialization (embedded) or a respawn (subprocess).
    public var restartMs: Summary?
    /// Embedded only: a new server in the same interpreter.
    public var warmRestartMs: Summary?
    /// Resident memory of the CLI process and all its descendants, idle after start.
    public var rssMB: Summary?
    /// `POST /agent/execute` (echo) over keep-alive HTTP, one client.
    public var httpP50Us: Summary?
    public var httpP99Us: Summary?
    /// The same request from several concurrent clients.
    public var httpRps: Summary?
    /// Embedded only: the same call through `EmbeddedSidecar.execute`.
    public var directP50Us: Summary?
    public var directP99Us: Summary?
    /// HTTP p50 against the same in-process sidecar the direct calls used: the ratio
    /// the direct-call target is about, with everything else equal.
    public var directHTTPP50Us: Summary?
    /// From the supervisor (embedded: the watchdog; subprocess has no loop watchdog).
    public var stallDetectionMs: Summary?
    public var stallRecoveryMs: Summary?
    public var crashToHealthyMs: Summary?
    /// Embedded only, over 20 restarts of each kind in one process: RSS after a restart
    /// minus before, and the first request after it over the steady latency.
    public var coldRestartRSSGrowthMB: Summary?
    public var warmRestartRSSGrowthMB: Summary?
    public var firstRequestAfterColdRatio: Summary?
    public var firstRequestAfterWarmRatio: Summary?

    public init() {}
}

/// One figure: its JSON key, how the table and chart name it, and where it lives.
public struct Metric: Sendable {
    public let key: String
    public let label: String
    public let unit: String
    public let value: @Sendable (BackendFigures) -> Summary?

    /// The keys first, in its order; the extra ones after.
    public static let all: [Metric] = [
        Metric(key: "cold_start_ms", label: "cold start (launch -> healthy)", unit: "ms") { $0.coldStartMs },
        Metric(key: "restart_ms", label: "restart -> healthy (cold / respawn)", unit: "ms") { $0.restartMs },
        Metric(key: "warm_restart_ms", label: "warm restart -> healthy", unit: "ms") { $0.warmRestartMs },
        Metric(key: "rss_mb", label: "idle RSS (host + children)", unit: "MB") { $0.rssMB },
        Metric(key: "http_p50_us", label: "HTTP execute p50, 1 client", unit: "µs") { $0.httpP50Us },
        Metric(key: "http_p99_us", label: "HTTP execute p99, 1 client", unit: "µs") { $0.httpP99Us },
        Metric(key: "http_rps", label: "HTTP execute throughput", unit: "req/s") { $0.httpRps },
        Metric(key: "direct_p50_us", label: "direct execute p50", unit: "µs") { $0.directP50Us },
        Metric(key: "direct_p99_us", label: "direct execute p99", unit: "µs") { $0.directP99Us },
        Metric(key: "direct_http_p50_us", label: "HTTP p50, same in-process sidecar", unit: "µs") { $0.directHTTPP50Us },
        Metric(key: "stall_detection_ms", label: "stall detection", unit: "ms") { $0.stallDetectionMs },
        Metric(key: "stall_recovery_ms", label: "stall recovery (interrupt)", unit: "ms") { $0.stallRecoveryMs },
        Metric(key: "crash_to_healthy_ms", label: "crash -> healthy (backoff incl.)", unit: "ms") { $0.crashToHealthyMs },
        Metric(key: "cold_restart_rss_mb", label: "RSS kept per cold restart", unit: "MB") { $0.coldRestartRSSGrowthMB },
        Metric(key: "warm_restart_rss_mb", label: "RSS kept per warm restart", unit: "MB") { $0.warmRestartRSSGrowthMB },
        Metric(key: "first_request_after_cold_ratio", label: "first request after cold / steady", unit: "x") { $0.firstRequestAfterColdRatio },
        Metric(key: "first_request_after_warm_ratio", label: "first request after warm / steady", unit: "x") { $0.firstRequestAfterWarmRatio },
    ]
}
