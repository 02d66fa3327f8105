import EmbeddedHost
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The child never outlives its host, even when the host is SIGKILLed and runs no code
/// at all on the way out: PR_SET_PDEATHSIG does it.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct NoOrphanTests {
    @Test func theServiceDiesWithAHostKilledBySIGKILL() async throws {
        let host = Process()
        host.executableURL = URL(fileURLWithPath: Fixtures.harness)
        host.arguments = [Fixtures.venv, Fixtures.service]
        let output = Pipe()
        host.standardOutput = output
        host.standardError = FileHandle.standardError
        try host.run()
        defer { if host.isRunning { kill(host.processIdentifier, SIGKILL) } }

        // `child <pid> port <port>` once the service is healthy.
        let line = await readLine(output.fileHandleForReading)
        let fields = line.split(separator: " ")
        let child = try #require(fields.count == 4 ? Int32(fields[1]) : nil, "harness said: \(line)")
        #expect(processIsAlive(child))
        let parent = try String(contentsOfFile: "/proc/\(child)/status", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("PPid:") }
        #expect(parent == "PPid:\t\(host.processIdentifier)", "the python child is the harness's own")

        kill(host.processIdentifier, SIGKILL)
        host.waitUntilExit()
        try await waitUntil("python (pid \(child)) ends with its SIGKILLed host") { !processIsAlive(child) }
    }

    private func readLine(_ handle: FileHandle) async -> String {
        await Task.detached {
            var data = Data()
            while !data.contains(0x0A) {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.append(chunk)
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }.value
    }
}
