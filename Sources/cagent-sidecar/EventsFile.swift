import EmbeddedHost
import Foundation
import Synchronization

/// The `--events-file`: one JSON object per lifecycle event, appended and flushed
/// line by line so another program can follow it.
final class EventsFile: Sendable {
    private let handle: Mutex<FileHandle>

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        self.handle = Mutex(handle)
    }

    func append(_ event: SidecarEvent) {
        guard var line = try? JSONEncoder.eventLines.encode(event.json) else { return }
        line.append(0x0A)
        handle.withLock { try? $0.write(contentsOf: line) }
    }
}

extension JSONEncoder {
    static var eventLines: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
