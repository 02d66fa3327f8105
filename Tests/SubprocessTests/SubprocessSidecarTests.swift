import CagentClient
import EmbeddedHost
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The subprocess backend against the real service: start, serve, stop, states and events.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SubprocessSidecarTests {
    @Test func startsServesAndStopsCleanly() async throws {
        let records = LogRecords()
        let sidecar = SubprocessSidecar(configuration: Fixtures.configuration(), logger: records.logger)
        let events = EventLog(sidecar.events())
        #expect(await sidecar.state == .idle)

        try await sidecar.start()
        #expect(await sidecar.state == .running(generation: 1))
        let pid = try #require(await sidecar.pid)
        let url = try #require(await sidecar.baseURL)
        #expect(url.absoluteString == "http://127.0.0.1:\(try #require(await sidecar.port))")
        #expect(getpgid(pid) == pid, "the child leads its own process group")

        let client = CagentClient(baseURL: url, token: sidecar.token)
        #expect(try await client.health().status == "ok")
        let answer = try await client.execute(agentID: "echo", input: ["hello": "world"])
        #expect(answer.result == ["hello": "world"])

        try await sidecar.stop()
        #expect(await sidecar.state == .stopped)
        #expect(!processIsAlive(pid))
        sidecar.closeEvents()
        let all = try await events.finished()
        #expect(all.map(\.type) == ["starting", "healthy", "stopping", "stopped"])
        #expect(all.first?.kind == .starting(generation: 1))
        #expect(all.last?.kind == .stopped(clean: true, detail: nil))

        let lines = records.all
        #expect(lines.contains { $0.contains("stream=stderr") && $0.contains("Application startup complete") },
                "the child's output reaches the host's log line by line")
        #expect(lines.contains { $0.contains("POST /shutdown 200") }, "stop asks the service first")
        #expect(lines.contains { $0.contains("pid=\(pid)") })
    }

    @Test func theTokenIsInTheChildsEnvironmentOnly() async throws {
        let sidecar = SubprocessSidecar(configuration: Fixtures.configuration())
        try await sidecar.start()
        defer { Task { try? await sidecar.stop() } }
        let pid = try #require(await sidecar.pid)
        let commandLine = try #require(FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"))
        let arguments = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(arguments.contains("uvicorn") && arguments.contains("main:app"))
        #expect(arguments.contains("--port"))
        #expect(!String(decoding: commandLine, as: UTF8.self).contains(sidecar.token))
        let environment = try #require(FileManager.default.contents(atPath: "/proc/\(pid)/environ"))
        let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(variables.contains("CAGENT_TOKEN=\(sidecar.token)"))
        try await sidecar.stop()
    }

    @Test func aServiceThatIgnoresSIGTERMIsKilledAfterTheShutdownTimeout() async throws {
        let records = LogRecords()
        var configuration = Fixtures.configuration(service: Fixtures.serviceFixture("ignores_sigterm"))
        configuration.shutdownTimeout = .milliseconds(1500)
        let sidecar = SubprocessSidecar(configuration: configuration, logger: records.logger)
        let events = EventLog(sidecar.events())
        try await sidecar.start()
        let pid = try #require(await sidecar.pid)

        try await sidecar.stop()
        #expect(await sidecar.state == .stopped)
        #expect(!processIsAlive(pid))
        sidecar.closeEvents()
        guard case .stopped(let clean, let detail)? = try await events.finished().last?.kind else {
            Issue.record("no stopped event: \(await events.types)")
            return
        }
        #expect(!clean)
        #expect(detail?.contains("killed after the shutdown timeout") == true, "\(detail ?? "")")
        #expect(detail?.contains("SIGKILL") == true, "\(detail ?? "")")
        let lines = records.all
        #expect(lines.contains { $0.contains("POST /shutdown 200") })
        #expect(lines.contains { $0.contains("did not exit within") && $0.contains("sending SIGKILL") })
    }

    @Test func aKilledChildIsReportedAsFailedAndCanBeStartedAgain() async throws {
        let (sidecar, events, pid, port) = try await started()
        let failure = Task { try await sidecar.waitUntilFailed() }

        kill(pid, SIGKILL)
        await #expect(throws: SidecarError.self) { try await failure.value }
        guard case .failed(let message) = await sidecar.state else {
            Issue.record("state: \(await sidecar.state)")
            return
        }
        #expect(message.contains("pid \(pid)") && message.contains("signal 9 (SIGKILL)"), "\(message)")
        // The event reader runs on its own task: wait for it to have seen the failure.
        try await events.waitUntil("three events arrived") { $0.count >= 3 }
        #expect(await events.types == ["starting", "healthy", "failed"])

        // What a supervisor does after a crash: start again, a new child.
        try await sidecar.start()
        #expect(await sidecar.state == .running(generation: 2))
        let second = try #require(await sidecar.pid)
        #expect(second != pid)
        #expect(await sidecar.port == port)
        #expect(try await CagentClient(baseURL: try #require(await sidecar.baseURL), token: sidecar.token).health().status == "ok")
        #expect(try await stopped(sidecar, events).map(\.type) == ["starting", "healthy", "failed", "starting", "healthy", "stopping", "stopped"])
    }

    @Test func respawnReplacesTheChildAndWarmOrColdAreRefused() async throws {
        let (sidecar, events, first, port) = try await started()

        for kind in [RestartKind.warm, .cold] {
            await #expect(throws: SidecarError.restartFailed(
                "the subprocess backend restarts by respawning the process (.respawn); \(kind.rawValue) restarts need the embedded backend")) {
                try await sidecar.restart(kind)
            }
        }
        #expect(await sidecar.state == .running(generation: 1), "a refused restart changes nothing")

        try await sidecar.restart(.respawn)
        #expect(await sidecar.state == .running(generation: 2))
        let second = try #require(await sidecar.pid)
        #expect(second != first)
        #expect(!processIsAlive(first))
        #expect(await sidecar.port == port, "clients keep their base URL across respawns")
        let client = CagentClient(baseURL: try #require(await sidecar.baseURL), token: sidecar.token)
        #expect(try await client.execute(agentID: "echo", input: ["n": 2]).result == ["n": 2])

        let all = try await stopped(sidecar, events)
        #expect(all.map(\.type) == ["starting", "healthy", "restarting", "healthy", "stopping", "stopped"])
        #expect(all[2].kind == .restarting(kind: .respawn, reason: "requested", why: "requested"))
        #expect(all[3].kind == .healthy(generation: 2))
    }

    @Test func aPortInUseIsNamed() async throws {
        let taken = try ListeningSocket.bind(host: "127.0.0.1", port: 0)
        var configuration = Fixtures.configuration()
        configuration.port = taken.port
        let sidecar = SubprocessSidecar(configuration: configuration)
        await #expect(throws: SidecarError.portInUse(host: "127.0.0.1", port: taken.port)) { try await sidecar.start() }
        guard case .failed = await sidecar.state else {
            Issue.record("state: \(await sidecar.state)")
            return
        }
        #expect(await sidecar.pid == nil, "no child was started")
    }

    @Test func aServiceThatCannotImportFailsWithItsTraceback() async throws {
        let sidecar = SubprocessSidecar(configuration: Fixtures.configuration(service: Fixtures.serviceFixture("broken_service")))
        if let error = await #expect(throws: SidecarError.self, "started", performing: { try await sidecar.start() }) {
            guard case .serviceFailedToStart(let detail) = error else {
                Issue.record("unexpected: \(error)")
                return
            }
            #expect(detail.contains("exited with status"), "\(detail)")
            #expect(detail.contains("RuntimeError: fixture: this service cannot start"), "\(detail)")
        }
        guard case .failed = await sidecar.state else {
            Issue.record("state: \(await sidecar.state)")
            return
        }
    }

    @Test func aStartPastTheTimeoutKillsTheChild() async throws {
        var configuration = Fixtures.configuration(service: Fixtures.serviceFixture("slow_start"))
        configuration.startTimeout = .seconds(2)
        let records = LogRecords()
        let sidecar = SubprocessSidecar(configuration: configuration, logger: records.logger)
        await #expect(throws: SidecarError.startTimedOut(seconds: 2)) { try await sidecar.start() }
        let pid = records.all.lazy.compactMap { line -> Int32? in
            guard line.contains("service process started"), let range = line.range(of: "pid=") else { return nil }
            return Int32(line[range.upperBound...].prefix { $0.isNumber })
        }.first
        let child = try #require(pid)
        #expect(!processIsAlive(child))
        guard case .failed(let message) = await sidecar.state else {
            Issue.record("state: \(await sidecar.state)")
            return
        }
        #expect(message.contains("start timed out"))
    }

    // A missing runtime: EmbeddedSidecarTests.aMissingRuntimeIsAClearError, for both backends.

    /// A child started on the real service, the log of its events, its pid and port.
    private func started() async throws -> (sidecar: SubprocessSidecar, events: EventLog<SidecarEvent>, pid: Int32, port: Int?) {
        let sidecar = SubprocessSidecar(configuration: Fixtures.configuration())
        let events = EventLog(sidecar.events())
        try await sidecar.start()
        return (sidecar, events, try #require(await sidecar.pid), await sidecar.port)
    }

    /// Stops the sidecar and returns every event it reported.
    private func stopped(_ sidecar: SubprocessSidecar, _ events: EventLog<SidecarEvent>) async throws -> [SidecarEvent] {
        try await sidecar.stop()
        sidecar.closeEvents()
        return try await events.finished()
    }

    @Test func stopBeforeStartAndTwiceIsHarmless() async throws {
        let sidecar = SubprocessSidecar(configuration: Fixtures.configuration())
        try await sidecar.stop()
        #expect(await sidecar.state == .idle)
        await #expect(throws: SidecarError.notRunning(.idle)) { try await sidecar.restart(.respawn) }
        try await sidecar.start()
        try await sidecar.stop()
        try await sidecar.stop()
        #expect(await sidecar.state == .stopped)
    }
}
