import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The single-file bundle (`dist/cagent-sidecar.run`): an executable with the bundle's
/// folders appended as a payload. On launch the payload is unpacked once into
/// `${XDG_CACHE_HOME:-~/.cache}/cagent-sidecar/<content hash>/` and reused afterwards.
///
/// - Unpacking goes into a temporary folder beside the final one, then `rename(2)`s it
///   into place: two first launches at once both unpack, one rename wins, the other
///   launch uses the winner's folder and removes its own.
/// - Every launch checks the cached folder against the payload's index (a marker naming
///   the payload, every entry present with its size); a damaged or partial folder is
///   unpacked again and swapped in.
/// - The whole payload's SHA-256 is checked against the trailer whenever it is unpacked.
/// - A cache that cannot be written falls back to a private temporary folder for this
///   launch (removed at exit), with a warning.
///
/// Call ``prepareRunningExecutable()`` first thing in `main` (the CLI does): runtime
/// discovery then finds the unpacked runtime before anything beside the executable.
public enum OnefileBundle {
    public struct Unpacked: Sendable, Equatable {
        /// The folder holding `runtime/`, `service/` and `host-python/`.
        public var directory: String
        public var outcome: Outcome
        /// Things the user should hear about (stderr), such as the cache fallback.
        public var warnings: [String]
    }

    public enum Outcome: String, Sendable {
        /// The cache held this payload already.
        case reused
        /// Unpacked into the cache now.
        case unpacked
        /// The cache was damaged or partial; unpacked again and replaced.
        case repaired
        /// The cache could not be written: unpacked into a private temporary folder.
        case temporary
    }

    /// Why the running single file cannot start: its payload could not be read or unpacked.
    public struct LaunchError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var payload: PayloadError
        public var description: String { "the Python runtime at \(path) cannot be used: \(payload)" }
    }

    /// The folder name below the cache root.
    public static let cacheFolderName = "cagent-sidecar"

    private static let prepared = Mutex<Unpacked?>(nil)
    private static let temporaryFolder = Mutex<String?>(nil)

    /// The unpacked folder of the running executable's payload, once
    /// ``prepareRunningExecutable()`` succeeded; nil otherwise (no payload, or not prepared).
    public static var preparedDirectory: String? { prepared.withLock { $0?.directory } }

    /// Set by the single file's loader (bundle/loader/cagent-loader.c) to the `.run` file
    /// it started from: the payload is there, not in the executable it cached and ran.
    /// Inherited by the host's children, so a subprocess child finds the same payload.
    public static let singleFileVariable = "CAGENT_SINGLE_FILE"

    /// Unpacks (or reuses) the running executable's payload (or that of the single file
    /// named by ``singleFileVariable``); nil when it carries none. Idempotent within a process.
    public static func prepareRunningExecutable(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(LaunchError) -> Unpacked? {
        if let done = prepared.withLock({ $0 }) { return done }
        let resolved: String
        if let singleFile = environment[singleFileVariable], singleFile.hasPrefix("/") {
            resolved = singleFile
        } else {
            resolved = runningExecutable() ?? CommandLine.arguments[0]
        }
        let result: Unpacked?
        do {
            result = try prepare(
                executable: resolved, cacheRoot: cacheRoot(environment: environment),
                temporaryRoot: temporaryRoot(environment: environment))
        } catch {
            throw LaunchError(path: resolved, payload: error)
        }
        if let result {
            prepared.withLock { $0 = $0 ?? result }
            if result.outcome == .temporary { removeAtExit(result.directory) }
        }
        return result
    }

    /// `$XDG_CACHE_HOME/cagent-sidecar` when that is absolute, else `~/.cache/cagent-sidecar`
    /// (home from `$HOME`, else the password database); nil when there is no home.
    public static func cacheRoot(environment: [String: String]) -> String? {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return joined(xdg, cacheFolderName)
        }
        var home = environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        if home == nil, let entry = getpwuid(getuid()), let directory = entry.pointee.pw_dir {
            let text = String(cString: directory)
            if text.hasPrefix("/") { home = text }
        }
        guard let home else { return nil }
        return joined(joined(home, ".cache"), cacheFolderName)
    }

    /// The running executable's path: `/proc/self/exe`'s target, by `readlink` (what runs
    /// on every launch stays off FileManager: docs/shipping.md, "Where the memory goes").
    public static func runningExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func temporaryRoot(environment: [String: String]) -> String {
        if let tmp = environment["TMPDIR"], tmp.hasPrefix("/") { return tmp }
        return "/tmp"
    }

    /// The work behind ``prepareRunningExecutable()``, with every input explicit (tests).
    static func prepare(executable: String, cacheRoot: String?, temporaryRoot: String) throws(PayloadError) -> Unpacked? {
        guard let payload = try PayloadFile(path: executable) else { return nil }
        let entries = try payload.index()
        var warnings: [String] = []
        if let cacheRoot {
            let final = joined(cacheRoot, String(payload.trailer.hash.prefix(32)))
            var damage: String?
            if access(final, F_OK) == 0 {
                damage = payload.damage(in: final, entries: entries)
                if damage == nil { return Unpacked(directory: final, outcome: .reused, warnings: []) }
            }
            do {
                let outcome = try unpackIntoCache(payload, entries: entries, root: cacheRoot, final: final)
                if outcome == .repaired || (outcome == .unpacked && damage != nil) {
                    warnings.append("the cache at \(final) was damaged (\(damage ?? "found on unpacking")); unpacked it again")
                    return Unpacked(directory: final, outcome: .repaired, warnings: warnings)
                }
                return Unpacked(directory: final, outcome: outcome, warnings: warnings)
            } catch .corrupt(let detail) {
                throw .corrupt(detail)
            } catch {
                warnings.append("cannot use the cache \(cacheRoot) (\(error)); unpacking into a private temporary folder for this launch")
            }
        } else {
            warnings.append("no cache folder (neither XDG_CACHE_HOME nor a home folder); unpacking into a private temporary folder for this launch")
        }
        var template = Array((joined(temporaryRoot, "cagent-sidecar-unpacked-XXXXXX")).utf8CString)
        guard let made = mkdtemp(&template) else {
            throw .io(path: temporaryRoot, errno: errno, what: "create a temporary folder in")
        }
        let directory = String(cString: made)
        try unpack(payload, into: directory)
        return Unpacked(directory: directory, outcome: .temporary, warnings: warnings)
    }

    /// Unpacks beside `final` and renames into place. Returns `.unpacked`, `.repaired`
    /// (a damaged folder was swapped out) or `.reused` (another launch got there first).
    private static func unpackIntoCache(
        _ payload: PayloadFile, entries: [PayloadEntry], root: String, final: String
    ) throws(PayloadError) -> Outcome {
        try makeDirectories(root)
        guard access(root, W_OK | X_OK) == 0 else { throw .io(path: root, errno: errno, what: "write into") }
        removeLeftovers(in: root)
        let name = String(final[final.index(after: final.lastIndex(of: "/")!)...])
        let temporary = joined(root, ".unpack-\(name)-\(getpid())-\(UInt32.random(in: .min ... .max))")
        guard mkdir(temporary, 0o700) == 0 else { throw .io(path: temporary, errno: errno, what: "create") }
        try unpack(payload, into: temporary)
        var replaced = false
        for _ in 0..<5 {
            if rename(temporary, final) == 0 { return replaced ? .repaired : .unpacked }
            let code = errno
            guard code == ENOTEMPTY || code == EEXIST else {
                try? FileManager.default.removeItem(atPath: temporary)
                throw .io(path: final, errno: code, what: "rename the unpacked folder to")
            }
            // Another launch renamed first, or a damaged folder is in the way.
            if payload.damage(in: final, entries: entries) == nil {
                try? FileManager.default.removeItem(atPath: temporary)
                return .reused
            }
            let aside = joined(root, ".damaged-\(name)-\(getpid())-\(UInt32.random(in: .min ... .max))")
            if rename(final, aside) == 0 {
                replaced = true
                try? FileManager.default.removeItem(atPath: aside)
            }
            // else another launch moved it first: try again.
        }
        try? FileManager.default.removeItem(atPath: temporary)
        throw .io(path: final, errno: EBUSY, what: "replace the damaged folder")
    }

    /// `mkdir -p`, new folders 0700, with the failing errno.
    private static func makeDirectories(_ path: String) throws(PayloadError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0, errno != EEXIST {
                throw .io(path: current, errno: errno, what: "create the cache folder")
            }
        }
    }

    /// Extracts `payload` into the new, empty `directory` and marks it as this payload's
    /// (the marker the cache's damage check looks for); on failure removes the folder, so
    /// no partial unpacking stays behind, in the cache or in the temporary fallback.
    private static func unpack(_ payload: PayloadFile, into directory: String) throws(PayloadError) {
        do {
            try payload.extract(into: directory)
            try writeMarker(payload, in: directory)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    private static func writeMarker(_ payload: PayloadFile, in directory: String) throws(PayloadError) {
        let marker = joined(directory, PayloadFile.markerName)
        do {
            try Data((payload.trailer.hash + "\n").utf8).write(to: URL(fileURLWithPath: marker))
        } catch {
            throw .io(path: marker, errno: EIO, what: "write")
        }
    }

    /// `.unpack-*` and `.damaged-*` folders whose launch is gone (killed mid-unpack).
    private static func removeLeftovers(in root: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        for name in names where name.hasPrefix(".unpack-") || name.hasPrefix(".damaged-") {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]) else { continue }
            if pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(atPath: joined(root, name))
            }
        }
    }

    private static func removeAtExit(_ directory: String) {
        temporaryFolder.withLock { $0 = directory }
        atexit {
            if let directory = OnefileBundle.temporaryFolder.withLock({ $0 }) {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
    }
}

/// `base/name` with one `/` between them: a cache root from the environment may end in `/`.
func joined(_ base: String, _ name: String) -> String {
    base.hasSuffix("/") ? base + name : base + "/" + name
}
