import CZstd
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import EmbeddedHost
@testable import SingleFile
#if canImport(Glibc)
import Glibc
#endif

/// The single-file bundle's pieces: SHA-256, the payload format, and the cache
/// (unpack once, reuse, repair, concurrent first launches, fallback). The real
/// dist/cagent-sidecar.run is proven end to end by bundle/test.sh.
struct OnefileBundleTests {
    // MARK: SHA-256

    @Test func sha256MatchesTheStandardVectors() {
        func hex(_ text: String) -> String {
            var hasher = SHA256()
            hasher.update(Array(text.utf8))
            return SHA256.hex(hasher.finalize())
        }
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(String(repeating: "a", count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func sha256InPiecesEqualsInOneGo() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 13) }
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000] {
            var whole = SHA256()
            whole.update(Array(data[0..<length]))
            var pieces = SHA256()
            var start = 0
            var step = 1
            while start < length {
                let end = min(length, start + step)
                pieces.update(Array(data[start..<end]))
                start = end
                step = step * 3 % 67 + 1
            }
            #expect(whole.finalize() == pieces.finalize(), "length \(length)")
        }
    }

    // MARK: Payload

    @Test func unsafePathsAreRefused() {
        for path in ["runtime/os.py", "a", "a/b/c.txt", "host-python/cagent_host/__init__.py"] {
            #expect(PayloadFile.isSafe(path), "\(path)")
        }
        for path in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a/", "a\u{0}b"] {
            #expect(!PayloadFile.isSafe(path), "\(path.debugDescription)")
        }
    }

    @Test func anExecutableWithoutPayloadIsNoBundle() throws {
        let root = try Fixtures.temporaryDirectory()
        let plain = "\(root)/plain"
        try Data(repeating: 7, count: 200).write(to: URL(fileURLWithPath: plain))
        #expect(try PayloadFile(path: plain) == nil)
        #expect(try OnefileBundle.prepare(executable: plain, cacheRoot: "\(root)/cache", temporaryRoot: root) == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/cache"))
    }

    @Test func aPayloadUnpacksWithContentsAndModes() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        let result = try #require(try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root))
        #expect(result.outcome == .unpacked)
        #expect(result.warnings.isEmpty)
        try SingleFile.expectUnpacked(in: result.directory)
        #expect(result.directory.hasPrefix("\(root)/cache/"))
        #expect((result.directory as NSString).lastPathComponent.count == 32)
    }

    @Test func laterLaunchesReuseTheCache() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        let first = try #require(try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root))
        let marker = "\(first.directory)/runtime/lib/python3.11/os.py"
        let inode = try FileManager.default.attributesOfItem(atPath: marker)[.systemFileNumber] as? Int
        let second = try #require(try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root))
        #expect(second.outcome == .reused)
        #expect(second.directory == first.directory)
        #expect(try FileManager.default.attributesOfItem(atPath: marker)[.systemFileNumber] as? Int == inode)
    }

    @Test(arguments: ["truncate", "delete", "marker", "empty"])
    func aDamagedCacheIsUnpackedAgain(damage: String) throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        let first = try #require(try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root))
        let victim = "\(first.directory)/runtime/lib/python3.11/os.py"
        switch damage {
        case "truncate": #expect(truncate(victim, 3) == 0)
        case "delete": try FileManager.default.removeItem(atPath: victim)
        case "marker": try FileManager.default.removeItem(atPath: "\(first.directory)/\(PayloadFile.markerName)")
        default:
            // A folder left by something else, empty: rename(2) may replace it outright.
            try FileManager.default.removeItem(atPath: first.directory)
            try FileManager.default.createDirectory(atPath: first.directory, withIntermediateDirectories: false)
        }
        let again = try #require(try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root))
        #expect(again.outcome == .repaired)
        #expect(again.directory == first.directory)
        #expect(again.warnings.count == 1 && again.warnings[0].contains("damaged"))
        try SingleFile.expectUnpacked(in: again.directory)
        #expect(try SingleFile.cacheEntries(root) == [(first.directory as NSString).lastPathComponent])
    }

    @Test func concurrentFirstLaunchesAgreeOnOneFolder() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root, files: 200)
        let results = Mutex<[Result<OnefileBundle.Unpacked?, PayloadError>]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            let result = Result { () throws(PayloadError) in
                try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root)
            }
            results.withLock { $0.append(result) }
        }
        var unpacked: [OnefileBundle.Unpacked] = []
        for result in results.withLock({ $0 }) {
            unpacked.append(try #require(try result.get()))
        }
        #expect(unpacked.count == 6)
        #expect(Set(unpacked.map(\.directory)).count == 1)
        #expect(unpacked.allSatisfy { [.unpacked, .reused].contains($0.outcome) })
        try SingleFile.expectUnpacked(in: unpacked[0].directory, files: 200)
        // No temporary folder is left behind.
        #expect(try SingleFile.cacheEntries(root) == [(unpacked[0].directory as NSString).lastPathComponent])
    }

    @Test func anUnwritableCacheFallsBackToAPrivateTemporaryFolder() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        // A file where the cache folder should be: no user, root included, can write below it.
        try Data().write(to: URL(fileURLWithPath: "\(root)/blocked"))
        let result = try #require(try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/blocked/cache", temporaryRoot: root))
        #expect(result.outcome == .temporary)
        #expect(result.directory.hasPrefix("\(root)/cagent-sidecar-unpacked-"))
        #expect(result.warnings.count == 1 && result.warnings[0].contains("private temporary folder"))
        try SingleFile.expectUnpacked(in: result.directory)
        var info = stat()
        #expect(stat(result.directory, &info) == 0 && info.st_mode & 0o777 == 0o700)
    }

    @Test func noHomeMeansATemporaryFolderToo() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        let result = try #require(try OnefileBundle.prepare(executable: executable, cacheRoot: nil, temporaryRoot: root))
        #expect(result.outcome == .temporary)
        try SingleFile.expectUnpacked(in: result.directory)
    }

    @Test func aDamagedPayloadIsAnErrorNotAFallback() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: executable)))
        bytes[bytes.count - PayloadTrailer.size - 5] ^= 0xff  // inside the last file's data
        try Data(bytes).write(to: URL(fileURLWithPath: executable))
        SingleFile.expectRefusedAsCorrupt(executable, root: root, naming: "SHA-256")
        #expect(try SingleFile.cacheEntries(root).isEmpty)
    }

    /// Damage behind a matching SHA-256 (a bug in the writer, not the disk): refused as
    /// damage, with nothing left in the cache.
    @Test(arguments: ["not zstd", "too short", "too long"])
    func dataThatDoesNotMatchTheIndexIsRefused(damage: String) throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root) { raw in
            switch damage {
            case "not zstd": return Array("these bytes are no zstd frame".utf8)
            case "too short": return SingleFile.compress(Array(raw.dropLast()))
            default: return SingleFile.compress(raw + [0])
            }
        }
        SingleFile.expectRefusedAsCorrupt(executable, root: root, naming: "decompress")
        #expect(try SingleFile.cacheEntries(root).isEmpty)
    }

    @Test func aTruncatedSingleFileIsRefused() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: executable))
        // Cut in the middle, then the trailer again: it now points past the end.
        let cut = bytes.prefix(bytes.count / 2) + bytes.suffix(PayloadTrailer.size)
        try cut.write(to: URL(fileURLWithPath: executable))
        #expect(throws: PayloadError.self) {
            try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root)
        }
    }

    @Test func pathsLeavingTheFolderAreRefused() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root, extra: [("runtime/../../escaped", Array("x".utf8))])
        SingleFile.expectRefusedAsCorrupt(executable, root: root, naming: "unsafe path")
        #expect(!FileManager.default.fileExists(atPath: "\(root)/escaped"))
    }

    @Test func leftoversOfKilledLaunchesAreRemoved() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        // pid_max is at most 4194304: this pid cannot be running.
        let stale = "\(root)/cache/.unpack-0123-4194303-42"
        try FileManager.default.createDirectory(atPath: "\(stale)/runtime", withIntermediateDirectories: true)
        let live = "\(root)/cache/.unpack-0123-\(getpid())-43"
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        _ = try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root)
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: live))
    }

    @Test func theCacheRootFollowsXDGThenHome() {
        #expect(OnefileBundle.cacheRoot(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/h"]) == "/x/cache/cagent-sidecar")
        #expect(OnefileBundle.cacheRoot(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/h"]) == "/h/.cache/cagent-sidecar")
        #expect(OnefileBundle.cacheRoot(environment: ["HOME": "/h"]) == "/h/.cache/cagent-sidecar")
        // env -i: no HOME; the password database still knows this user's home.
        #expect(OnefileBundle.cacheRoot(environment: [:])?.hasSuffix("/.cache/cagent-sidecar") == true)
    }

    @Test func anUnpackedBundleComesFirstInRuntimeDiscovery() throws {
        let root = try Fixtures.temporaryDirectory()
        let executable = try SingleFile.write(in: root)
        let unpacked = try #require(try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root))
        let runtime = try RuntimeLocator(
            explicitHome: nil, unpackedBundleDirectory: unpacked.directory, executableDirectory: root,
            workingDirectory: root, hostModulesDirectory: "/host", linkedVersion: "3.11"
        ).locate()
        #expect(runtime.source == .bundle)
        #expect(runtime.home == "\(unpacked.directory)/runtime")
        #expect(runtime.serviceDirectory == "\(unpacked.directory)/service")
        // The bundle's own host modules, never the build tree's.
        #expect(runtime.hostModulesDirectory == "\(unpacked.directory)/host-python")
    }
}

/// Writes single files the way bundle/make_bundle.py does (format: Payload.swift).
private enum SingleFile {
    /// A file worth compressing.
    static let repetitive = Array(String(repeating: "print(\"hello from a compressed payload\")\n", count: 40).utf8)

    static func contents(_ number: Int) -> [UInt8] { Array("# file \(number)\n".utf8) + [UInt8](repeating: UInt8(number % 251), count: number * 3) }

    /// A fake executable with a payload: runtime/lib/python3.11/os.py (an executable
    /// mode), a repetitive file, an empty file, an empty folder, and `files` numbered files.
    /// `data` replaces the compressed stream of every file's bytes (damage that the
    /// SHA-256 cannot see: the trailer's hash is of the payload as written).
    static func write(
        in root: String, files: Int = 20, extra: [(String, [UInt8])] = [], data: (([UInt8]) -> [UInt8])? = nil
    ) throws -> String {
        var entries: [(kind: UInt8, mode: UInt16, path: String, data: [UInt8])] = [
            (0, 0o755, "runtime", []),
            (0, 0o755, "runtime/lib", []),
            (0, 0o755, "runtime/lib/python3.11", []),
            (1, 0o755, "runtime/lib/python3.11/os.py", Array("# os\n".utf8)),
            (0, 0o755, "runtime/empty-folder", []),
            (0, 0o755, "service", []),
            (1, 0o644, "service/main.py", repetitive),
            (1, 0o644, "service/empty.txt", []),
            (0, 0o755, "host-python", []),
            (0, 0o755, "host-python/cagent_host", []),
            (1, 0o644, "host-python/cagent_host/__init__.py", []),
            (0, 0o755, "service/many", []),
        ]
        for number in 0..<files {
            entries.append((1, 0o644, "service/many/f\(number).txt", contents(number)))
        }
        for (path, data) in extra { entries.append((1, 0o644, path, data)) }

        var index: [UInt8] = []
        var raw: [UInt8] = []
        for entry in entries {
            index.append(entry.kind)
            index += le(UInt16(entry.mode)) + le(UInt64(entry.data.count))
            index += le(UInt16(entry.path.utf8.count)) + Array(entry.path.utf8)
            raw += entry.data
        }
        let stream = data.map { $0(raw) } ?? compress(raw)
        let payload = Array("CAGP".utf8) + le(UInt32(2)) + le(UInt32(entries.count)) + le(UInt64(index.count)) + index + stream
        var hasher = SHA256()
        hasher.update(payload)
        let executable = [UInt8](repeating: 0x7f, count: 4096)
        let file = executable + payload + Array("CAGENT-PAYLOAD-1".utf8)
            + le(UInt64(executable.count)) + le(UInt64(payload.count)) + hasher.finalize()
        let path = "\(root)/single.run"
        try Data(file).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// One zstd frame, as `zstd` writes it.
    static func compress(_ raw: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(raw.count))
        let written = out.withUnsafeMutableBytes { dst in
            raw.withUnsafeBytes { src in ZSTD_compress(dst.baseAddress, dst.count, src.baseAddress, src.count, 3) }
        }
        precondition(ZSTD_isError(written) == 0, "ZSTD_compress failed")
        return Array(out.prefix(written))
    }

    static func expectUnpacked(in directory: String, files: Int = 20) throws {
        let manager = FileManager.default
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/service/main.py")) == Data(repetitive))
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/runtime/lib/python3.11/os.py")) == Data("# os\n".utf8))
        #expect(manager.isExecutableFile(atPath: "\(directory)/runtime/lib/python3.11/os.py"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/service/empty.txt")).isEmpty)
        #expect(try manager.contentsOfDirectory(atPath: "\(directory)/runtime/empty-folder").isEmpty)
        for number in 0..<files {
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/service/many/f\(number).txt")) == Data(contents(number)))
        }
    }

    /// Preparing `executable` (cache under `root`) throws `PayloadError.corrupt` whose
    /// detail names `what`.
    static func expectRefusedAsCorrupt(_ executable: String, root: String, naming what: String,
                                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) {
            try OnefileBundle.prepare(executable: executable, cacheRoot: "\(root)/cache", temporaryRoot: root)
        } throws: { error in
            guard case PayloadError.corrupt(let detail) = error else { return false }
            return detail.contains(what)
        }
    }

    /// Everything in the cache folder, hidden leftovers included.
    static func cacheEntries(_ root: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: "\(root)/cache") else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: "\(root)/cache").sorted()
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
