import Foundation
import Synchronization

/// Copies the extension modules a generation has loaded into the next generation's
/// folder while it serves, so that a cold restart does not wait for the copies
/// (`cagent_host/generation.py` says why there are copies; about 21 MB, 15-30 ms here).
///
/// The layout is the finder's (`<folder>/<module>/<file name>`); each copy is written
/// under another name and renamed, so the finder takes a file it finds there as whole.
/// Runs on a thread of its own, without the GIL; ``waitUntilIdle()`` before finalizing,
/// so that no copy is half-written when the next generation looks.
final class ExtensionPrecopy: Sendable {
    private let work = DispatchGroup()
    private let cancelled = Atomic<Bool>(false)
    /// Names each start's partial files: two starts (a warm restart loads more modules)
    /// never write the same one.
    private let starts = Atomic<Int>(0)

    /// Starts copying `files` (`[module name, original path]`) into `directory`.
    func start(_ files: [(module: String, origin: String)], into directory: String) {
        cancelled.store(false, ordering: .relaxed)
        let start = starts.add(1, ordering: .relaxed).newValue
        work.enter()
        let thread = Thread { [self] in
            defer { work.leave() }
            // The generation's folder goes in the sidecar's copies folder, which must
            // exist: once the sidecar has removed it, nothing is recreated.
            guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)) != nil
                || FileManager.default.fileExists(atPath: directory) else { return }
            for file in files {
                if cancelled.load(ordering: .relaxed) { return }
                Self.copy(file.origin, to: (directory as NSString).appendingPathComponent(file.module), start: start)
            }
        }
        thread.name = "cagent-precopy"
        thread.start()
    }

    /// Stops between two files and waits for the copy in progress.
    func cancelAndWait() {
        cancelled.store(true, ordering: .relaxed)
        work.wait()
    }

    /// Waits for every copy started so far.
    func waitUntilIdle() {
        work.wait()
    }

    private static func copy(_ origin: String, to folder: String, start: Int) {
        let manager = FileManager.default
        let target = (folder as NSString).appendingPathComponent((origin as NSString).lastPathComponent)
        if let source = try? manager.attributesOfItem(atPath: origin)[.size] as? UInt64,
           let existing = try? manager.attributesOfItem(atPath: target)[.size] as? UInt64,
           source == existing {
            return
        }
        let partial = target + ".\(getpid()).\(start).precopy"
        do {
            if !manager.fileExists(atPath: folder) {
                try manager.createDirectory(atPath: folder, withIntermediateDirectories: false)
            }
            try? manager.removeItem(atPath: partial)
            try manager.copyItem(atPath: origin, toPath: partial)
            guard rename(partial, target) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        } catch {
            // The finder copies what is missing itself: this only costs the restart time.
            try? manager.removeItem(atPath: partial)
        }
    }
}
