#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The temporary folder that holds one embedded sidecar's per-generation copies of
/// extension modules: `<tmp>/cagent-sidecar-<pid>-<random>`.
///
/// It is removed when the sidecar's interpreter thread is done with it. A process that
/// ends without stopping its sidecar leaves it behind (with the next generation's
/// copies, ~21 MB), so each start first removes those of processes that no longer run.
enum CopiesFolder {
    static let prefix = "cagent-sidecar-"

    /// A new folder's path (not created).
    static func newPath(in temporary: String = FileSystem.temporaryDirectory) -> String {
        PathString.join(temporary, "\(prefix)\(getpid())-\(UInt32.random(in: .min ... .max))")
    }

    /// Removes folders of this kind whose process has ended; returns their paths.
    @discardableResult
    static func removeStale(in temporary: String = FileSystem.temporaryDirectory) -> [String] {
        guard let names = FileSystem.names(in: temporary) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) {
            let fields = name.dropFirst(prefix.count).split(separator: "-")
            guard fields.count == 2, let pid = pid_t(fields[0]), UInt32(fields[1]) != nil, pid > 0 else { continue }
            // ESRCH only: EPERM means the process runs (as another user).
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = PathString.join(temporary, name)
            if (try? FileSystem.remove(path)) != nil { removed.append(path) }
        }
        return removed
    }
}
