import CagentBench
import EmbeddedHost
import Foundation
import Loopback
import SidecarCLI
#if canImport(Glibc)
import Glibc
#endif

/// What restarts cost the embedded process, in a `cagent-sidecar run` child per kind:
/// `cycles` restarts by SIGHUP (`--sighup-restart cold|warm`), the child's RSS after
/// each (healthy, one request served), and the first request after each against the
/// steady latency of the same request (a new connection each, as the first one is).
///
/// Blocking from start to end: run it on a thread of its own.
struct RestartBench: Sendable {
    struct Figures: Sendable {
        /// RSS after a restart minus before it, per cycle (MB).
        var rssGrowthMB: [Double] = []
        /// The first `POST /agent/execute` after each restart (µs).
        var firstRequestUs: [Double] = []
        /// The same request at steady state, median of 30 (µs).
        var steadyUs: Double = 0
        /// First request after a restart / steady, per cycle.
        var firstRequestRatio: [Double] { firstRequestUs.map { $0 / max(steadyUs, 1) } }
    }

    var executable: String
    var kind: RestartKind
    var cycles = 20
    /// `--python-home` and `--service-dir` for the child.
    var runtime: RuntimeOptions

    func measure() throws -> Figures {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cagent-bench-restarts-\(getpid())-\(kind.rawValue)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let events = EventLog(path: folder.appendingPathComponent("events.jsonl").path)
        let token = AccessToken.generate()
        let (process, stdout) = try CLIRound.startRun(
            executable: executable,
            arguments: ["--events-file", events.path, "--sighup-restart", kind.rawValue, "--cold-restart-budget", "100000"],
            token: token, runtime: runtime, standardError: nil)
        defer { CLIRound.terminate(process) }
        let port = try CLIRound.waitForListening(stdout.fileHandleForReading.fileDescriptor, timeout: .seconds(60))
        let pid = process.processIdentifier

        func request() throws -> Double {
            let started = ContinuousClock.now
            let status = try SupervisionBench.post(port: port, token: token, path: "/agent/execute", body: CLIRound.body)
            guard status == 200 else { throw CLIError("execute answered \(status)") }
            return (ContinuousClock.now - started).inMilliseconds * 1000
        }
        for _ in 0..<50 { _ = try request() }
        var figures = Figures()
        figures.steadyUs = Summary(try (0..<31).map { _ in try request() })?.median ?? 0
        var before = try Self.rssMB(pid)
        for cycle in 1...cycles {
            kill(pid, SIGHUP)
            _ = try events.timestamp(of: "healthy", count: cycle + 1)
            figures.firstRequestUs.append(try request())
            for _ in 0..<20 { _ = try request() }
            let after = try Self.rssMB(pid)
            figures.rssGrowthMB.append(after - before)
            before = after
        }
        return figures
    }

    static func rssMB(_ pid: Int32) throws -> Double {
        guard let bytes = ProcessMemory.residentBytes(pid: pid) else { throw CLIError("no /proc/\(pid)/statm") }
        return Double(bytes) / 1_048_576
    }
}
