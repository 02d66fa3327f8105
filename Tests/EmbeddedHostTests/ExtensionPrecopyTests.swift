import Foundation
import Testing
@testable import EmbeddedHost

/// The next generation's copies are listed when a generation serves and made only once
/// the sidecar has seen it healthy; a stop or restart before that copies nothing.
struct ExtensionPrecopyTests {
    private func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("precopy-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func source(in folder: String) throws -> String {
        let path = (folder as NSString).appendingPathComponent("module.so")
        try Data(repeating: 7, count: 100_000).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func preparedFilesAreCopiedOnlyWhenStarted() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let origin = try source(in: root)
        let next = (root as NSString).appendingPathComponent("gen-2")
        let precopy = ExtensionPrecopy()

        precopy.prepare([(module: "module", origin: origin)], into: next)
        #expect(!FileManager.default.fileExists(atPath: next), "nothing is copied before startPrepared")
        precopy.startPrepared()
        precopy.waitUntilIdle()
        let copy = (next as NSString).appendingPathComponent("module/module.so")
        #expect(FileManager.default.contents(atPath: copy) == FileManager.default.contents(atPath: origin))
    }

    @Test(arguments: ["cancel", "wait"])
    func aStopBeforeTheStartDropsWhatWasPrepared(stop: String) throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let next = (root as NSString).appendingPathComponent("gen-2")
        let precopy = ExtensionPrecopy()

        precopy.prepare([(module: "module", origin: try source(in: root))], into: next)
        if stop == "cancel" { precopy.cancelAndWait() } else { precopy.waitUntilIdle() }
        precopy.startPrepared()
        precopy.waitUntilIdle()
        #expect(!FileManager.default.fileExists(atPath: next))
    }
}
