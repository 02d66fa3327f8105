#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// How this executable has libpython: linked in (toolchain/libpython.sh's static,
/// PGO-built object, as `make build` and toolchain/swift-build-app.sh link it), or loaded
/// from `libpython3.X.so`, which a plain `swift build` of an app links.
///
/// Both work; the shared library is the slower build (Python code ~10 % slower, the
/// service imports ~35 ms slower: README, "Benchmarks"), and nothing else tells an app's
/// developer which one they got, so the embedded sidecar says so once at start.
public enum LibpythonLink: Sendable, Equatable {
    case linkedIn
    case shared(path: String)

    /// What the running process has (what `/proc/self/maps` shows mapped).
    public static let current: LibpythonLink = detect()

    static func detect() -> LibpythonLink {
        guard let maps = readFile("/proc/self/maps") else { return .linkedIn }
        return sharedLibpython(inMaps: maps).map { .shared(path: $0) } ?? .linkedIn
    }

    /// The path of a mapped `libpython3.X.so` in `/proc/self/maps` text, if any.
    static func sharedLibpython(inMaps maps: String) -> String? {
        for line in maps.split(separator: "\n") {
            // address perms offset dev inode path
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6 else { continue }
            let path = fields[5].drop(while: { $0 == " " })
            if isSharedLibpython(String(path)) { return String(path) }
        }
        return nil
    }

    private static func readFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0` and the like.
    static func isSharedLibpython(_ path: String) -> Bool {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasPrefix("libpython3") && file.split(separator: ".").contains("so")
    }

    /// The warning, or nil when libpython is linked in.
    public var warning: String? {
        guard case .shared(let path) = self else { return nil }
        return "this executable loads Python from \(path), the slower shared build (Python code ~10 % slower, "
            + "imports ~35 ms slower than the static PGO build); link the app as toolchain/swift-build-app.sh does "
            + "(docs/embedding.md, \"Building and linking\")"
    }

    private static let warned = Mutex(false)

    /// Logs ``warning`` once per process.
    static func warnOnceIfShared(_ logger: Logger) {
        guard let warning = current.warning else { return }
        let first = warned.withLock { warned in
            defer { warned = true }
            return !warned
        }
        if first { logger.warning("\(warning)") }
    }
}
