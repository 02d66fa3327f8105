import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Copies the extension modules a generation has loaded into the next generation's
/// folder while it serves, so that a cold restart does not wait for the copies
/// (`cagent_host/generation.py` says why there are copies; about 21 MB, 15-30 ms here).
///
/// The layout is the finder's (`<folder>/<module>/<file name>`); each copy is written
/// under another name and renamed, so the finder takes a file it finds there as whole.
/// Runs on a thread of its own, without the GIL; ``waitUntilIdle()`` before finalizing,
/// so that no copy is half-written when the next generation looks.
///
/// The list is taken when the generation serves (``prepare``, GIL held) and the copying
/// starts once it is healthy (``startPrepared``): started at once, it took one of the two
/// cores just as the host's first health probe and the first requests came in.
final class ExtensionPrecopy: Sendable {
    private struct Job: Sendable {
        var files: [(module: String, origin: String)]
        var directory: String
    }

    private let work = DispatchGroup()
    private let cancelled = Atomic<Bool>(false)
    /// Names each start's partial files: two starts (a warm restart loads more modules)
    /// never write the same one.
    private let starts = Atomic<Int>(0)
    /// Prepared, not started. Taken and entered into `work` under this lock, so that a
    /// wait either clears it first or waits for its copying.
    private let prepared = Mutex<Job?>(nil)

    /// Remembers `files` (`[module name, original path]`) to copy into `directory`,
    /// replacing what was prepared and not started.
    func prepare(_ files: [(module: String, origin: String)], into directory: String) {
        prepared.withLock { $0 = Job(files: files, directory: directory) }
    }

    /// Starts copying what was prepared, if anything.
    func startPrepared() {
        let job = prepared.withLock { prepared -> Job? in
            defer { prepared = nil }
            if prepared != nil {
                work.enter()
                cancelled.store(false, ordering: .relaxed)
            }
            return prepared
        }
        guard let job else { return }
        let start = starts.add(1, ordering: .relaxed).newValue
        let thread = HostThread { [self] in
            defer { work.leave() }
            // The generation's folder goes in the sidecar's copies folder, which must
            // exist: once the sidecar has removed it, nothing is recreated.
            guard (try? FileSystem.makeDirectory(job.directory)) != nil else { return }
            for file in job.files {
                if cancelled.load(ordering: .relaxed) { return }
                Self.copy(file.origin, to: PathString.join(job.directory, file.module), start: start)
            }
        }
        thread.name = "cagent-precopy"
        thread.start()
    }

    /// Stops between two files and waits for the copy in progress.
    func cancelAndWait() {
        prepared.withLock { prepared in
            prepared = nil
            cancelled.store(true, ordering: .relaxed)  // under the lock: a start cannot undo it
        }
        work.wait()
    }

    /// Waits for every copy started so far; drops what was prepared and not started.
    func waitUntilIdle() {
        prepared.withLock { $0 = nil }
        work.wait()
    }

    private static func copy(_ origin: String, to folder: String, start: Int) {
        let target = PathString.join(folder, PathString.lastComponent(origin))
        if let source = FileSystem.fileSize(origin), source == FileSystem.fileSize(target) {
            return
        }
        let partial = target + ".\(getpid()).\(start).precopy"
        do {
            try FileSystem.makeDirectory(folder)
            try FileSystem.remove(partial)
            try FileSystem.copyFile(origin, to: partial)
            guard rename(partial, target) == 0 else { throw FileSystem.Failure("rename", partial) }
        } catch {
            // The finder copies what is missing itself: this only costs the restart time.
            try? FileSystem.remove(partial)
        }
    }
}
