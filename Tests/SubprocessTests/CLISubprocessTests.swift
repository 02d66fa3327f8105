import CagentClient
import EmbeddedHost
import Foundation
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `cagent-sidecar run --mode subprocess` as a child process of the test.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CLISubprocessTests {
    @Test func servesThroughAChildAndStopsOnSIGTERM() async throws {
        let directory = NSTemporaryDirectory() + "cagent-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let eventsFile = directory + "/events.jsonl"
        let cli = try CLI(["run", "--mode", "subprocess", "--port", "0", "--events-file", eventsFile],
                          token: "cli-subprocess-token")
        let port = try await cli.waitUntilListening()
        let python = try #require(cli.children.first, "the service runs in a child process")
        let commandLine = try String(contentsOfFile: "/proc/\(python)/cmdline", encoding: .utf8)
        #expect(commandLine.contains("uvicorn") && !commandLine.contains("cli-subprocess-token"))

        let client = CagentClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: "cli-subprocess-token")
        #expect(try await client.execute(agentID: "echo", input: ["x": 1]).result == ["x": 1])

        cli.signal(SIGHUP)
        try await waitUntil("SIGHUP respawns the child") { cli.children.first.map { $0 != python } ?? false }
        // The new child can answer /health before the supervisor's own probe has seen it;
        // the restart is over when the host says so.
        try await waitUntil("two healthy events are written") { eventTypes(eventsFile).filter { $0 == "healthy" }.count == 2 }
        #expect(try await client.health().status == "ok")

        cli.signal(SIGTERM)
        #expect(try await cli.waitForExit() == 0, "stderr: \(cli.stderr)")
        #expect(eventTypes(eventsFile) == ["starting", "healthy", "restarting", "healthy", "stopping", "stopped"])
    }

    /// POST /shutdown is "release resources and exit": the child exits 0, and the host
    /// stops (exit 0) instead of restarting it as a crash.
    @Test func postShutdownStopsTheHostWithoutARestart() async throws {
        let directory = NSTemporaryDirectory() + "cagent-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let eventsFile = directory + "/events.jsonl"
        let cli = try CLI(["run", "--mode", "subprocess", "--port", "0", "--events-file", eventsFile, "--health-interval", "0.2"],
                          token: "shutdown-token")
        let port = try await cli.waitUntilListening()
        let client = CagentClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: "shutdown-token")
        try await client.shutdown()
        #expect(try await cli.waitForExit() == 0, "stderr: \(cli.stderr)")
        // A probe may land between the listener's close and the child's exit (`unhealthy`);
        // what matters is that nothing restarts it.
        #expect(eventTypes(eventsFile).filter { $0 != "unhealthy" } == ["starting", "healthy", "stopping", "stopped"])
        let stopped = eventLines(eventsFile).last { $0["type"] as? String == "stopped" }
        #expect(stopped?["clean"] as? Bool == true)
        #expect((stopped?["detail"] as? String)?.contains("POST /shutdown") == true, "\(String(describing: stopped))")
    }

    @Test func thePythonChildDiesWithACLIKilledBySIGKILL() async throws {
        let cli = try CLI(["run", "--mode", "subprocess", "--port", "0"], token: "t")
        _ = try await cli.waitUntilListening()
        let python = try #require(cli.children.first)
        cli.signal(SIGKILL)
        _ = try await cli.waitForExit()
        try await waitUntil("python (pid \(python)) ends with its SIGKILLed host") { !processIsAlive(python) }
    }

    @Test func aBadModeIsRefused() async throws {
        let cli = try CLI(["run", "--mode", "thread"], token: "t")
        #expect(try await cli.waitForExit() != 0)
        #expect(cli.stderr.contains("--mode must be embedded or subprocess"))
    }

    /// `--child-python host`: the child is this executable running its linked libpython
    /// as `python`, on the runtime the host found, and serves the same API.
    @Test func theChildCanRunOnTheHostsOwnInterpreter() async throws {
        let cli = try CLI(["run", "--mode", "subprocess", "--child-python", "host", "--port", "0"], token: "host-python-token")
        let port = try await cli.waitUntilListening()
        let python = try #require(cli.children.first)
        let arguments = try String(contentsOfFile: "/proc/\(python)/cmdline", encoding: .utf8).split(separator: "\0").map(String.init)
        #expect(arguments.first.map { $0.hasSuffix("/cagent-sidecar") } == true)
        #expect(Array(arguments.dropFirst().prefix(4)) == ["python", "-m", "uvicorn", "main:app"])
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(python)/exe")
        #expect(executable.hasSuffix("/cagent-sidecar"), "the child runs \(executable)")

        let client = CagentClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: "host-python-token")
        #expect(try await client.execute(agentID: "echo", input: ["x": 1]).result == ["x": 1])
        let environment = try String(contentsOfFile: "/proc/\(python)/environ", encoding: .utf8).split(separator: "\0")
        let venv = (Fixtures.projectRoot as NSString).appendingPathComponent(".venv")
        #expect(environment.contains("CAGENT_PYTHON_HOME=\(venv)"), "the child uses the runtime the host found")
        cli.signal(SIGTERM)
        #expect(try await cli.waitForExit() == 0, "stderr: \(cli.stderr)")
        try await waitUntil("python (pid \(python)) has ended") { !processIsAlive(python) }
    }

    /// `--child-python libpython`: the bench's control, CPython's own main on the host's
    /// libpython, with no Swift in the child.
    @Test func theChildCanBeCPythonsMainOnTheHostsLibpython() async throws {
        let cli = try CLI(["run", "--mode", "subprocess", "--child-python", "libpython", "--port", "0"], token: "libpython-token")
        let port = try await cli.waitUntilListening()
        let python = try #require(cli.children.first)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(python)/exe")
        #expect(executable.hasSuffix("/cagent-python"), "the child runs \(executable)")
        // (read to the end: /proc files report size 0)
        func maps(_ pid: pid_t) throws -> String {
            String(decoding: try #require(FileHandle(forReadingAtPath: "/proc/\(pid)/maps")).readToEnd() ?? Data(), as: UTF8.self)
        }
        let child = try maps(python), host = try maps(cli.pid)
        #expect(child.contains("libpython3") == host.contains("libpython3"), "libpython linked as the host links it")
        #expect(!child.contains("libswiftCore"), "no Swift runtime in the control")
        let client = CagentClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: "libpython-token")
        #expect(try await client.execute(agentID: "echo", input: ["x": 3]).result == ["x": 3])
        cli.signal(SIGTERM)
        #expect(try await cli.waitForExit() == 0, "stderr: \(cli.stderr)")
    }

    @Test func withoutCagentPythonBesideItTheControlIsAClearError() async throws {
        let folder = NSTemporaryDirectory() + "cagent-control-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let copy = folder + "/cagent-sidecar"
        try FileManager.default.copyItem(
            atPath: (RuntimeLocator.currentExecutableDirectory() as NSString).appendingPathComponent("cagent-sidecar"), toPath: copy)
        let cli = try CLI(["run", "--mode", "subprocess", "--child-python", "libpython", "--port", "0",
                           "--python-home", Fixtures.venv, "--service-dir", Fixtures.service],
                          token: "t", executable: copy)
        #expect(try await cli.waitForExit() != 0)
        #expect(cli.stderr.contains("--child-python libpython needs cagent-python beside this executable"), "stderr: \(cli.stderr)")
        #expect(cli.children.isEmpty)
    }

    @Test(arguments: [
        (["run", "--child-python", "host"], "--child-python needs --mode subprocess"),
        (["run", "--mode", "subprocess", "--child-python", "usr-bin"], "--child-python must be runtime, host or libpython"),
    ])
    func aBadChildPythonIsRefused(arguments: [String], message: String) async throws {
        let cli = try CLI(arguments, token: "t")
        #expect(try await cli.waitForExit() != 0)
        #expect(cli.stderr.contains(message), "stderr: \(cli.stderr)")
    }
}

/// The `type` of each line of an events file written so far.
private func eventLines(_ path: String) -> [[String: Any]] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

private func eventTypes(_ path: String) -> [String] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["type"] as? String
    }
}

/// The CLI built beside the test bundle, its output collected.
private final class CLI: Sendable {
    private let process: Process
    private let out = LogBox()
    private let err = LogBox()

    init(_ arguments: [String], token: String, executable: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? (RuntimeLocator.currentExecutableDirectory() as NSString)
            .appendingPathComponent("cagent-sidecar"))
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAGENT_") }
        environment["CAGENT_TOKEN"] = token
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.projectRoot)
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        self.process = process
        stdout.fileHandleForReading.readabilityHandler = { [out] handle in out.append(handle.availableData) }
        stderr.fileHandleForReading.readabilityHandler = { [err] handle in err.append(handle.availableData) }
        try process.run()
    }

    var stdout: String { out.text }
    var stderr: String { err.text }
    var pid: pid_t { process.processIdentifier }

    /// Live child processes of the CLI.
    var children: [Int32] {
        let pid = process.processIdentifier
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { entry in
            guard let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8) else { return false }
            return status.contains("PPid:\t\(pid)\n") && !status.contains("State:\tZ")
        }
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    func waitUntilListening() async throws -> Int {
        try await waitUntil("`listening on` is printed; stderr:\n\(stderr)") { listeningPort != nil || !process.isRunning }
        guard let port = listeningPort else { throw CLIFailure(description: "exited before listening; stderr:\n\(stderr)") }
        return port
    }

    private var listeningPort: Int? {
        stdout.split(separator: "\n").first { $0.hasPrefix("listening on ") }.flatMap { $0.split(separator: ":").last.flatMap { Int($0) } }
    }

    func waitForExit() async throws -> Int32 {
        do {
            try await waitUntil("the process exits; stderr:\n\(stderr)", timeout: .seconds(30)) { !process.isRunning }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

private struct CLIFailure: Error, CustomStringConvertible {
    var description: String
}

/// Output as it arrives.
private final class LogBox: Sendable {
    private let data = Mutex(Data())
    func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }
    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
