import CPython
#if canImport(Glibc)
import Glibc
#endif

/// Every Python thread's stack, captured the way faulthandler does: without the GIL.
///
/// A stall may be C code holding the GIL, so the dump cannot wait for it. CPython's
/// `_Py_DumpTracebackThreads` (what `faulthandler.dump_traceback_later`'s watchdog thread
/// calls) reads the thread states as they are and writes plain text to a descriptor; here
/// the descriptor is an unlinked temporary file, read back at once. The text has
/// faulthandler's format (`Thread 0x… (most recent call first):` then `  File …, line …
/// in …` lines, innermost first); the interpreter thread's header is marked.
///
/// Here in Bridge, beside the other calls into CPython; the host decides when to take it.
///
/// Caller's duty: the interpreter must stay initialized during the call (the host's
/// `InterpreterLink.dumpStacks()`).
public enum StackDump {
    /// `temporaryDirectory` holds the unlinked file for the moment of the dump.
    public static func capture(interpreterThread: pthread_t, temporaryDirectory: String) -> String {
        let folder = temporaryDirectory.hasSuffix("/") ? String(temporaryDirectory.dropLast()) : temporaryDirectory
        var template = Array("\(folder)/cagent-stacks-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return "(stacks unavailable: cannot create a temporary file: \(String(cString: strerror(errno))))" }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        defer { close(fd) }
        if let error = cagent_dump_all_threads(fd) {
            return "(stacks unavailable: \(String(cString: error)))"
        }
        lseek(fd, 0, SEEK_SET)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: bytes, as: UTF8.self)
        // faulthandler prints the thread id as `0x%0*lx` with the width of a pointer.
        let hex = String(UInt(bitPattern: Int(bitPattern: UInt(interpreterThread))), radix: 16)
        let marker = "Thread 0x" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex
        return text.replacing(marker + " ", with: marker + " [interpreter thread, event loop] ")
    }
}
