import ArgumentParser
import CagentBench
import EmbeddedHost
import Foundation
import Logging
import Loopback
import SidecarCLI
#if canImport(Glibc)
import Glibc
#endif

/// `cagent-bench`: both backends side by side, figures printed and never asserted.
///
/// A program of its own (not a `cagent-sidecar` subcommand) because it needs full
/// Foundation (`Process`, `JSONSerialization`, `String(format:)`), whose ICU data the
/// shipped binary leaves out (docs/shipping.md). It runs the `cagent-sidecar` built
/// beside it.
///
/// Order of work: rounds in fresh `run` child processes alternating embedded, subprocess
/// and the control, the subprocess backend on the host's libpython (`cagent-python`; start, memory,
/// HTTP, SIGHUP restart; the order rotates every round so no backend always runs on a
/// warmer page cache), then direct calls and warm
/// restarts on an in-process sidecar (``DirectBench``), then the supervisor's stall and
/// crash figures (``SupervisionBench``). One interpreter at a time in this process.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cagent-bench",
        abstract: "Measure the embedded and subprocess backends side by side and print a table.",
        discussion: """
            Figures only: nothing is asserted. Timings are medians over the rounds with
            [min-max]; --json writes {"embedded": {...}, "subprocess": {...}} with
            {"median", "min", "max"} per figure, --plot an SVG bar chart.
            """
    )

    /// `--python-home`, `--service-dir`, as `cagent-sidecar run` has them; handed on to
    /// every sidecar the bench starts.
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: "How many times to measure each figure (per backend).")
    var rounds: Int = 5

    @Option(help: "Measured HTTP requests per round (and direct calls per batch).")
    var requests: Int = 2000

    @Option(help: "Concurrent keep-alive clients for the throughput figure.")
    var clients: Int = 4

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    @Option(help: "Write a bar chart of the figures (SVG) to this file.")
    var plot: String?

    @Flag(help: "Leave out the supervisor's stall and crash figures (they take the longest).")
    var skipSupervision = false

    @Flag(help: "Leave out the control: the subprocess backend on this host's libpython (--child-python libpython).")
    var skipControl = false

    /// The bench's parts, in the order they run.
    enum Part: String, CaseIterable, ExpressibleByArgument {
        /// Fresh `run` processes per backend: start, memory, HTTP, restart.
        case backends
        /// In-process: direct calls beside HTTP, warm restarts.
        case direct
        /// In-process: stall detection and crash recovery.
        case supervision
        /// A `run` child per kind: memory kept and the first request after 20 cold and
        /// 20 warm restarts.
        case restarts
    }

    @Option(help: "Restarts of each kind measured by the restarts part.")
    var restartCycles = 20

    @Option(name: .customLong("only"), help: "Measure only these parts (repeatable): \(Part.allCases.map(\.rawValue).joined(separator: ", ")).")
    var onlyParts: [Part] = []

    private func runs(_ part: Part) -> Bool {
        if part == .supervision && skipSupervision { return false }
        return onlyParts.isEmpty || onlyParts.contains(part)
    }

    @OptionGroup(title: "Supervision")
    var supervision: SupervisionOptions

    func validate() throws {
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be between 1 and 100") }
        guard (1...200).contains(restartCycles) else { throw ValidationError("--restart-cycles must be between 1 and 200") }
        guard (100...1_000_000).contains(requests) else { throw ValidationError("--requests must be between 100 and 1000000") }
        guard (1...64).contains(clients) else { throw ValidationError("--clients must be between 1 and 64") }
    }

    func run() async throws {
        let health = try supervision.healthCheckConfig(shutdownTimeout: 5)
        var logger = Logger(label: "cagent.bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        let executable = try Self.executablePath()

        var embedded = BackendFigures()
        var subprocess = BackendFigures()
        var sameInterpreter: BackendFigures?
        // (name, --mode, --child-python)
        var backends: [(String, String, String?)] = [("embedded", "embedded", nil), ("subprocess", "subprocess", nil)]
        if !skipControl, runs(.backends) {
            let control = ChildInterpreter.libpythonExecutable
            guard FileManager.default.isExecutableFile(atPath: control) else {
                throw CLIError("the control needs \(control) (`make bench` builds it beside this executable); or pass --skip-control")
            }
            backends.append(("subprocess-libpython", "subprocess", "libpython"))
        }
        var rows: [String: [CLIRound.Figures]] = [:]
        for round in 1...rounds where runs(.backends) {
            let shift = (round - 1) % backends.count
            for (name, mode, childPython) in backends[shift...] + backends[..<shift] {
                let cli = CLIRound(
                    executable: executable, mode: mode, childPython: childPython,
                    load: .init(requests: requests, clients: clients, warmup: 200),
                    runtime: runtime)
                let figures = try await BlockingCall.run { Result { try cli.measure() } }.get()
                rows[name, default: []].append(figures)
                progress("round \(round)/\(rounds) \(name): start \(BenchReport.format(figures.coldStartMs)) ms, "
                    + "rss \(BenchReport.format(figures.rssMB)) MB, p50 \(BenchReport.format(figures.httpP50Us)) µs, "
                    + "\(BenchReport.format(figures.httpRps)) req/s, restart \(figures.restartMs.map(BenchReport.format) ?? "-") ms")
            }
        }
        for (mode, list) in rows {
            var figures = BackendFigures()
            figures.coldStartMs = Summary(list.map(\.coldStartMs))
            figures.rssMB = Summary(list.map(\.rssMB))
            figures.httpP50Us = Summary(list.map(\.httpP50Us))
            figures.httpP99Us = Summary(list.map(\.httpP99Us))
            figures.httpRps = Summary(list.map(\.httpRps))
            figures.restartMs = Summary(list.compactMap(\.restartMs))
            figures.crashToHealthyMs = Summary(list.compactMap(\.crashToHealthyMs))
            switch mode {
            case "embedded": embedded = figures
            case "subprocess": subprocess = figures
            default: sameInterpreter = figures
            }
        }

        if runs(.direct) {
            progress("direct calls and warm restarts (in-process)")
            let direct = try await DirectBench.measure(
                runtime: runtime, rounds: rounds, calls: requests, logger: logger)
            embedded.directP50Us = Summary(direct.directP50Us)
            embedded.directP99Us = Summary(direct.directP99Us)
            embedded.directHTTPP50Us = Summary(direct.httpP50Us)
            embedded.warmRestartMs = Summary(direct.warmRestartMs)
        }

        if runs(.supervision) {
            progress("supervision: stall detection and crash -> healthy (in-process)")
            let results = try await SupervisionBench.measure(
                runtime: runtime, health: health, rounds: rounds, logger: logger)
            print(results.report(health: health))
            print()
            embedded.stallDetectionMs = Summary(results.stallDetection.map { $0.inMilliseconds })
            embedded.stallRecoveryMs = Summary(results.stallRecovery.map { $0.inMilliseconds })
            embedded.crashToHealthyMs = Summary(results.crashToHealthy.map { $0.inMilliseconds })
        }

        if runs(.restarts) {
            for kind in [RestartKind.cold, .warm] {
                progress("restarts: \(restartCycles) \(kind.rawValue) restarts in one process")
                let bench = RestartBench(executable: executable, kind: kind, cycles: restartCycles,
                                         runtime: runtime)
                let figures = try await BlockingCall.run { Result { try bench.measure() } }.get()
                let growth = figures.rssGrowthMB
                progress("restarts: \(kind.rawValue): RSS per restart " + growth.map(BenchReport.format).joined(separator: " ")
                    + " MB; mean \(BenchReport.format(growth.reduce(0, +) / Double(growth.count))) MB; first request after each "
                    + figures.firstRequestUs.map(BenchReport.format).joined(separator: " ") + " µs (steady \(BenchReport.format(figures.steadyUs)) µs)")
                if kind == .cold {
                    embedded.coldRestartRSSGrowthMB = Summary(growth)
                    embedded.firstRequestAfterColdRatio = Summary(figures.firstRequestRatio)
                } else {
                    embedded.warmRestartRSSGrowthMB = Summary(growth)
                    embedded.firstRequestAfterWarmRatio = Summary(figures.firstRequestRatio)
                }
            }
        }

        let report = BenchReport(embedded: embedded, subprocess: subprocess, sameInterpreter: sameInterpreter,
                                 settings: settings(health: health))
        print(report.table())
        fflush(nil)
        if let json {
            try report.json().write(to: URL(fileURLWithPath: json))
        }
        if let plot {
            try BenchChart.svg(report).write(toFile: plot, atomically: true, encoding: .utf8)
        }
    }

    private func settings(health: HealthCheckConfig) -> [(String, String)] {
        [("rounds", String(rounds)), ("requests", String(requests)), ("clients", String(clients)),
         ("stall_threshold_ms", String(health.stallThreshold.milliseconds)),
         ("backoff_initial_ms", String(health.backoffInitial.milliseconds))] + MachineDescription.current()
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(Data("bench: \(line)\n".utf8))
    }

    /// The `cagent-sidecar` beside this executable, for the `run` children: the bench and
    /// the host it measures come from the same build.
    static func executablePath() throws -> String {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            throw CLIError("cannot find this executable (/proc/self/exe)")
        }
        let sidecar = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("cagent-sidecar").path
        guard FileManager.default.isExecutableFile(atPath: sidecar) else {
            throw CLIError("cagent-bench runs the cagent-sidecar built beside it, and \(sidecar) is missing (`make bench` builds both)")
        }
        return sidecar
    }
}
