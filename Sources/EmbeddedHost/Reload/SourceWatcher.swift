import Loopback
#if canImport(Glibc)
import CSpawn
import Glibc
import Synchronization

/// Tells when Python sources under some folders change: Linux inotify, no polling.
///
/// Every folder under the roots is watched (inotify is not recursive), except
/// `__pycache__` (the interpreter writes there on every import) and hidden folders
/// (`.git`, `.venv`); folders created later are added as they appear. A change is a `.py`
/// file written and closed, moved in or out, or deleted — what editors do on save,
/// in place or through a rename. Hidden files (`.#echo.py`, an editor's lock) are not.
///
/// Changes are debounced: a burst of saves (a formatter rewriting ten files, an editor
/// writing a backup then the file) is one batch in ``changes``, sent once nothing has
/// changed for the quiet period. One thread blocks in `poll(2)` on the inotify
/// descriptor and a wake pipe; ``stop()`` ends it.
public final class SourceWatcher: Sendable {
    /// Batches of changed files (absolute paths, sorted), one per burst. A batch sent
    /// while the last is still unread replaces it: a reload reads the files anew anyway.
    public let changes: AsyncStream<[String]>
    /// The folders watched when it started.
    public let watchedFolders: [String]

    private let continuation: AsyncStream<[String]>.Continuation
    private let wakeWrite: Int32
    private let stopped = Mutex(false)

    /// Watches `roots` (folders) and everything under them. Throws ``SourceWatcherError``
    /// when a root is not a folder or inotify refuses (the watch limit,
    /// `fs.inotify.max_user_watches`).
    public init(roots: [String], quiet: Duration = .milliseconds(150)) throws(SourceWatcherError) {
        let inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard inotify >= 0 else { throw .inotify("inotify_init1: \(Self.lastError())") }
        var pipeEnds: [Int32] = [-1, -1]
        guard cagent_pipe_cloexec(&pipeEnds) == 0 else {
            close(inotify)
            throw .inotify("pipe2: \(Self.lastError())")
        }
        _ = fcntl(pipeEnds[1], F_SETFL, fcntl(pipeEnds[1], F_GETFL) | O_NONBLOCK)
        var tree = WatchTree(descriptor: inotify)
        do throws(SourceWatcherError) {
            for root in roots {
                guard Self.isDirectory(root) else { throw .notAFolder(root) }
                try tree.addRecursively(root)
            }
        } catch {
            close(inotify)
            close(pipeEnds[0])
            close(pipeEnds[1])
            throw error
        }
        watchedFolders = tree.folders.values.sorted()
        wakeWrite = pipeEnds[1]
        (changes, continuation) = AsyncStream.makeStream(of: [String].self, bufferingPolicy: .bufferingNewest(1))
        let loop = WatchLoop(tree: tree, wakeRead: pipeEnds[0], quiet: quiet, continuation: continuation)
        let thread = HostThread { loop.run() }
        thread.name = "cagent-reload"
        thread.start()
    }

    deinit { stop() }

    /// Ends the watching thread and ``changes``; closes the descriptors. Idempotent.
    public func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        close(wakeWrite)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// A folder's name that is never watched nor reloaded from.
    static func isSkipped(folder name: String) -> Bool { name == "__pycache__" || name.hasPrefix(".") }

    /// A file whose change is a source change.
    static func isSource(file name: String) -> Bool { name.hasSuffix(".py") && !name.hasPrefix(".") }
}

public enum SourceWatcherError: Error, Sendable, Equatable, CustomStringConvertible {
    case notAFolder(String)
    case inotify(String)

    public var description: String {
        switch self {
        case .notAFolder(let path): "cannot watch \(path) for changes: not a folder"
        case .inotify(let detail):
            "cannot watch for changes: \(detail) (too many watches? raise fs.inotify.max_user_watches)"
        }
    }
}

/// The watch descriptors and the folder each one stands for.
private struct WatchTree: Sendable {
    let descriptor: Int32
    var folders: [Int32: String] = [:]

    static let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE)
        | UInt32(IN_ONLYDIR) | UInt32(IN_EXCL_UNLINK)

    /// Watches `folder` and every folder under it but the skipped ones; returns the
    /// sources found in them (for a folder that appears later, written before its watch).
    @discardableResult
    mutating func addRecursively(_ folder: String) throws(SourceWatcherError) -> [String] {
        let watch = inotify_add_watch(descriptor, folder, Self.mask)
        guard watch >= 0 else {
            // Gone already (created then removed in a burst): nothing to watch.
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw .inotify("inotify_add_watch \(folder): \(SourceWatcher.lastError())")
        }
        folders[watch] = folder
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var sources: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != ".", name != "..", !SourceWatcher.isSkipped(folder: name) else { continue }
            let path = folder + "/" + name
            let type = entry.pointee.d_type
            if type == UInt8(DT_DIR) || (type == UInt8(DT_UNKNOWN) && SourceWatcher.isDirectory(path)) {
                sources += try addRecursively(path)
            } else if SourceWatcher.isSource(file: name) {
                sources.append(path)
            }
        }
        return sources
    }
}

/// The watching thread's state: it alone reads the inotify descriptor.
private final class WatchLoop: @unchecked Sendable {
    private var tree: WatchTree
    private let wakeRead: Int32
    private let quiet: Duration
    private let continuation: AsyncStream<[String]>.Continuation
    private var pending = Set<String>()
    private var lastChange = ContinuousClock.now

    init(tree: WatchTree, wakeRead: Int32, quiet: Duration, continuation: AsyncStream<[String]>.Continuation) {
        self.tree = tree
        self.wakeRead = wakeRead
        self.quiet = quiet
        self.continuation = continuation
    }

    func run() {
        defer {
            close(tree.descriptor)
            close(wakeRead)
            continuation.finish()
        }
        var descriptors = [
            pollfd(fd: tree.descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            // Asleep until something happens; with changes pending, until the burst is over.
            var timeout: Int32 = -1
            if !pending.isEmpty {
                let left = quiet - (ContinuousClock.now - lastChange)
                if left <= .zero {
                    continuation.yield(pending.sorted())
                    pending.removeAll()
                    continue
                }
                timeout = left.pollTimeout
            }
            descriptors[0].revents = 0
            descriptors[1].revents = 0
            let ready = poll(&descriptors, 2, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if descriptors[1].revents != 0 { return }  // stop()
            if descriptors[0].revents != 0 { readEvents() }
        }
    }

    /// Reads every queued event: notes changed sources, watches new folders.
    private func readEvents() {
        let headerSize = MemoryLayout<inotify_event>.size
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(tree.descriptor, &buffer, buffer.count)
            guard count > 0 else { return }  // EAGAIN: all read
            var offset = 0
            while offset + headerSize <= count {
                let (watch, mask, length) = buffer.withUnsafeBytes { raw in
                    (raw.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                     raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                     Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
                }
                let nameBytes = buffer[(offset + headerSize)..<min(count, offset + headerSize + length)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                offset += headerSize + length
                handle(watch: watch, mask: mask, name: name)
            }
        }
    }

    private func handle(watch: Int32, mask: UInt32, name: String) {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            // Events were lost: reload to be sure.
            note("(inotify queue overflowed)")
            return
        }
        if mask & UInt32(IN_IGNORED) != 0 {
            tree.folders[watch] = nil  // its folder was deleted or moved away
            return
        }
        guard let folder = tree.folders[watch], !name.isEmpty else { return }
        let path = folder + "/" + name
        if mask & UInt32(IN_ISDIR) != 0 {
            guard !SourceWatcher.isSkipped(folder: name) else { return }
            if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                // Watched before it is read: a source written meanwhile is either an
                // event or found here.
                let sources = (try? tree.addRecursively(path)) ?? []
                for source in sources { note(source) }
            } else if mask & UInt32(IN_MOVED_FROM | IN_DELETE) != 0 {
                note(path)  // a package moved out or removed
            }
            return
        }
        guard SourceWatcher.isSource(file: name), mask & UInt32(IN_CREATE) == 0 else { return }
        note(path)
    }

    private func note(_ path: String) {
        pending.insert(path)
        lastChange = .now
    }
}
#endif
