import Bridge
import Foundation
import Synchronization
import TestSupport
@testable import EmbeddedHost

/// `cagent-sidecar run` as a child process: for what cannot happen twice in the test
/// process (a wedged interpreter, an exit status) and to run the whole CLI, signals included.
final class SidecarProcess: Sendable {
    let process: Process
    let eventsFile: String
    let token = AccessToken.generate()
    private let output = Output()

    private final class Output: Sendable {
        let text = Mutex<(stdout: String, stderr: String)>(("", ""))
        /// How many of the two pipes have been read to their end.
        let ended = Mutex(0)

        /// What a pipe's readability handler does: append, or at the end stop reading.
        func read(_ handle: FileHandle, into stream: WritableKeyPath<(stdout: String, stderr: String), String>) {
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                ended.withLock { $0 += 1 }
                return
            }
            text.withLock { $0[keyPath: stream] += String(decoding: data, as: UTF8.self) }
        }
    }

    /// `standardInput`: a pipe the test holds (`--exit-with-parent` watches it for its end).
    init(arguments: [String], agents: String = Fixtures.faultAgentsDirectory, standardInput: Pipe? = nil,
         environment extra: [String: String] = [:]) throws {
        let directory = try Fixtures.temporaryDirectory()
        eventsFile = (directory as NSString).appendingPathComponent("events.jsonl")
        process = Process()
        process.executableURL = URL(fileURLWithPath: Fixtures.executable)
        process.arguments = ["run", "--port", "0", "--python-home", Fixtures.venv,
                             "--service-dir", (Fixtures.projectRoot as NSString).appendingPathComponent("python"),
                             "--events-file", eventsFile, "--log-level", "warning"] + arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAGENT_") }
        environment["CAGENT_TOKEN"] = token
        environment["CAGENT_AGENTS_DIR"] = agents
        environment["CAGENT_KEEPALIVE_INTERVAL_S"] = "0.5"
        environment.merge(extra) { $1 }
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        if let standardInput { process.standardInput = standardInput }
        stdout.fileHandleForReading.readabilityHandler = { [output] handle in output.read(handle, into: \.stdout) }
        stderr.fileHandleForReading.readabilityHandler = { [output] handle in output.read(handle, into: \.stderr) }
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    var stdout: String { output.text.withLock { $0.stdout } }
    var stderr: String { output.text.withLock { $0.stderr } }

    /// The port from `listening on http://127.0.0.1:PORT`, once printed.
    func port(within bound: Duration = .seconds(90)) async throws -> Int {
        try await waitUntil("`listening on` is printed; stderr:\n\(stderr)", timeout: bound) { listeningPort != nil || !process.isRunning }
        guard let port = listeningPort else {
            throw LoopbackHTTP.Failure(description: "exited before a `listening on` line; stderr:\n\(stderr)")
        }
        return port
    }

    private var listeningPort: Int? {
        stdout.split(separator: "\n").first { $0.hasPrefix("listening on ") }.flatMap { Int($0.split(separator: ":").last ?? "") }
    }

    /// The events file so far, one JSON object per line.
    func events() -> [JSON] {
        guard let text = try? String(contentsOfFile: eventsFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSON.self, from: Data($0.utf8)) }
    }

    func types() -> [String] { events().compactMap { $0["type"]?.stringValue } }

    /// Waits until `count` events of `type` are in the file; false when the bound passed.
    @discardableResult
    func waitFor(_ type: String, count: Int = 1, within bound: Duration = .seconds(90)) async -> Bool {
        let arrived = { self.types().filter { $0 == type }.count >= count }
        _ = try? await waitUntil("\(count) '\(type)' event(s) arrived", timeout: bound) { arrived() || !process.isRunning }
        return arrived()
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// The exit status, or nil if it did not exit within the bound (then it is killed).
    /// Returns once what it wrote has been read too (`stdout`, `stderr` are whole), or after
    /// 10 s more when a child it left holds the pipes open.
    func waitForExit(within bound: Duration = .seconds(60)) async -> Int32? {
        _ = try? await waitUntil("the process exits", timeout: bound) { !process.isRunning }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        _ = try? await waitUntil("its output is read to the end", timeout: .seconds(10)) { output.ended.withLock { $0 } == 2 }
        return process.terminationStatus
    }
}

extension Fixtures {
    static let faultAgentsDirectory = (testsDirectory as NSString).appendingPathComponent("Fixtures/fault_agents")
    static let importOnceAgentsDirectory = (testsDirectory as NSString).appendingPathComponent("Fixtures/import_once_agents")
}
