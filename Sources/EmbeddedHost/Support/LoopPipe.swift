import CSpawn
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A pipe from Swift threads to the service's event loop, which watches the read end
/// (`loop.add_reader`): how the host reaches the loop without taking the GIL (direct
/// calls, watchdog heartbeats). Both ends non-blocking and close-on-exec; closed with it.
final class LoopPipe: Sendable {
    let readDescriptor: Int32
    private let writeDescriptor: Int32

    init() {
        var descriptors: [Int32] = [-1, -1]
        guard cagent_pipe_cloexec(&descriptors) == 0 else {
            fatalError("pipe2: \(String(cString: strerror(errno)))")  // out of descriptors at start
        }
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        }
        readDescriptor = descriptors[0]
        writeDescriptor = descriptors[1]
    }

    deinit {
        close(readDescriptor)
        close(writeDescriptor)
    }

    /// Writes `bytes` whole (at most `PIPE_BUF`: never split) or not at all; true when
    /// written or when the pipe is full (the loop has unread bytes waiting already).
    func send(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let written = write(writeDescriptor, bytes.baseAddress, bytes.count)
        return written == bytes.count || (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    }

    /// Reads and drops whatever is in the pipe.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while read(readDescriptor, &buffer, buffer.count) > 0 {}
    }
}
