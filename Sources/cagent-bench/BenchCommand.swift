import ArgumentParser
import CagentBench
import EmbeddedHost
import Foundation
import Logging
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

    @Option(help: "The Python runtime: a virtual environment or a Python prefix.")
    var pythonHome: String?

    @Option(help: "The service folder (with main.py); found beside the runtime by default.")
    var serviceDir: String?

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
                    pythonHome: pythonHome, serviceDirectory: serviceDir)
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
                pythonHome: pythonHome, serviceDirectory: serviceDir, rounds: rounds, calls: requests, logger: logger)
            embedded.directP50Us = Summary(direct.directP50Us)
            embedded.directP99Us = Summary(direct.directP99Us)
            embedded.directHTTPP50Us = Summary(direct.httpP50Us)
            embedded.warmRestartMs = Summary(direct.warmRestartMs)
        }

        if runs(.supervision) {
            progress("supervision: stall detection and crash -> healthy (in-process)")
            let results = try await SupervisionBench.measure(
                pythonHome: pythonHome, serviceDirectory: serviceDir, health: health, rounds: rounds, logger: logger)
            print(results.report(health: health))
            print()
            embedded.stallDetectionMs = Summary(results.stallDetection.map { $0.asMilliseconds })
            embedded.stallRecoveryMs = Summary(results.stallRecovery.map { $0.asMilliseconds })
            embedded.crashToHealthyMs = Summary(results.crashToHealthy.map { $0.asMilliseconds })
        }

        if runs(.restarts) {
            for kind in [RestartKind.cold, .warm] {
                progress("restarts: \(restartCycles) \(kind.rawValue) restarts in one process")
                let bench = RestartBench(executable: executable, kind: kind, cycles: restartCycles,
                                         pythonHome: pythonHome, serviceDirectory: serviceDir)
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

/// The measurements behind `cagent-bench`, callable on their own.
enum SupervisionBench {
    struct Results {
        /// From the request that blocks the loop to the `stalled` event.
        var stallDetection: [Duration] = []
        /// From the `stalled` event to the `interrupted` event.
        var stallRecovery: [Duration] = []
        /// From the crash (`failed` event) to `healthy` again, backoff included.
        var crashToHealthy: [Duration] = []
        /// The backoff part of each of those.
        var backoff: [Duration] = []

        func report(health: HealthCheckConfig) -> String {
            func ms(_ value: Duration) -> String { String(format: "%.0f", Double(value.milliseconds)) }
            func line(_ name: String, _ values: [Duration]) -> String {
                let sorted = values.sorted()
                let median = sorted.isEmpty ? "-" : ms(sorted[sorted.count / 2])
                return "\(name): median \(median) ms  [\(values.map(ms).joined(separator: ", "))]"
            }
            let restartOnly = zip(crashToHealthy, backoff).map { $0 - $1 }
            return [
                "supervision bench (stall threshold \(health.stallThreshold.milliseconds) ms, backoff from \(health.backoffInitial.milliseconds) ms)",
                line("stall detection (blocked loop -> stalled event)", stallDetection),
                line("stall recovery (stalled -> interrupted)", stallRecovery),
                line("crash -> healthy (backoff included)", crashToHealthy),
                line("crash -> healthy minus backoff (cold restart)", restartOnly),
            ].joined(separator: "\n")
        }
    }

    static let agentsSource = """
        import asyncio, sys, time
        from agents.base import Agent

        class BenchBlock(Agent):
            id = "bench_block"
            async def run(self, input, context, emit):
                time.sleep(float(input.get("seconds", 30)))
                return {}

        class BenchCrash(Agent):
            id = "bench_crash"
            async def run(self, input, context, emit):
                asyncio.get_running_loop().call_later(0.01, sys.exit, 9)
                return {}
        """

    static func measure(pythonHome: String?, serviceDirectory: String?, health: HealthCheckConfig,
                        rounds: Int, logger: Logger) async throws -> Results {
        let agents = FileManager.default.temporaryDirectory.appendingPathComponent("cagent-bench-\(getpid())")
        try FileManager.default.createDirectory(at: agents, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: agents) }
        try agentsSource.write(to: agents.appendingPathComponent("bench_agents.py"), atomically: true, encoding: .utf8)

        var configuration = SidecarConfiguration()
        configuration.port = 0
        configuration.pythonHome = pythonHome
        configuration.serviceDirectory = serviceDirectory
        configuration.logLevel = "error"
        configuration.serviceEnvironment["CAGENT_AGENTS_DIR"] = agents.path
        let sidecar = EmbeddedSidecar(configuration: configuration, logger: logger)
        let supervisor = try Supervisor(sidecar: sidecar, configuration: health, logger: logger)
        let events = EventTimes(sidecar.events())
        let supervising = Task { try await supervisor.run() }
        defer { supervising.cancel() }

        var results = Results()
        _ = try await events.wait(for: "healthy", count: 1)
        guard let port = await sidecar.port else { throw CLIError("the service did not report its port") }
        let token = sidecar.token
        for round in 1...rounds {
            let begin = Date()
            try post(port: port, token: token, path: "/agent/runs", body: #"{"agent_id": "bench_block", "input": {"seconds": 30}}"#)
            let stalled = try await events.wait(for: "stalled", count: round)
            let interrupted = try await events.wait(for: "interrupted", count: round)
            results.stallDetection.append(.seconds(stalled.timeIntervalSince(begin)))
            results.stallRecovery.append(.seconds(interrupted.timeIntervalSince(stalled)))
        }
        for round in 1...rounds {
            try post(port: port, token: token, path: "/agent/runs", body: #"{"agent_id": "bench_crash", "input": {}}"#)
            let failed = try await events.wait(for: "failed", count: round)
            let healthy = try await events.wait(for: "healthy", count: round + 1)
            results.crashToHealthy.append(.seconds(healthy.timeIntervalSince(failed)))
            results.backoff.append(await events.lastRestartDelay ?? .zero)
        }
        try await supervisor.stop()
        sidecar.closeEvents()
        return results
    }

    /// One `POST` to the service on loopback; the answer's status only.
    @discardableResult
    static func post(port: Int, token: String, path: String, body: String) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw CLIError("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
        let request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw CLIError("send failed")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var answer: [UInt8] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            answer.append(contentsOf: buffer[0..<n])
        }
        let status = String(decoding: answer.prefix(12), as: UTF8.self).split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return status
    }
}

/// When each event arrived (its own timestamp), for the bench.
private actor EventTimes {
    private var events: [SidecarEvent] = []

    init(_ stream: AsyncStream<SidecarEvent>) {
        Task { for await event in stream { await self.add(event) } }
    }

    private func add(_ event: SidecarEvent) { events.append(event) }

    var lastRestartDelay: Duration? {
        for event in events.reversed() {
            if case .restarting(_, _, _, _, let delay?) = event.kind { return delay }
        }
        return nil
    }

    /// The timestamp of the `count`-th event of `type`; gives up after two minutes.
    func wait(for type: String, count: Int) async throws -> Date {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let matching = events.filter { $0.type == type }
            if matching.count >= count { return matching[count - 1].timestamp }
            if let failure = events.last(where: { $0.type == "circuit_open" || $0.type == "wedged" }) {
                throw CLIError("the service gave up: \(failure.json)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw CLIError("no \(type) event #\(count) within two minutes")
    }
}
