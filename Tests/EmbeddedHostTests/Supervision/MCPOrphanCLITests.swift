import Bridge
import Foundation
import TestSupport
import Testing
@testable import EmbeddedHost

/// MCP servers never outlive the host, even a host killed by SIGKILL, which runs no code
/// on the way out (python/tools/orphan_guard.py: the parent-death signal).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct MCPOrphanCLITests {
    /// The server here lingers after the end of its stdin (a non-daemon worker thread, as
    /// real servers have), so the end of its client's pipe alone does not end it.
    @Test func anMCPServerDiesWithAHostKilledBySIGKILL() async throws {
        let directory = try Fixtures.temporaryDirectory()
        let toolsets = (directory as NSString).appendingPathComponent("toolsets.json")
        let python = (Fixtures.venv as NSString).appendingPathComponent("bin/python")
        let server = (Fixtures.projectRoot as NSString).appendingPathComponent("python/tests/mcp_servers/sample_server.py")
        let file: JSON = ["servers": ["sample": ["command": .string(python), "args": [.string(server), "--linger", "600"]]]]
        try JSONEncoder().encode(file).write(to: URL(fileURLWithPath: toolsets))

        let sidecar = try SidecarProcess(
            arguments: [], agents: directory,  // none of its own: the built-in `tools` agent
            environment: ["CAGENT_MCP_TOOLSETS_FILE": toolsets])
        let port = try await sidecar.port()
        let response = try await LoopbackHTTP(port: port, token: sidecar.token)
            .post("/agent/execute", json: ["agent_id": "tools", "input": ["calls": [["tool": "pid"]]]])
        #expect(response.status == 200, "\(response.json.map { "\($0)" } ?? "")")
        let pid = try #require(response.json?["result"]?["results"]?[0]?["structured"]?["result"]?.intValue.map { Int32($0) },
                               "\(response.json.map { "\($0)" } ?? "")")
        #expect(ProcessStatus.isAlive(pid))
        let parent = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("PPid:") }
        #expect(parent == "PPid:\t\(sidecar.process.processIdentifier)", "the MCP server is the host's own child")
        defer { if ProcessStatus.isAlive(pid) { kill(pid, SIGKILL) } }

        sidecar.signal(SIGKILL)
        _ = await sidecar.waitForExit()
        try await waitUntil("the MCP server (pid \(pid)) ends with its SIGKILLed host") { !ProcessStatus.isAlive(pid) }
    }
}
