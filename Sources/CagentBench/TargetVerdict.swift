/// One of the issue's targets judged against medians: met, missed, or not measurable
/// (a figure is missing). Printed, written to the JSON, never asserted.
public struct TargetVerdict: Sendable, Equatable {
    public var target: String
    public var measured: String
    public var met: Bool?

    /// `againstControl`: `s` is the subprocess backend on the host's libpython; only the
    /// targets that compare two backends are judged.
    static func evaluate(embedded e: BackendFigures, subprocess s: BackendFigures, againstControl: Bool = false) -> [TargetVerdict] {
        func ratio(_ target: String, _ a: Summary?, _ b: Summary?, limit: Double, atLeast: Bool = false) -> TargetVerdict {
            guard let a, let b, b.median > 0 else { return TargetVerdict(target: target, measured: "not measured", met: nil) }
            let value = a.median / b.median
            let measured = "\(BenchReport.format(a.median)) vs \(BenchReport.format(b.median)) = \(String(format: "%.2f", value))×"
            return TargetVerdict(target: target, measured: measured, met: atLeast ? value >= limit : value <= limit)
        }
        let coldStart = ratio("embedded cold start ≤ 0.9 × subprocess", e.coldStartMs, s.coldStartMs, limit: 0.9)
        let coldRestart = ratio("embedded cold restart ≤ subprocess respawn", e.restartMs, s.restartMs, limit: 1)
        let rss = ratio("embedded RSS ≤ 0.9 × host plus child", e.rssMB, s.rssMB, limit: 0.9)
        let baseline = againstControl ? "uvicorn on the same libpython" : "plain uvicorn"
        let throughput = ratio("embedded HTTP throughput ≥ 0.95 × \(baseline)", e.httpRps, s.httpRps, limit: 0.95, atLeast: true)
        if againstControl { return [coldStart, coldRestart, rss, throughput] }

        var warm = TargetVerdict(target: "embedded warm restart ≤ 50 ms", measured: "not measured", met: nil)
        if let value = e.warmRestartMs?.median {
            warm.measured = "\(BenchReport.format(value)) ms"
            warm.met = value <= 50
        }
        let direct = ratio("direct call p50 ≤ 1/10 of HTTP p50 (same sidecar)", e.directP50Us, e.directHTTPP50Us, limit: 0.1)
        return [coldStart, coldRestart, warm, direct, rss, throughput]
    }
}
