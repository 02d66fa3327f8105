import Foundation
import Testing
@testable import EmbeddedHost
import SingleFile

/// The host's own file operations (`FileSystem`), on real files in a fresh folder.
struct FileSystemTests {
    @Test func copyingKeepsBytesAndPermissionsAndNeverOverwrites() throws {
        let folder = try Fixtures.temporaryDirectory()
        let source = "\(folder)/module.so"
        let bytes = Data((0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })  // more than one buffer
        try bytes.write(to: URL(fileURLWithPath: source))
        chmod(source, 0o750)

        try FileSystem.copyFile(source, to: "\(folder)/copy.so")

        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/copy.so")) == bytes)
        let mode = try FileManager.default.attributesOfItem(atPath: "\(folder)/copy.so")[.posixPermissions] as? Int
        #expect(mode == 0o750)
        #expect(FileSystem.fileSize("\(folder)/copy.so") == bytes.count)
        #expect(throws: FileSystem.Failure.self) { try FileSystem.copyFile(source, to: "\(folder)/copy.so") }
        #expect(throws: FileSystem.Failure.self) { try FileSystem.copyFile("\(folder)/missing", to: "\(folder)/other") }
    }

    @Test func removingAFolderTakesEverythingInItButNotWhatLinksPointTo() throws {
        let folder = try Fixtures.temporaryDirectory()
        let outside = "\(folder)/outside.txt"
        try "keep".write(toFile: outside, atomically: true, encoding: .utf8)
        try FileSystem.makeDirectory("\(folder)/tree")
        try FileSystem.makeDirectory("\(folder)/tree/deeper", mode: 0o700)
        try FileSystem.makeDirectory("\(folder)/tree/deeper", mode: 0o700)  // already there: fine
        try "x".write(toFile: "\(folder)/tree/deeper/file", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(folder)/tree/link", withDestinationPath: outside)
        #expect(FileSystem.names(in: "\(folder)/tree")?.sorted() == ["deeper", "link"])

        try FileSystem.remove("\(folder)/tree")

        #expect(!FileSystem.exists("\(folder)/tree"))
        #expect(FileSystem.exists(outside))
        try FileSystem.remove("\(folder)/tree")  // already gone: fine
    }

    @Test func failuresNameTheOperationThePathAndTheReason() {
        let failure = #expect(throws: FileSystem.Failure.self) { try FileSystem.makeDirectory("/nonexistent-parent-\(getpid())/child") }
        #expect(failure?.description == "create /nonexistent-parent-\(getpid())/child: No such file or directory")
        #expect(FileSystem.names(in: "/nonexistent-\(getpid())") == nil)
        #expect(FileSystem.fileSize("/") == nil)
        #expect(FileSystem.currentDirectory == FileManager.default.currentDirectoryPath)
    }

    @Test func theRunningExecutableIsWhatProcSelfExeNames() throws {
        #expect(OnefileBundle.runningExecutable() == (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")))
    }
}
