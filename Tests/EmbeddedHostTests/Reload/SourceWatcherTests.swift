import Foundation
import Testing
@testable import EmbeddedHost

/// ``SourceWatcher`` on real folders: which changes count, bursts, folders made later.
@Suite(.timeLimit(.minutes(1)))
struct SourceWatcherTests {
    private func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// The next batch, or nil when none came within the bound.
    private func nextBatch(_ iterator: inout AsyncStream<[String]>.Iterator) async -> [String]? {
        await iterator.next()
    }

    @Test func aBurstOfSavesIsOneBatchAndOnlyPythonSourcesCount() async throws {
        let root = try Fixtures.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: "\(root)/pkg/__pycache__", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/.hidden", withIntermediateDirectories: true)
        let watcher = try SourceWatcher(roots: [root], quiet: .milliseconds(300))
        defer { watcher.stop() }
        #expect(watcher.watchedFolders == [root, "\(root)/pkg"])
        var changes = watcher.changes.makeAsyncIterator()
        // Not sources, or in folders never watched: nothing.
        try write("x", to: "\(root)/notes.txt")
        try write("x", to: "\(root)/pkg/__pycache__/a.cpython-311.py")
        try write("x", to: "\(root)/.hidden/b.py")
        try write("x", to: "\(root)/.#lock.py")
        // A burst: five saves of two files, one replaced through a rename as editors do.
        for round in 1...2 {
            try write("A = \(round)", to: "\(root)/a.py")
            try write("B = \(round)", to: "\(root)/pkg/b.py.tmp")
            try FileManager.default.moveItem(atPath: "\(root)/pkg/b.py.tmp", toPath: "\(root)/pkg/b.py.\(round)")
        }
        try write("B = 3", to: "\(root)/pkg/b.py")
        let batch = await nextBatch(&changes)
        #expect(batch == ["\(root)/a.py", "\(root)/pkg/b.py"])
        // A later change is a batch of its own.
        try FileManager.default.removeItem(atPath: "\(root)/a.py")
        #expect(await nextBatch(&changes) == ["\(root)/a.py"])
    }

    @Test func foldersCreatedLaterAreWatched() async throws {
        let root = try Fixtures.temporaryDirectory()
        let watcher = try SourceWatcher(roots: [root], quiet: .milliseconds(50))
        defer { watcher.stop() }
        var changes = watcher.changes.makeAsyncIterator()
        try FileManager.default.createDirectory(atPath: "\(root)/new/deeper", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/new/__pycache__", withIntermediateDirectories: true)
        // Written just after the folders appeared: an event, or found when they are watched.
        try write("X = 1", to: "\(root)/new/deeper/mod.py")
        try write("X = 1", to: "\(root)/new/__pycache__/mod.py")
        #expect(await nextBatch(&changes) == ["\(root)/new/deeper/mod.py"])
        // And watched from then on.
        try write("X = 2", to: "\(root)/new/deeper/mod.py")
        #expect(await nextBatch(&changes) == ["\(root)/new/deeper/mod.py"])
    }

    @Test func stopEndsTheChanges() async throws {
        let root = try Fixtures.temporaryDirectory()
        let watcher = try SourceWatcher(roots: [root])
        var changes = watcher.changes.makeAsyncIterator()
        watcher.stop()
        watcher.stop()
        #expect(await nextBatch(&changes) == nil)
    }

    @Test func aRootThatIsNoFolderIsRefused() throws {
        let root = try Fixtures.temporaryDirectory()
        #expect(throws: SourceWatcherError.notAFolder("\(root)/missing")) {
            try SourceWatcher(roots: [root, "\(root)/missing"])
        }
    }
}
