import Bridge
import Foundation
import TestSupport
import Testing
@testable import EmbeddedHost

/// When `cagent-sidecar run` stops for good rather than restarting: the service asked
/// (POST /shutdown), or the process that started it is gone (`--exit-with-parent`).
/// The real CLI in a child process, real signals and pipes.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct StopRulesCLITests {
    /// Before: the service shut down, three probes failed, and the supervisor restarted
    /// it cold. Now: a graceful stop, exit status 0, no restart.
    @Test func postShutdownStopsTheHostAndItExits0WithoutARestart() async throws {
        let sidecar = try SidecarProcess(arguments: ["--health-interval", "0.2"])
        let port = try await sidecar.port()
        let response = try await LoopbackHTTP(port: port, token: sidecar.token).post("/shutdown", json: [:])
        #expect(response.status == 200)
        #expect(response.json?["exiting"] == true)
        #expect(await sidecar.waitForExit() == 0, "stderr:\n\(sidecar.stderr)")
        #expect(sidecar.types() == ["starting", "healthy", "stopping", "stopped"], "stderr:\n\(sidecar.stderr)")
        let stopped = try #require(sidecar.events().last)
        #expect(stopped["clean"] == true)
        #expect(stopped["detail"]?.stringValue?.contains("POST /shutdown") == true, "\(stopped)")
    }

    @Test func withExitWithParentTheEndOfStandardInputStopsTheHostGracefully() async throws {
        let input = Pipe()
        let sidecar = try SidecarProcess(arguments: ["--exit-with-parent"], standardInput: input)
        _ = try await sidecar.port()
        try input.fileHandleForWriting.write(contentsOf: Data("anything the app writes is read and dropped\n".utf8))
        try input.fileHandleForWriting.close()
        #expect(await sidecar.waitForExit() == 0, "stderr:\n\(sidecar.stderr)")
        #expect(sidecar.types() == ["starting", "healthy", "stopping", "stopped"])
        #expect(sidecar.stderr.contains("end of file on standard input"), "stderr:\n\(sidecar.stderr)")
    }

    @Test func withoutExitWithParentTheEndOfStandardInputChangesNothing() async throws {
        let input = Pipe()
        let sidecar = try SidecarProcess(arguments: [], standardInput: input)
        let port = try await sidecar.port()
        try input.fileHandleForWriting.close()
        // Still serving once a request made after the close has been answered.
        #expect(try await LoopbackHTTP(port: port, token: sidecar.token).get("/health").status == 200)
        #expect(sidecar.process.isRunning)
        sidecar.signal(SIGTERM)
        #expect(await sidecar.waitForExit() == 0)
    }

    /// The app (here a shell) starts the host in the background with stdin from
    /// /dev/null, as a detached child, and is SIGKILLed: only the death signal is left.
    @Test func withExitWithParentAHostWhoseParentIsSIGKILLedStopsGracefully() async throws {
        let directory = try Fixtures.temporaryDirectory()
        let events = (directory as NSString).appendingPathComponent("events.jsonl")
        let stderrFile = (directory as NSString).appendingPathComponent("stderr.log")
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = ["-c", "\"$@\" >/dev/null 2>\"$CAGENT_TEST_STDERR\" </dev/null & echo $!; wait", "sh",
                            Fixtures.executable, "run", "--port", "0", "--python-home", Fixtures.venv,
                            "--service-dir", (Fixtures.projectRoot as NSString).appendingPathComponent("python"),
                            "--events-file", events, "--log-level", "info", "--exit-with-parent"]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAGENT_") }
        environment["CAGENT_TOKEN"] = "exit-with-parent"
        environment["CAGENT_TEST_STDERR"] = stderrFile
        parent.environment = environment
        let output = Pipe()
        parent.standardOutput = output
        try parent.run()
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        let host = try #require(Int32(line.trimmingCharacters(in: .whitespacesAndNewlines)), "the shell said: \(line)")
        defer { if ProcessStatus.isAlive(host) { kill(host, SIGKILL) } }
        try await waitUntil("the host is healthy or has ended") { eventTypes(events).contains("healthy") || !ProcessStatus.isAlive(host) }
        #expect(eventTypes(events).contains("healthy"), "stderr:\n\(stderrText(stderrFile))")

        kill(parent.processIdentifier, SIGKILL)
        parent.waitUntilExit()
        try await waitUntil("the host (pid \(host)) ends with its SIGKILLed parent; stderr:\n\(stderrText(stderrFile))") {
            !ProcessStatus.isAlive(host)
        }
        #expect(eventTypes(events) == ["starting", "healthy", "stopping", "stopped"], "stderr:\n\(stderrText(stderrFile))")
    }

    private func eventTypes(_ path: String) -> [String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            (try? JSONDecoder().decode(JSON.self, from: Data(line.utf8)))?["type"]?.stringValue
        }
    }

    private func stderrText(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}

/// Whether a process runs, from /proc: a zombie nobody has reaped yet (a re-parented
/// process in a container whose init does not reap) counts as ended.
enum ProcessStatus {
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].first
        return state != "Z" && state != "X"
    }
}
