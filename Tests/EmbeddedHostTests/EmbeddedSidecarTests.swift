import Bridge
import Foundation
import Testing
@testable import EmbeddedHost
import TestSupport

/// The embedded backend in this test process. A process has one CPython runtime, so
/// these run one at a time; each starts and stops its own sidecar.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct EmbeddedSidecarTests {
    @Test func startServesHealthAndExecuteThenStopsCleanly() async throws {
        let sidecar = EmbeddedSidecar(configuration: Fixtures.configuration())
        let recorder = EventLog(sidecar.events())
        try await sidecar.start()
        #expect(await sidecar.state == .running(generation: 1))
        let port = try #require(await sidecar.port)
        #expect(await sidecar.address == "http://127.0.0.1:\(port)")
        #expect(await sidecar.baseURL?.absoluteString == "http://127.0.0.1:\(port)")

        let anonymous = LoopbackHTTP(port: port)
        let health = try await anonymous.get("/health")
        #expect(health.status == 200)
        #expect(health.json?["status"] == "ok")
        #expect(try await anonymous.post("/agent/execute", json: ["agent_id": "echo", "input": [:]]).status == 401)

        let client = LoopbackHTTP(port: port, token: sidecar.token)
        let input: JSON = ["text": "héllo 🌍", "n": 3, "nested": ["a": [1, 2.5, nil, true]]]
        let answer = try await client.post("/agent/execute", json: ["agent_id": "echo", "input": input])
        #expect(answer.status == 200)
        #expect(answer.json?["result"] == input)
        #expect(answer.json?["agent_id"] == "echo")

        // The service runs in this process: no Python child was started (the CLI tests
        // running beside this suite start cagent-sidecar children, not Python ones).
        #expect(childProcesses().filter { $0.contains("python") }.isEmpty)

        try await sidecar.stop()
        #expect(await sidecar.state == .stopped)
        sidecar.closeEvents()
        let types = try await recorder.finished().map(\.type)
        #expect(types == ["starting", "healthy", "stopping", "stopped"])
        #expect(try await recorder.finished().last?.kind == .stopped(clean: true, detail: nil))
        // The port is released.
        #expect(await HealthProbe(host: "127.0.0.1", port: port, timeout: .seconds(1)).check().isFailure)
    }

    /// The whole stack through 100 cold restarts, each generation after the first on a
    /// heap of its own that is unmapped when it ends (CGenerationHeap). The guard keeps
    /// each finished heap's addresses without access, so a pointer left into one faults
    /// here instead of reading a later heap; pydantic-typed answers are checked each cycle.
    @Test func hundredColdRestartsServeCorrectTypesAndGiveTheirMemoryBack() async throws {
        setenv("CAGENT_HEAP_GUARD", "1", 1)
        defer { unsetenv("CAGENT_HEAP_GUARD") }
        var configuration = Fixtures.configuration()
        configuration.eventLoop = "uvloop"
        configuration.httpProtocol = "httptools"
        let (sidecar, recorder, port) = try await started(configuration)
        let client = LoopbackHTTP(port: port, token: sidecar.token)

        var previousCopy: String?
        var rss: [Int] = [ProcessMemory.residentBytes() ?? 0]
        let cycles = 100
        for cycle in 1...cycles {
            try await sidecar.restart(.cold)
            #expect(await sidecar.state == .running(generation: cycle + 1))
            #expect(await sidecar.port == port, "the port survives a cold restart")
            let result = try await typedCheck(client, cycle: cycle)
            let copy = try #require(result["pydantic_core_file"]?.stringValue)
            #expect(copy.contains("/gen-"), "generation \(cycle + 1) loads pydantic-core from a per-generation copy")
            if let previousCopy {
                #expect(!FileManager.default.fileExists(atPath: previousCopy), "the previous generation's copies are removed")
                #expect(!mappedFiles().contains(previousCopy), "the previous generation's copies are unloaded")
            }
            previousCopy = copy
            rss.append(ProcessMemory.residentBytes() ?? 0)
        }
        let perCycle = zip(rss.dropFirst(), rss).map { $0 - $1 }
        let growth = perCycle.map { Double($0) / 1_048_576 }
        let first20 = growth.prefix(20).reduce(0, +) / 20
        let rest = growth.dropFirst(20).reduce(0, +) / Double(cycles - 20)
        print(String(format: "cold restart RSS: start %.1f MB, after %d cycles %.1f MB; mean per cycle %.2f MB over the first 20, %.2f MB after",
                     Double(rss.first!) / 1_048_576, cycles, Double(rss.last!) / 1_048_576, first20, rest))
        // Measured 3.4 and 1.6: the first cycle keeps the first interpreter's leftovers
        // (~40 MB, it runs on CPython's own allocators), each later one ~1.6 MB of
        // extension modules' own malloc.
        #expect(first20 <= 5, "mean RSS growth per cold restart over 20 cycles: \(first20) MB")
        #expect(rest <= 3, "mean RSS growth per cold restart after the first 20: \(rest) MB")
        // And per cycle, in bytes, with margin: the first cold restart may keep the first
        // interpreter's leftovers (~40 MB, above), no later one more than 16 MiB (each
        // measured 1.7-1.9 MiB).
        print("cold restart RSS per cycle: first \(perCycle[0] >> 10) KiB, largest after it \(perCycle.dropFirst().max()! >> 10) KiB")
        #expect(perCycle[0] <= 64 << 20, "RSS growth of the first cold restart: \(perCycle[0]) bytes")
        for (index, bytes) in perCycle.enumerated().dropFirst() {
            #expect(bytes <= 16 << 20, "RSS growth of cold restart \(index + 1): \(bytes) bytes")
        }
        try await sidecar.stop()
        sidecar.closeEvents()
        let restarts = try await recorder.finished().filter { $0.type == "restarting" }
        #expect(restarts.count == cycles)
        #expect(restarts.allSatisfy { $0.kind == .restarting(kind: .cold, reason: "requested", why: "requested") })
        #expect(!FileManager.default.fileExists(atPath: (previousCopy! as NSString).deletingLastPathComponent))
    }

    @Test func warmRestartReimportsTheServiceModules() async throws {
        let (configuration, service) = try configurationOfACopyOfTheService()
        let (sidecar, recorder, port) = try await started(configuration)
        let client = LoopbackHTTP(port: port, token: sidecar.token)
        let before = try await client.get("/health").json?["version"]?.stringValue
        #expect(before != nil)

        try setServiceVersion(in: service, to: "9.9.9-warm")
        try await sidecar.restart(.warm)
        #expect(await sidecar.state == .running(generation: 1), "a warm restart keeps the interpreter")
        #expect(try await client.get("/health").json?["version"] == "9.9.9-warm")
        _ = try await typedCheck(client, cycle: 0)
        try await sidecar.stop()
        sidecar.closeEvents()
        #expect(try await recorder.finished().map(\.type) == ["starting", "healthy", "restarting", "healthy", "stopping", "stopped"])
        #expect(try await recorder.finished()[2].kind == .restarting(kind: .warm, reason: "requested", why: "requested"))
    }

    @Test func warmRestartWithBrokenCodeKeepsTheRunningService() async throws {
        let (configuration, service) = try configurationOfACopyOfTheService()
        let (sidecar, recorder, port) = try await started(configuration)
        let main = (service as NSString).appendingPathComponent("main.py")
        try "this is not python(\n".write(toFile: main, atomically: true, encoding: .utf8)

        await #expect(throws: SidecarError.self) { try await sidecar.restart(.warm) }
        #expect(await sidecar.state == .running(generation: 1))
        #expect(try await LoopbackHTTP(port: port).get("/health").status == 200, "the previous service keeps serving")
        try await sidecar.stop()
        sidecar.closeEvents()
        let failed = try await recorder.finished().first { $0.type == "restart_failed" }
        guard case .restartFailed(.warm, let error)? = failed?.kind else {
            Issue.record("no restart_failed event: \(try await recorder.finished().map(\.type))")
            return
        }
        #expect(error.contains("SyntaxError"))
    }

    @Test func coldRestartIsRefusedNamingTheModuleAndDoneWarm() async throws {
        var configuration = Fixtures.configuration()
        configuration.coldRestartUnsafeModules = ["uvicorn"]
        let sidecar = EmbeddedSidecar(configuration: configuration)
        let recorder = EventLog(sidecar.events())
        try await sidecar.start()
        try await sidecar.restart(.cold)
        #expect(await sidecar.state == .running(generation: 1), "refused: still the first interpreter")
        let port = try #require(await sidecar.port)
        #expect(try await LoopbackHTTP(port: port).get("/health").status == 200)
        try await sidecar.stop()
        sidecar.closeEvents()
        let refused = try await recorder.finished().first { $0.type == "restart_refused" }
        guard case .restartRefused(let reasons, .warm)? = refused?.kind else {
            Issue.record("no restart_refused event: \(try await recorder.finished().map(\.type))")
            return
        }
        #expect(reasons == ["extension module 'uvicorn' does not survive re-initialization"])
    }

    @Test func coldRestartIsRefusedWhileANonDaemonThreadRuns() async throws {
        var configuration = Fixtures.configuration()
        // The stop gives threads 80% of this to end; the worker below outlives that.
        configuration.shutdownTimeout = .seconds(1)
        let (sidecar, recorder, port) = try await started(configuration)
        let client = LoopbackHTTP(port: port, token: sidecar.token)
        let started = try await client.post("/agent/execute", json: ["agent_id": "stuck_thread", "input": ["seconds": 4]])
        #expect(started.status == 200)
        try await sidecar.restart(.cold)
        #expect(await sidecar.state == .running(generation: 1), "refused: still the first interpreter")
        _ = try await typedCheck(client, cycle: 0)
        // Once the worker has ended (its 4 s, started above), the stop finalizes cleanly.
        try await waitUntil("the worker thread has ended") {
            let threads = try await client.post("/agent/execute", json: ["agent_id": "threads", "input": [:]])
            guard case .array(let names)? = threads.json?["result"]?["threads"] else { return false }
            return !names.contains("stuck-worker")
        }
        try await sidecar.stop()
        sidecar.closeEvents()
        let events = try await recorder.finished()
        let refused = events.first { $0.type == "restart_refused" }
        guard case .restartRefused(let reasons, .warm)? = refused?.kind else {
            Issue.record("no restart_refused event: \(events.map(\.type))")
            return
        }
        #expect(reasons == ["non-daemon thread 'stuck-worker' is still running"])
        #expect(events.last?.kind == .stopped(clean: true, detail: nil))
    }

    @Test func stopWithAStreamOpenEndsItWithAnErrorEvent() async throws {
        let sidecar = EmbeddedSidecar(configuration: Fixtures.configuration())
        try await sidecar.start()
        let port = try #require(await sidecar.port)
        let client = LoopbackHTTP(port: port, token: sidecar.token)
        let run = try await client.post("/agent/runs", json: ["agent_id": "slow_stream", "input": ["steps": 10000]])
        #expect(run.status == 202)
        let requestID = try #require(run.json?["request_id"]?.stringValue)
        let stream = try await client.stream("/agent/stream/\(requestID)")
        #expect(stream.status == 200)
        #expect(try await stream.next()?.event == "thinking")

        async let stopped: Void = sidecar.stop()
        var events: [EventStream.Event] = []
        while let event = try await stream.next() { events.append(event) }
        try await stopped
        let last = try #require(events.last)
        #expect(last.event == "error")
        #expect(last.json?.at("code") == "shutting_down" || last.json?.at("error.code") == "shutting_down",
                "the error event says why: \(last.data)")
        #expect(events.dropLast().allSatisfy { $0.event == "thinking" || $0.event == "keepalive" })
    }

    @Test func aServiceThatFailsToImportIsAStartErrorWithTheTraceback() async throws {
        let sidecar = EmbeddedSidecar(configuration: Fixtures.configuration(agents: Fixtures.brokenAgentsDirectory))
        let recorder = EventLog(sidecar.events())
        // Started with an agents module that raises on import.
        let error = await #expect(throws: SidecarError.self) { try await sidecar.start() }
        if let error {
            guard case .serviceFailedToStart(let detail) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(detail.contains("raises_on_import.py"))
            #expect(detail.contains("fails at import on purpose"))
            #expect(detail.contains("Traceback"))
        }
        guard case .failed = await sidecar.state else {
            Issue.record("state \(await sidecar.state)")
            return
        }
        sidecar.closeEvents()
        #expect(try await recorder.finished().map(\.type) == ["starting", "failed"])

        // The interpreter was finalized: a corrected service starts in the same process.
        let next = EmbeddedSidecar(configuration: Fixtures.configuration())
        try await next.start()
        try await next.stop()
    }

    @Test func portInUseIsReportedBeforePythonStarts() async throws {
        let taken = try ListeningSocket.bind(host: "127.0.0.1", port: 0)
        var configuration = Fixtures.configuration()
        configuration.port = taken.port
        let sidecar = EmbeddedSidecar(configuration: configuration)
        await #expect(throws: SidecarError.portInUse(host: "127.0.0.1", port: taken.port)) {
            try await sidecar.start()
        }
        #expect(!PythonInterpreter.isInitialized)
    }

    /// Both backends check the runtime before they start anything (one test serves both).
    @Test(arguments: [false, true])
    func aMissingRuntimeIsAClearError(asASubprocess: Bool) async throws {
        var configuration = Fixtures.configuration()
        configuration.pythonHome = "/nonexistent/runtime"
        let sidecar: any Sidecar = asASubprocess ? SubprocessSidecar(configuration: configuration) : EmbeddedSidecar(configuration: configuration)
        await #expect(throws: SidecarError.runtimeInvalid(path: "/nonexistent/runtime", reason: "no such directory")) {
            try await sidecar.start()
        }
    }

    // MARK: - Helpers

    /// Calls the `typed` agent and checks every answer a broken generation gets wrong.
    @discardableResult
    private func typedCheck(_ client: LoopbackHTTP, cycle: Int) async throws -> JSON {
        let id = UUID().uuidString.lowercased()
        let input: JSON = [
            "id": .string(id), "at": "2026-11-24T18:46:00+00:00", "amount": "12345.6789", "tags": ["a", "ü"],
        ]
        let response = try await client.post("/agent/execute", json: ["agent_id": "typed", "input": input])
        #expect(response.status == 200, "cycle \(cycle): \(String(decoding: response.body, as: UTF8.self))")
        let result = try #require(response.json?["result"])
        #expect(result["uuid_is_uuid"] == true, "cycle \(cycle)")
        #expect(result["datetime_is_datetime"] == true, "cycle \(cycle)")
        #expect(result["decimal_is_decimal"] == true, "cycle \(cycle)")
        #expect(result["equal_after_json_round_trip"] == true, "cycle \(cycle)")
        #expect(result.at("reading.id") == .string(id), "cycle \(cycle)")
        #expect(result.at("reading.amount") == "12345.6789", "cycle \(cycle)")
        #expect(result.at("reading.at")?.stringValue?.hasPrefix("2026-11-24T18:46:00") == true, "cycle \(cycle)")
        #expect(result["httptools_url"] == "/probe?x=1", "cycle \(cycle)")
        #expect(result["httptools_host"] == "example", "cycle \(cycle)")
        if client.port > 0, let loop = result["loop"]?.stringValue, cycle > 0 {
            #expect(loop == "uvloop.Loop" || loop.hasPrefix("asyncio"), "cycle \(cycle): \(loop)")
        }
        return result
    }

    /// The files this process maps now (`/proc/self/maps`).
    private func mappedFiles() -> Set<String> {
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        return Set(maps.split(separator: "\n").compactMap { line in
            line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true).dropFirst(5).first
                .map { String($0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " (deleted)", with: "")) }
        })
    }

    /// A started sidecar, the recorder of its events and the port it listens on: how most
    /// tests here begin.
    private func started(_ configuration: SidecarConfiguration = Fixtures.configuration())
        async throws -> (sidecar: EmbeddedSidecar, recorder: EventLog<SidecarEvent>, port: Int) {
        let sidecar = EmbeddedSidecar(configuration: configuration)
        let recorder = EventLog(sidecar.events())
        try await sidecar.start()
        return (sidecar, recorder, try #require(await sidecar.port))
    }

    /// The configuration of a copy of the service the test may change.
    private func configurationOfACopyOfTheService() throws -> (configuration: SidecarConfiguration, service: String) {
        let service = try copyOfService()
        var configuration = Fixtures.configuration()
        configuration.serviceDirectory = service
        return (configuration, service)
    }

    private func copyOfService() throws -> String {
        let directory = try Fixtures.temporaryDirectory()
        let service = (directory as NSString).appendingPathComponent("python")
        try FileManager.default.copyItem(atPath: (Fixtures.projectRoot as NSString).appendingPathComponent("python"), toPath: service)
        return service
    }

    private func setServiceVersion(in service: String, to version: String) throws {
        let path = (service as NSString).appendingPathComponent("service/__init__.py")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("VERSION") ? "VERSION = \"\(version)\"" : String(line)
        }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

extension Result {
    var isFailure: Bool {
        if case .failure = self { true } else { false }
    }
}
