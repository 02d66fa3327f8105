import EmbeddedHost
import Foundation
import Synchronization
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `cagent-sidecar` run as a child process, for what needs a process of its own:
/// signals, exit statuses, stdout.
final class CLIProcess: Sendable {
    struct Exit: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    private let process: Process
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let output = Output()

    private final class Output: Sendable {
        let state = Mutex<(stdout: Data, stderr: Data)>((Data(), Data()))
        func withLock<T: Sendable>(_ body: (inout sending (stdout: Data, stderr: Data)) -> sending T) -> T {
            state.withLock(body)
        }
    }

    init(_ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil,
         executable: String = Fixtures.executable) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAGENT_") }
        env.merge(environment) { $1 }
        process.environment = env
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        self.process = process
        stdoutPipe.fileHandleForReading.readabilityHandler = { [output] handle in
            let data = handle.availableData
            output.withLock { $0.stdout.append(data) }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { [output] handle in
            let data = handle.availableData
            output.withLock { $0.stderr.append(data) }
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { output.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    var stderr: String { output.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

    /// The port from `listening on http://127.0.0.1:PORT`, once printed.
    func waitUntilListening(timeout: Duration = .seconds(60)) async throws -> Int {
        try await waitUntil("`listening on` is printed; stderr:\n\(stderr)", timeout: timeout) { listeningPort != nil || !process.isRunning }
        guard let port = listeningPort else {
            throw LoopbackHTTP.Failure(description: "exited with \(process.terminationStatus) before listening; stderr:\n\(stderr)")
        }
        return port
    }

    private var listeningPort: Int? {
        stdout.split(separator: "\n").first { $0.hasPrefix("listening on ") }.flatMap { $0.split(separator: ":").last.flatMap { Int($0) } }
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the exit; kills the process and fails after `timeout`.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Exit {
        do {
            try await waitUntil("the process exits; stderr:\n\(stderr)", timeout: timeout) { !process.isRunning }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        let rest = (stdoutPipe.fileHandleForReading.readDataToEndOfFile(), stderrPipe.fileHandleForReading.readDataToEndOfFile())
        output.withLock { $0.stdout.append(rest.0); $0.stderr.append(rest.1) }
        return Exit(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// The events file's lines as JSON objects.
func readEvents(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map { line in
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
    }
}
