import EmbeddedHost
import SidecarCLI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The `--events-file`: one JSON object per lifecycle event, appended and flushed
/// line by line so another program can follow it.
final class EventsFile: Sendable {
    /// Opened with O_APPEND: every line lands at the end, even if another writer appends too.
    private let descriptor: Mutex<Int32>

    init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIError("\(path): \(String(cString: strerror(errno)))")
        }
        self.descriptor = Mutex(fd)
    }

    deinit {
        descriptor.withLock { _ = close($0) }
    }

    func append(_ event: SidecarEvent) {
        guard let text = try? event.json.text() else { return }
        let line = Array(text.utf8) + [0x0A]
        descriptor.withLock { fd in
            var offset = 0
            while offset < line.count {
                let written = line.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // a full disk loses events, not the service
                }
                offset += written
            }
        }
    }
}
