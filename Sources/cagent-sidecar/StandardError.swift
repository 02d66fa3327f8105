#if canImport(Glibc)
import Glibc
#endif

/// Messages for the user on standard error, written at once (write(2), no buffering):
/// what `FileHandle.standardError` did, which is Foundation's and not FoundationEssentials'.
enum StandardError {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return  // nowhere left to report it
            }
            offset += written
        }
    }
}
