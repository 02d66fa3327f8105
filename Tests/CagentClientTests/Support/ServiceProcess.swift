import Foundation
import Synchronization
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The real agent service, started the way the subprocess backend starts it:
/// `cd python && ../.venv/bin/python -m uvicorn main:app --host 127.0.0.1 --port 0`,
/// token in the environment, the client tests' agents loaded.
final class ServiceProcess: Sendable {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
    static let projectRoot = ((testsDirectory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    static let agentsDirectory = (testsDirectory as NSString).appendingPathComponent("Fixtures/agents")

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let token: String
    let port: Int
    private let process: Process
    private let box: LogBox

    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }
    /// What the service printed (uvicorn's and the request log).
    var output: String { box.text }

    /// Runs `body` against a fresh service and stops the service afterwards, whatever happens.
    static func with<T>(
        environment: [String: String] = [:], _ body: (ServiceProcess) async throws -> T
    ) async throws -> T {
        let service = try await ServiceProcess(environment: environment)
        do {
            let value = try await body(service)
            await service.stop()
            return value
        } catch {
            await service.stop()
            throw error
        }
    }

    private init(environment: [String: String]) async throws {
        let token = "client-test-\(UUID().uuidString)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: (Self.projectRoot as NSString).appendingPathComponent(".venv/bin/python"))
        process.arguments = ["-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", "0"]
        process.currentDirectoryURL = URL(fileURLWithPath: (Self.projectRoot as NSString).appendingPathComponent("python"))
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CAGENT_") }
        env["CAGENT_TOKEN"] = token
        env["CAGENT_AGENTS_DIR"] = Self.agentsDirectory
        env["CAGENT_KEEPALIVE_INTERVAL_S"] = "0.2"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        env.merge(environment) { $1 }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let box = LogBox()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            box.append(data)
        }
        try process.run()
        self.process = process
        self.token = token

        var found: Int?
        do {
            try await waitUntil("the service listens; output:\n\(box.text)") {
                let text = box.text
                found = text.range(of: "Uvicorn running on http://127.0.0.1:").flatMap { Int(text[$0.upperBound...].prefix { $0.isNumber }) }
                return found != nil || !process.isRunning
            }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        guard let found else { throw Failure(description: "the service did not start; output:\n\(box.text)") }
        self.port = found
        self.box = box
    }

    /// The exit status once the process has ended on its own (POST /shutdown), or nil if
    /// it is still running after `bound`.
    func waitForExit(within bound: Duration = .seconds(30)) async -> Int32? {
        _ = try? await waitUntil("the service exits", timeout: bound) { !process.isRunning }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    func stop() async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        _ = try? await waitUntil("the service exits", timeout: .seconds(10)) { !process.isRunning }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// The child's output as it arrives.
final class LogBox: Sendable {
    private let data = Mutex(Data())
    func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }
    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
