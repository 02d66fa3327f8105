import FoundationEssentials
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One of the child's output pipes, read on a thread of its own and logged line by line.
///
/// The last lines are kept so that a child that dies during start can be explained
/// ("address already in use", a traceback) in the error the host reports.
final class ChildOutput: Sendable {
    static let keptLines = 60

    private let tail = Mutex<[String]>([])
    private let closed = Mutex(false)

    /// Starts reading `descriptor` (the read end; closed when the pipe ends).
    init(descriptor: Int32, stream: String, logger: Logger) {
        let thread = HostThread { [self] in
            read(descriptor, stream: stream, logger: logger)
        }
        thread.name = "cagent-child-\(stream)"
        thread.start()
    }

    /// The last lines, oldest first.
    var lastLines: [String] { tail.withLock { $0 } }

    /// Returns once the pipe has ended (every writer closed it), or after `timeout`: a
    /// process the child started may still hold the pipe open.
    func waitUntilClosed(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while !closed.withLock({ $0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func read(_ descriptor: Int32, stream: String, logger: Logger) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: 0x0A) {
                emit(pending[..<newline], stream: stream, logger: logger)
                pending.removeSubrange(...newline)
            }
            // A line longer than this is logged in pieces rather than held forever.
            if pending.count > 64 * 1024 {
                emit(pending[...], stream: stream, logger: logger)
                pending.removeAll()
            }
        }
        if !pending.isEmpty { emit(pending[...], stream: stream, logger: logger) }
        close(descriptor)
        closed.withLock { $0 = true }
    }

    private func emit(_ bytes: ArraySlice<UInt8>, stream: String, logger: Logger) {
        var line = String(decoding: bytes, as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        logger.info("\(line)", metadata: ["stream": .string(stream)])
        tail.withLock { lines in
            lines.append(line)
            if lines.count > Self.keptLines { lines.removeFirst(lines.count - Self.keptLines) }
        }
    }
}
