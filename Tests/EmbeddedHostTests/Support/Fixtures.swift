import Bridge
import EmbeddedHost
import Foundation

/// Paths the tests need, found from this file and the running test binary.
enum Fixtures {
    /// Tests/EmbeddedHostTests
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
    static let projectRoot = ((testsDirectory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    static let agentsDirectory = (testsDirectory as NSString).appendingPathComponent("Fixtures/agents")
    static let brokenAgentsDirectory = (testsDirectory as NSString).appendingPathComponent("Fixtures/broken_agents")
    static let venv = (projectRoot as NSString).appendingPathComponent(".venv")

    /// The CLI built beside the test bundle (`swift build --build-tests` builds both).
    static var executable: String {
        (RuntimeLocator.currentExecutableDirectory() as NSString).appendingPathComponent("cagent-sidecar")
    }

    /// A configuration on a free port with the test agents loaded.
    static func configuration(agents: String? = agentsDirectory) -> SidecarConfiguration {
        var configuration = SidecarConfiguration()
        configuration.port = 0
        configuration.pythonHome = venv
        configuration.serviceDirectory = (projectRoot as NSString).appendingPathComponent("python")
        configuration.logLevel = "warning"
        if let agents { configuration.serviceEnvironment["CAGENT_AGENTS_DIR"] = agents }
        configuration.serviceEnvironment["CAGENT_KEEPALIVE_INTERVAL_S"] = "0.5"
        return configuration
    }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("cagent-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

extension JSON {
    /// `a.b.c` lookups for assertions.
    func at(_ path: String) -> JSON? {
        var value: JSON? = self
        for key in path.split(separator: ".") { value = value?[String(key)] }
        return value
    }
}

/// Python child processes of this process (there must be none for the embedded backend).
func childProcesses(of pid: Int32 = getpid()) -> [String] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { entry -> String? in
        guard Int32(entry) != nil,
              let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8),
              status.split(separator: "\n").contains(where: { $0 == "PPid:\t\(pid)" })
        else { return nil }
        let name = status.split(separator: "\n").first { $0.hasPrefix("Name:") } ?? ""
        return "\(entry) \(name)"
    }
}
