import CagentBench
import EmbeddedHost
import Foundation
import Loopback
import SidecarCLI
#if canImport(Glibc)
import Glibc
#endif

/// One round against one backend in a fresh `cagent-sidecar run` child process (this same
/// binary): both backends start from nothing, as an app would start them, and the memory
/// counted is everything that launch brought into being.
///
/// Blocking from start to end (pipes, sockets, sleeps): run it on a thread of its own.
struct CLIRound: Sendable {
    struct Figures: Sendable {
        var coldStartMs: Double
        var rssMB: Double
        var httpP50Us: Double
        var httpP99Us: Double
        var httpRps: Double
        /// SIGHUP: `restarting` event to the next `healthy` (cold or respawn).
        var restartMs: Double?
        /// Subprocess only: SIGKILL of the python child (its `failed` event) to `healthy`.
        var crashToHealthyMs: Double?
    }

    struct Load: Sendable {
        var requests = 2000
        var clients = 4
        var warmup = 200
    }

    var executable: String
    var mode: String
    /// `--child-python` for the subprocess backend (`libpython`: the control).
    var childPython: String?
    var load = Load()
    /// `--python-home` and `--service-dir` for the child.
    var runtime: RuntimeOptions
    /// After start, before the memory is read: lazy imports and first allocations done.
    var settle: Duration = .seconds(1)

    static let body = #"{"agent_id": "echo", "input": {"message": "hello", "n": 1}}"#

    func measure() throws -> Figures {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cagent-bench-\(getpid())-\(mode)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let eventsPath = folder.appendingPathComponent("events.jsonl").path
        let logPath = folder.appendingPathComponent("stderr.log").path
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: logPath])
        }
        let token = AccessToken.generate()

        var arguments = ["--mode", mode, "--events-file", eventsPath, "--sighup-restart", "cold"]
        if let childPython { arguments += ["--child-python", childPython] }
        let launched = ContinuousClock.now
        let (process, stdout) = try Self.startRun(
            executable: executable, arguments: arguments, token: token, runtime: runtime,
            standardError: FileHandle(forWritingAtPath: logPath))
        defer { Self.terminate(process) }
        let port: Int
        do {
            port = try Self.waitForListening(stdout.fileHandleForReading.fileDescriptor, timeout: .seconds(60))
        } catch {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw CLIError("\(mode): \(error); its log:\n\(log.suffix(2000))")
        }
        let coldStart = ContinuousClock.now - launched

        Thread.sleep(forTimeInterval: settle.inSeconds)
        let rss = ProcessTree.residentBytes(of: process.processIdentifier) ?? 0

        let client = HTTPLoad(port: port, token: token, path: "/agent/execute", jsonBody: Self.body)
        let single = try client.run(clients: 1, requestsPerClient: load.requests, warmup: load.warmup)
        let concurrent = try client.run(
            clients: load.clients, requestsPerClient: load.requests / load.clients, warmup: load.warmup / load.clients)

        let events = EventLog(path: eventsPath)
        kill(process.processIdentifier, SIGHUP)
        let restart = try events.interval(from: ("restarting", 1), to: ("healthy", 2))

        var crash: Double?
        if mode == "subprocess",
           let child = ProcessTree.members(of: process.processIdentifier).first(where: { $0 != process.processIdentifier }) {
            let killed = Date()
            kill(child, SIGKILL)
            let healthy = try events.timestamp(of: "healthy", count: 3)
            let failed = events.timestamps(of: "failed").last(where: { $0 >= killed.timeIntervalSince1970 - 0.001 })
            crash = (healthy - (failed ?? killed.timeIntervalSince1970)) * 1000
        }

        return Figures(
            coldStartMs: coldStart.inMilliseconds, rssMB: Double(rss) / 1_048_576,
            httpP50Us: single.p50Microseconds, httpP99Us: single.p99Microseconds,
            httpRps: concurrent.requestsPerSecond, restartMs: restart, crashToHealthyMs: crash)
    }

    /// Reads the child's stdout until `listening on http://HOST:PORT`; returns PORT.
    static func waitForListening(_ fd: Int32, timeout: Duration) throws -> Int {
        let deadline = ContinuousClock.now + timeout
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) >= 0 else { throw CLIError("poll: \(String(cString: strerror(errno)))") }
            guard poller.revents != 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw CLIError("the service exited before listening") }
            text += String(decoding: buffer[0..<n], as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
               let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
                return port
            }
        }
        throw CLIError("no `listening on` line within \(timeout)")
    }

    /// SIGTERM, then SIGKILL if it has not exited within 15 s.
    /// `cagent-sidecar run --port 0 --log-level warning` plus `arguments`, with the token in
    /// its environment and standard output on a pipe (for `listening on`).
    static func startRun(
        executable: String, arguments: [String], token: String, runtime: RuntimeOptions, standardError: FileHandle?
    ) throws -> (process: Process, stdout: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", "--port", "0", "--log-level", "warning"] + arguments + runtime.runArguments
        var environment = ProcessInfo.processInfo.environment
        environment["CAGENT_TOKEN"] = token
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = standardError ?? FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return (process, stdout)
    }

    static func terminate(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// The child's `--events-file`, read as it grows: event timestamps are the service's own
/// (`ts`, Unix seconds), so intervals between them carry no polling error.
struct EventLog: Sendable {
    var path: String

    func timestamps(of type: String) -> [Double] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: 0x0A).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  object["type"] as? String == type else { return nil }
            return object["ts"] as? Double
        }
    }

    /// The `count`-th event of `type`; waits up to a minute for it.
    func timestamp(of type: String, count: Int) throws -> Double {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let found = timestamps(of: type)
            if found.count >= count { return found[count - 1] }
            Thread.sleep(forTimeInterval: 0.005)
        }
        throw CLIError("no \(type) event #\(count) in \(path) within a minute")
    }

    /// Milliseconds from one event to another.
    func interval(from start: (String, Int), to end: (String, Int)) throws -> Double {
        let endTime = try timestamp(of: end.0, count: end.1)
        let startTime = try timestamp(of: start.0, count: start.1)
        return (endTime - startTime) * 1000
    }
}
