import Bridge
import Foundation
import TestSupport
import Testing
@testable import EmbeddedHost

/// `cagent-sidecar run` as a child process: output, signals, exit statuses, files.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct CLITests {
    @Test func printsWhereItListensServesAndStopsOnSIGTERMWithStatus0() async throws {
        let directory = try Fixtures.temporaryDirectory()
        let tokenFile = (directory as NSString).appendingPathComponent("token")
        let eventsFile = (directory as NSString).appendingPathComponent("events.jsonl")
        let cli = try CLIProcess(["run", "--port", "0", "--token-file", tokenFile, "--events-file", eventsFile])
        let port = try await cli.waitUntilListening()
        // The first line alone is what scripts parse; the block under it, printed in the
        // same write, is for the person who ran the command.
        let lines = cli.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "listening on http://127.0.0.1:\(port)", "stdout: \(cli.stdout)")

        let attributes = try FileManager.default.attributesOfItem(atPath: tokenFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.count >= 40)
        #expect(lines.contains { $0.contains("token: \(tokenFile) ") }, "stdout: \(cli.stdout)")
        #expect(lines.contains { $0.hasSuffix("docs: http://127.0.0.1:\(port)/docs?token=\(token)") }, "stdout: \(cli.stdout)")
        // The curl line works as pasted into a shell.
        let curl = try #require(lines.first { $0.contains("curl ") }).split(separator: ":", maxSplits: 1)[1]
        let pasted = try await runShell(String(curl))
        #expect(pasted.status == 0, "\(curl): \(pasted.output)")
        #expect(pasted.output.contains(#""result":{"hello":"world"}"#), "\(curl): \(pasted.output)")
        let echo = try await LoopbackHTTP(port: port, token: token).post("/agent/execute", json: ["agent_id": "echo", "input": ["x": 1]])
        #expect(echo.status == 200)
        #expect(echo.json?.at("result.x") == 1)
        #expect(try await LoopbackHTTP(port: port, token: "wrong").post("/agent/execute", json: ["agent_id": "echo", "input": [:]]).status == 401)
        #expect(childProcesses(of: cli.pid).isEmpty, "the service runs inside the host process: no child at all")

        cli.signal(SIGTERM)
        let exit = try await cli.waitForExit()
        #expect(exit.status == 0, "stderr: \(exit.stderr)")
        // The dynamic loader warns on stderr about a non-PIE host's direct references to
        // protected Swift runtime symbols (key paths to stdlib properties, for one).
        #expect(!exit.stderr.split(separator: "\n").contains { $0.hasPrefix("warning: ") }, "stderr: \(exit.stderr)")
        let events = try readEvents(eventsFile)
        #expect(events.compactMap { $0["type"] as? String } == ["starting", "healthy", "stopping", "stopped"])
        #expect(events.allSatisfy { $0["ts"] is Double })
        #expect(events.last?["clean"] as? Bool == true)
    }

    @Test func sigintStopsGracefullyToo() async throws {
        let cli = try CLIProcess(["run", "--port", "0"])
        _ = try await cli.waitUntilListening()
        cli.signal(SIGINT)
        let exit = try await cli.waitForExit()
        #expect(exit.status == 0, "stderr: \(exit.stderr)")
        #expect(!exit.stderr.contains("KeyboardInterrupt"))
    }

    @Test(arguments: ["cold", "warm"])
    func sighupRestartsTheService(kind: String) async throws {
        let directory = try Fixtures.temporaryDirectory()
        let eventsFile = (directory as NSString).appendingPathComponent("events.jsonl")
        let cli = try CLIProcess(
            ["run", "--port", "0", "--events-file", eventsFile, "--sighup-restart", kind],
            environment: ["CAGENT_TOKEN": "test-token-\(kind)", "CAGENT_AGENTS_DIR": Fixtures.agentsDirectory])
        let port = try await cli.waitUntilListening()
        cli.signal(SIGHUP)
        try await waitForEvents(eventsFile, count: 4)
        let client = LoopbackHTTP(port: port, token: "test-token-\(kind)")
        let typed = try await client.post("/agent/execute", json: [
            "agent_id": "typed",
            "input": ["id": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f", "at": "2026-01-02T03:04:05Z", "amount": "1.5", "tags": []],
        ])
        #expect(typed.status == 200)
        #expect(typed.json?.at("result.uuid_is_uuid") == true)
        cli.signal(SIGTERM)
        #expect(try await cli.waitForExit().status == 0)
        let events = try readEvents(eventsFile)
        #expect(events.compactMap { $0["type"] as? String } == ["starting", "healthy", "restarting", "healthy", "stopping", "stopped"])
        #expect(events[2]["kind"] as? String == kind)
        #expect(events[3]["generation"] as? Int == (kind == "cold" ? 2 : 1))
    }

    @Test func aPortInUseIsAClearErrorAndNonZeroExit() async throws {
        let taken = try ListeningSocket.bind(host: "127.0.0.1", port: 0)
        let cli = try CLIProcess(["run", "--port", String(taken.port)])
        let exit = try await cli.waitForExit()
        #expect(exit.status != 0)
        #expect(exit.stdout.isEmpty)
        #expect(exit.stderr.contains("port \(taken.port) on 127.0.0.1 is already in use"))
    }

    @Test func noRuntimeFoundSaysHowToCreateOne() async throws {
        // The executable copied where no project is above it, run from an empty folder.
        let directory = try Fixtures.temporaryDirectory()
        let executable = (directory as NSString).appendingPathComponent("cagent-sidecar")
        try FileManager.default.copyItem(atPath: Fixtures.executable, toPath: executable)
        let cli = try CLIProcess(["run", "--port", "0"], workingDirectory: directory, executable: executable)
        let exit = try await cli.waitForExit()
        #expect(exit.status != 0)
        #expect(exit.stderr.contains("no Python runtime found"))
        #expect(exit.stderr.contains("make setup"))
    }

    @Test func aServiceThatFailsToImportExitsNonZeroWithTheTraceback() async throws {
        // No restarts: under supervision a failed start is retried with backoff first
        // (SupervisedCLITests covers that).
        let cli = try CLIProcess(["run", "--port", "0", "--max-restarts", "0"], environment: ["CAGENT_AGENTS_DIR": Fixtures.brokenAgentsDirectory])
        let exit = try await cli.waitForExit()
        #expect(exit.status != 0)
        #expect(exit.stdout.isEmpty)
        #expect(exit.stderr.contains("the service failed to start"))
        #expect(exit.stderr.contains("raises_on_import.py"))
        #expect(exit.stderr.contains("Traceback"))
    }

    @Test func aStartTimeoutIsReportedNotHung() async throws {
        let cli = try CLIProcess(["run", "--port", "0", "--start-timeout", "0.05", "--max-restarts", "0"])
        let exit = try await cli.waitForExit()
        #expect(exit.status != 0)
        #expect(exit.stderr.contains("within 0.05 s"))
    }

    @Test func aStuckNonDaemonThreadDoesNotHangTheStop() async throws {
        let cli = try CLIProcess(
            ["run", "--port", "0", "--shutdown-timeout", "2"],
            environment: ["CAGENT_TOKEN": "t", "CAGENT_AGENTS_DIR": Fixtures.agentsDirectory])
        let port = try await cli.waitUntilListening()
        let started = try await LoopbackHTTP(port: port, token: "t").post("/agent/execute", json: ["agent_id": "stuck_thread", "input": ["seconds": 3600]])
        #expect(started.status == 200)
        let begin = ContinuousClock.now
        cli.signal(SIGTERM)
        let exit = try await cli.waitForExit(timeout: .seconds(20))
        #expect(ContinuousClock.now - begin < .seconds(10), "Py_FinalizeEx would wait for the thread forever")
        #expect(exit.status != 0, "the interpreter could not be finalized: not a clean stop")
        #expect(exit.stderr.contains("stuck-worker"))
    }

    @Test(arguments: [
        (["run", "--port", "70000"], "--port must be between 0 and 65535"),
        (["run", "--log-level", "loud"], "--log-level must be one of"),
        (["run", "--sighup-restart", "respawn"], "--sighup-restart must be cold or warm"),
        (["run", "--shutdown-timeout", "0"], "--shutdown-timeout must be a positive number"),
        (["run", "--loop", "trio"], "--loop must be auto, asyncio or uvloop"),
    ])
    func invalidFlagsAreRejectedClearly(arguments: [String], message: String) async throws {
        let exit = try await CLIProcess(arguments).waitForExit()
        #expect(exit.status != 0)
        #expect(exit.stderr.contains(message), "stderr: \(exit.stderr)")
    }

    @Test func pythonRunsTheLinkedInterpreterLikeThePythonCommand() async throws {
        let directory = try Fixtures.temporaryDirectory()
        let script = (directory as NSString).appendingPathComponent("script.py")
        try """
            import json, os, sys, uvicorn
            print(json.dumps({"argv": sys.argv, "prefix": sys.prefix, "isolated": sys.flags.isolated,
                              "script_dir_on_path": os.path.dirname(sys.argv[0]) in sys.path,
                              "pythonpath_used": "/decoy" in sys.path, "uvicorn": uvicorn.__name__}))
            sys.exit(7)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let cli = try CLIProcess(["python", script, "a", "-b"], environment: ["PYTHONPATH": "/decoy"],
                                 workingDirectory: Fixtures.projectRoot)
        let exit = try await cli.waitForExit()
        #expect(exit.status == 7, "stderr: \(exit.stderr)")
        let out = try JSONDecoder().decode(JSON.self, from: Data(exit.stdout.utf8))
        #expect(out["argv"] == [.string(script), "a", "-b"])
        #expect(out["prefix"] == .string(Fixtures.venv), "the runtime the host would use")
        #expect(out["isolated"] == 1, "like python -I")
        #expect(out["script_dir_on_path"] == false, "like python -I")
        #expect(out["pythonpath_used"] == false, "PYTHON* variables are ignored")
        #expect(out["uvicorn"] == "uvicorn")

        let module = try await CLIProcess(["python", "-m", "uvicorn", "--version"], workingDirectory: Fixtures.projectRoot).waitForExit()
        #expect(module.status == 0)
        #expect(module.stdout.contains("uvicorn"))
    }

    private func waitForEvents(_ path: String, count: Int) async throws {
        try await waitUntil("\(count) events are in \(path)") { ((try? readEvents(path))?.count ?? 0) >= count }
    }
}

/// `sh -c command`, its stdout and exit status (the curl line `run` prints, as a user pastes it).
private func runShell(_ command: String) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
