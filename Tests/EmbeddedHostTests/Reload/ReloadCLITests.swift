import Bridge
import Foundation
import Loopback
import TestSupport
import Testing
@testable import EmbeddedHost

/// `cagent-sidecar run --reload` in a child process, on a copy of the service folder:
/// an edited agent answers anew, a broken edit keeps the old service, a fix recovers.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ReloadCLITests {
    /// A copy of python/ without its tests and caches: the folder the test edits.
    private func copyOfTheService() throws -> String {
        let copy = (try Fixtures.temporaryDirectory() as NSString).appendingPathComponent("service")
        try FileManager.default.copyItem(atPath: (Fixtures.projectRoot as NSString).appendingPathComponent("python"), toPath: copy)
        for skipped in ["tests", ".pytest_cache"] {
            try? FileManager.default.removeItem(atPath: (copy as NSString).appendingPathComponent(skipped))
        }
        return copy
    }

    /// echo.py answering its input plus `marker` (or not compiling, with `broken`).
    private func editEcho(in service: String, marker: String, broken: Bool = false) throws {
        let path = (service as NSString).appendingPathComponent("agents/echo.py")
        let original = try String(contentsOfFile: path, encoding: .utf8)
        var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let index = try #require(lines.lastIndex { $0.trimmingCharacters(in: .whitespaces).hasPrefix("return ") })
        lines[index] = "        return {**input, \"marker\": \"\(marker)\"}" + (broken ? " +" : "")
        // Rewritten in place, as most editors' plain save does.
        try lines.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// Calls echo until its answer carries `marker`; the time it took, or nil past the bound.
    /// A poll of its own, not `waitUntil`: the time to the first such answer is the figure
    /// it measures (docs/development.md), so it looks every 10 ms from the edit on.
    private func waitForMarker(_ marker: String?, client: LoopbackHTTP, since start: ContinuousClock.Instant,
                               within bound: Duration = .seconds(30)) async throws -> Duration? {
        while ContinuousClock.now - start < bound {
            let answer = try await client.post("/agent/execute", json: ["agent_id": "echo", "input": ["x": 1]])
            if answer.status == 200, answer.json?.at("result.marker")?.stringValue == marker {
                return ContinuousClock.now - start
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    @Test func anEditIsServedABrokenEditKeepsTheOldServiceAndAFixRecovers() async throws {
        let service = try copyOfTheService()
        let sidecar = try SidecarProcess(arguments: ["--reload", "--service-dir", service, "--log-level", "info"])
        let port = try await sidecar.port()
        let client = LoopbackHTTP(port: port, token: sidecar.token)
        let before = try await client.post("/agent/execute", json: ["agent_id": "echo", "input": ["x": 1]])
        #expect(before.json?.at("result.marker") == nil)
        // The watch starts once the service is running: wait until it says so.
        try await waitUntil("it says it reloads on changes; stderr:\n\(sidecar.stderr)") { sidecar.stderr.contains("reloading on changes") }

        var start = ContinuousClock.now
        try editEcho(in: service, marker: "one")
        let first = try await waitForMarker("one", client: client, since: start)
        #expect(first != nil, "stderr:\n\(sidecar.stderr)")
        #expect(await sidecar.waitFor("restarting"))

        try editEcho(in: service, marker: "two", broken: true)
        #expect(await sidecar.waitFor("restart_failed"), "stderr:\n\(sidecar.stderr)")
        let failed = try #require(sidecar.events().first { $0["type"] == "restart_failed" })
        #expect(failed["kind"] == "warm")
        #expect(failed["error"]?.stringValue?.contains("SyntaxError") == true, "\(failed)")
        // The log line may reach the pipe after the event reached the file: wait for it.
        try await waitUntil("it logs that the reload failed; stderr:\n\(sidecar.stderr)") {
            sidecar.stderr.contains("reload failed; the previous service keeps serving")
        }
        let kept = try await client.post("/agent/execute", json: ["agent_id": "echo", "input": ["x": 1]])
        #expect(kept.status == 200)
        #expect(kept.json?.at("result.marker") == "one", "the previous service keeps serving")

        start = ContinuousClock.now
        try editEcho(in: service, marker: "three")
        let recovered = try await waitForMarker("three", client: client, since: start)
        #expect(recovered != nil, "stderr:\n\(sidecar.stderr)")
        // One restart per save: three edits, three warm restarts, no other kind.
        let restarts = sidecar.events().filter { $0["type"] == "restarting" }
        #expect(restarts.count == 3)
        #expect(restarts.allSatisfy { $0["kind"] == "warm" && $0["reason"] == "reload: echo.py changed" })
        print("reload: edit to new answer \(first.map { "\($0.milliseconds) ms" } ?? "-"), after a broken edit \(recovered.map { "\($0.milliseconds) ms" } ?? "-")")

        sidecar.signal(SIGTERM)
        #expect(await sidecar.waitForExit() == 0, "stderr:\n\(sidecar.stderr)")
    }

    /// An agent module written into CAGENT_AGENTS_DIR (outside the service folder) is
    /// served after the reload (written through a rename, as editors save).
    @Test func theAgentsFolderIsWatchedToo() async throws {
        let agents = try Fixtures.temporaryDirectory()
        let sidecar = try SidecarProcess(arguments: ["--reload", "--log-level", "info"], agents: agents)
        let port = try await sidecar.port()
        let client = LoopbackHTTP(port: port, token: sidecar.token)
        try await waitUntil("it says it reloads on changes; stderr:\n\(sidecar.stderr)") { sidecar.stderr.contains("reloading on changes") }
        #expect(sidecar.stderr.contains(agents), "the agents folder is watched:\n\(sidecar.stderr)")
        let before = try await client.post("/agent/execute", json: ["agent_id": "greeter", "input": [:]])
        #expect(before.status == 404)

        try """
            from agents.base import Agent


            class Greeter(Agent):
                id = "greeter"
                description = "Says hello."
                input_schema = {"type": "object"}

                async def run(self, input, context, emit):
                    return {"text": "hello from the agents folder"}
            """.write(toFile: (agents as NSString).appendingPathComponent("greeter.py"), atomically: true, encoding: .utf8)
        var answer: LoopbackHTTP.Response?
        try await waitUntil("the new agent is served; stderr:\n\(sidecar.stderr)") {
            answer = try await client.post("/agent/execute", json: ["agent_id": "greeter", "input": [:]])
            return answer?.status == 200
        }
        #expect(answer?.json?.at("result.text") == "hello from the agents folder", "stderr:\n\(sidecar.stderr)")
        #expect(sidecar.events().contains { $0["type"] == "restarting" && $0["reason"] == "reload: greeter.py changed" })
        sidecar.signal(SIGTERM)
        #expect(await sidecar.waitForExit() == 0, "stderr:\n\(sidecar.stderr)")
    }

    @Test func reloadNeedsTheEmbeddedMode() async throws {
        let sidecar = try SidecarProcess(arguments: ["--reload", "--mode", "subprocess"])
        let status = await sidecar.waitForExit()
        #expect(status != nil && status != 0)
        #expect(sidecar.stderr.contains("--reload needs --mode embedded"), "stderr:\n\(sidecar.stderr)")
    }
}
