import EmbeddedHost
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

enum Fixtures {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
    static let projectRoot = ((testsDirectory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    static let venv = (projectRoot as NSString).appendingPathComponent(".venv")
    static let service = (projectRoot as NSString).appendingPathComponent("python")

    static func serviceFixture(_ name: String) -> String {
        (testsDirectory as NSString).appendingPathComponent("Fixtures/\(name)")
    }

    /// The harness built beside the test bundle (`swift build --build-tests` builds both).
    static var harness: String {
        (RuntimeLocator.currentExecutableDirectory() as NSString).appendingPathComponent("cagent-subprocess-harness")
    }

    /// A configuration on a free port, the real service, the project's venv.
    static func configuration(service: String = Fixtures.service) -> SidecarConfiguration {
        var configuration = SidecarConfiguration()
        configuration.port = 0
        configuration.pythonHome = venv
        configuration.serviceDirectory = service
        configuration.logLevel = "info"
        configuration.startTimeout = .seconds(60)
        configuration.serviceEnvironment["PYTHONDONTWRITEBYTECODE"] = "1"
        return configuration
    }
}

/// Log records kept for assertions.
final class LogRecords: Sendable {
    private let records = Mutex<[String]>([])
    var all: [String] { records.withLock { $0 } }
    func append(_ line: String) { records.withLock { $0.append(line) } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(records: self) }
    }

    struct Handler: LogHandler {
        let records: LogRecords
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let tags = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            records.append("\(event.level) [\(tags)] \(event.message)")
        }
    }
}

/// Whether a process exists (a zombie counts as gone: it runs nothing).
func processIsAlive(_ pid: Int32) -> Bool {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
    return !status.contains("State:\tZ")
}
