import Foundation
import Testing
@testable import EmbeddedHost

/// Folders of extension-module copies left by processes that ended without stopping
/// their sidecar are removed by the next start; nothing else is touched.
struct CopiesFolderTests {
    @Test func onlyFoldersOfEndedProcessesAreRemoved() throws {
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("copies-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temporary) }

        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let names = [
            "cagent-sidecar-\(ended.processIdentifier)-123",  // its process has ended
            "cagent-sidecar-\(getpid())-456",  // this process runs
            "cagent-sidecar-notapid-789",  // not this kind of folder
            "other-\(ended.processIdentifier)-1",
        ]
        for name in names {
            let folder = temporary.appendingPathComponent(name).appendingPathComponent("gen-1")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }

        let removed = CopiesFolder.removeStale(in: temporary.path)

        #expect(removed == [temporary.appendingPathComponent(names[0]).path])
        let left = try FileManager.default.contentsOfDirectory(atPath: temporary.path).sorted()
        #expect(left == names.dropFirst().sorted())
    }

    @Test func aNewPathNamesThisProcess() {
        let name = (CopiesFolder.newPath() as NSString).lastPathComponent
        #expect(name.hasPrefix("cagent-sidecar-\(getpid())-"))
    }
}
