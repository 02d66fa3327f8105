import CZstd
import Dispatch
import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The payload a single-file bundle carries after its executable (`bundle/make_bundle.py`
/// writes it; this reads it). All integers little-endian.
///
///     executable | payload | trailer
///     trailer  = "CAGENT-PAYLOAD-1" (16) | payload offset u64 | payload length u64 | SHA-256 of the payload (32)
///     payload  = "CAGP" | version u32 (2) | entry count u32 | index length u64 | index | data
///     entry    = kind u8 (0 folder, 1 file) | mode u16 | size u64 | path length u16 |
///                path (UTF-8, relative, `/`-separated)
///     data     = one zstd stream (one or more frames) of every file's bytes, back to back in
///                index order: entry i's bytes follow entry i-1's
///
/// Solid, not per file: the payload is ~3 800 files, most of them small `.pyc` files that
/// share most of their bytes with each other (names, constants, bytecode idioms), which
/// compression per file cannot exploit (docs/shipping.md has the measurements: per-file
/// zlib 23 MB, solid zstd -19 --long ...). Decompressing is one pass of zstd (~1 GB/s);
/// the writing is spread over the cores.
struct PayloadTrailer: Sendable, Equatable {
    static let magic = Array("CAGENT-PAYLOAD-1".utf8)
    static let size = 64

    var offset: UInt64
    var length: UInt64
    var sha256: [UInt8]

    var hash: String { SHA256.hex(sha256) }

    /// The trailer at the end of `bytes` (the file's last 64 bytes), or nil when there is none.
    init?(bytes: [UInt8], fileSize: UInt64) throws(PayloadError) {
        guard bytes.count == Self.size, Array(bytes[0..<16]) == Self.magic else { return nil }
        offset = bytes.loadLE(at: 16)
        length = bytes.loadLE(at: 24)
        sha256 = Array(bytes[32..<64])
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end == fileSize - UInt64(Self.size) else {
            throw .corrupt("the trailer points outside the file (offset \(offset), length \(length), file \(fileSize) bytes)")
        }
    }
}

struct PayloadEntry: Sendable, Equatable {
    enum Kind: UInt8, Sendable { case directory = 0, file = 1 }

    var kind: Kind
    var mode: UInt16
    var size: UInt64
    /// Where the file's bytes start in the decompressed data (files in index order).
    var offset: UInt64
    var path: String
}

public enum PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The payload itself is damaged: unpacking it again cannot help.
    case corrupt(String)
    /// Reading the executable or writing the unpacked files failed.
    case io(path: String, errno: Int32, what: String)

    public var description: String {
        switch self {
        case .corrupt(let detail): return "the bundled payload is damaged: \(detail)"
        case .io(let path, let code, let what): return "cannot \(what) \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// An executable that may carry a payload.
struct PayloadFile: Sendable {
    static let headerMagic = Array("CAGP".utf8)
    static let headerSize = 20
    static let formatVersion: UInt32 = 2
    /// kind, mode, size, path length.
    static let entryFixedSize = 13
    /// Written last into an unpacked folder: the payload's full SHA-256.
    static let markerName = ".cagent-payload"

    let path: String
    let trailer: PayloadTrailer

    /// nil when the file carries no payload.
    init?(path: String) throws(PayloadError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(path: path, errno: errno, what: "open") }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .io(path: path, errno: errno, what: "stat") }
        let fileSize = UInt64(info.st_size)
        guard fileSize >= UInt64(PayloadTrailer.size) else { return nil }
        let bytes = try Self.read(descriptor, path: path, at: fileSize - UInt64(PayloadTrailer.size), count: PayloadTrailer.size)
        guard let trailer = try PayloadTrailer(bytes: bytes, fileSize: fileSize) else { return nil }
        self.trailer = trailer
    }

    /// The entries, read from the index only (cheap: no file data).
    func index() throws(PayloadError) -> [PayloadEntry] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(path: path, errno: errno, what: "open") }
        defer { close(descriptor) }
        guard trailer.length >= UInt64(Self.headerSize) else { throw .corrupt("the payload is shorter than its header") }
        let header = try Self.read(descriptor, path: path, at: trailer.offset, count: Self.headerSize)
        let (count, indexLength) = try Self.parseHeader(header, payloadLength: trailer.length)
        let index = try Self.read(descriptor, path: path, at: trailer.offset + UInt64(Self.headerSize), count: Int(indexLength))
        return try Self.parseIndex(index, count: count, payloadLength: trailer.length)
    }

    /// Reads the whole payload, checks its SHA-256 against the trailer, and writes every
    /// entry below `directory` (which must exist and be empty).
    func extract(into directory: String) throws(PayloadError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(path: path, errno: errno, what: "open") }
        defer { close(descriptor) }
        guard trailer.length < UInt64(Int.max) else { throw .corrupt("the payload is too large") }
        let payload = try Self.read(descriptor, path: path, at: trailer.offset, count: Int(trailer.length))
        // Hashing and decompressing both read the whole payload: on two cores at once (a
        // first launch waits for both). Nothing is written before the hash matches, and a
        // mismatch is the error reported, whatever the decompression made of the bytes.
        let digest = Mutex<[UInt8]>([])
        let unpacked = Mutex<Result<(entries: [PayloadEntry], data: [UInt8]), PayloadError>>(.failure(.corrupt("not unpacked")))
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            if part == 0 {
                var hasher = SHA256()
                hasher.update(payload)
                let value = hasher.finalize()
                digest.withLock { $0 = value }
            } else {
                let result = Result { () throws(PayloadError) in try Self.unpack(payload, length: trailer.length) }
                unpacked.withLock { $0 = result }
            }
        }
        let actual = digest.withLock { $0 }
        guard actual == trailer.sha256 else {
            throw .corrupt("SHA-256 \(SHA256.hex(actual)) does not match the trailer's \(trailer.hash)")
        }
        let (entries, data) = try unpacked.withLock { $0 }.get()
        try Self.write(entries, from: data, into: directory)
    }

    /// The index and every file's bytes, from the payload's bytes.
    private static func unpack(_ payload: [UInt8], length: UInt64) throws(PayloadError) -> (entries: [PayloadEntry], data: [UInt8]) {
        guard payload.count >= headerSize else { throw .corrupt("the payload is shorter than its header") }
        let (count, indexLength) = try parseHeader(Array(payload[0..<headerSize]), payloadLength: length)
        let dataStart = headerSize + Int(indexLength)
        let indexBytes = Array(payload[headerSize..<dataStart])
        let entries = try parseIndex(indexBytes, count: count, payloadLength: length)
        return (entries, try decompress(payload, from: dataStart, size: dataSize(entries)))
    }

    /// Why `directory` does not hold this payload unpacked completely, or nil when it
    /// does: the marker names this payload, and every entry is there with its size.
    /// File contents are checked when unpacking (SHA-256 of the whole payload), not here.
    func damage(in directory: String, entries: [PayloadEntry]) -> String? {
        let marker = joined(directory, Self.markerName)
        guard let text = try? String(contentsOfFile: marker, encoding: .utf8) else { return "no \(Self.markerName) marker" }
        guard text.split(whereSeparator: { $0.isWhitespace }) == [Substring(trailer.hash)] else {
            return "the marker names another payload"
        }
        var info = stat()
        for entry in entries {
            let full = directory + "/" + entry.path
            guard lstat(full, &info) == 0 else { return "\(entry.path) is missing" }
            let type = info.st_mode & S_IFMT
            switch entry.kind {
            case .directory:
                if type != S_IFDIR { return "\(entry.path) is not a folder" }
            case .file:
                if type != S_IFREG { return "\(entry.path) is not a regular file" }
                if UInt64(info.st_size) != entry.size {
                    return "\(entry.path) has \(info.st_size) bytes instead of \(entry.size)"
                }
            }
        }
        return nil
    }

    // MARK: - Format

    static func parseHeader(_ header: [UInt8], payloadLength: UInt64) throws(PayloadError) -> (count: Int, indexLength: UInt64) {
        guard header.count == headerSize, Array(header[0..<4]) == headerMagic else { throw .corrupt("no payload header") }
        let version: UInt32 = header.loadLE(at: 4)
        guard version == formatVersion else {
            throw .corrupt("payload format version \(version) is not supported (this host reads \(formatVersion))")
        }
        let count: UInt32 = header.loadLE(at: 8)
        let indexLength: UInt64 = header.loadLE(at: 12)
        guard payloadLength >= UInt64(headerSize), indexLength <= payloadLength - UInt64(headerSize) else { throw .corrupt("the index runs past the payload") }
        return (Int(count), indexLength)
    }

    static func parseIndex(_ bytes: [UInt8], count: Int, payloadLength: UInt64) throws(PayloadError) -> [PayloadEntry] {
        var entries: [PayloadEntry] = []
        entries.reserveCapacity(count)
        var position = 0
        var dataOffset: UInt64 = 0
        for number in 0..<count {
            guard position + entryFixedSize <= bytes.count else { throw .corrupt("the index ends inside entry \(number)") }
            guard let kind = PayloadEntry.Kind(rawValue: bytes[position]) else {
                throw .corrupt("entry \(number) has an unknown kind \(bytes[position])")
            }
            let mode: UInt16 = bytes.loadLE(at: position + 1)
            let size: UInt64 = bytes.loadLE(at: position + 3)
            let pathLength = Int(bytes.loadLE(at: position + 11) as UInt16)
            position += entryFixedSize
            guard position + pathLength <= bytes.count else { throw .corrupt("the index ends inside entry \(number)'s path") }
            let path = String(decoding: bytes[position..<(position + pathLength)], as: UTF8.self)
            position += pathLength
            guard isSafe(path) else { throw .corrupt("entry \(number) has an unsafe path \(path.debugDescription)") }
            if kind == .directory, size != 0 { throw .corrupt("folder \(path) has a size (\(size))") }
            // No file is larger than 1 GiB: a size beyond that is damage, not data (and
            // keeps the running total far from overflowing).
            guard size <= 1 << 30 else { throw .corrupt("\(path) claims \(size) bytes") }
            entries.append(PayloadEntry(kind: kind, mode: mode, size: size, offset: dataOffset, path: path))
            dataOffset += size
        }
        guard position == bytes.count else { throw .corrupt("the index has \(bytes.count - position) bytes after its last entry") }
        return entries
    }

    /// The decompressed data's size: every file's bytes.
    static func dataSize(_ entries: [PayloadEntry]) -> Int {
        Int(entries.reduce(0) { $0 + $1.size })
    }

    /// The zstd stream from `start` to the payload's end, decompressed: exactly `size`
    /// bytes, or the payload is damaged.
    static func decompress(_ payload: [UInt8], from start: Int, size: Int) throws(PayloadError) -> [UInt8] {
        guard start <= payload.count else { throw .corrupt("the index runs past the payload") }
        if size == 0 {
            guard start == payload.count else { throw .corrupt("\(payload.count - start) bytes of data for no file contents") }
            return []
        }
        var result = 0
        // Not zero-filled first: zstd writes every byte of it, or fails.
        let data = [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
            result = payload.withUnsafeBytes { input in
                // One call over every frame; the output size is known, so no window buffer.
                ZSTD_decompress(out.baseAddress, out.count, input.baseAddress! + start, input.count - start)
            }
            initialized = ZSTD_isError(result) == 0 && result == size ? size : 0
        }
        if ZSTD_isError(result) != 0 {
            throw .corrupt("the data does not decompress (zstd: \(String(cString: ZSTD_getErrorName(result))))")
        }
        guard result == size else { throw .corrupt("the data decompresses to \(result) bytes, the index lists \(size)") }
        return data
    }

    /// Relative, `/`-separated, no empty, `.` or `..` component: nothing lands outside
    /// the folder it is unpacked into.
    static func isSafe(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.utf8.contains(0) else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy {
            !$0.isEmpty && $0 != "." && $0 != ".."
        }
    }

    // MARK: - Writing

    private static func write(_ entries: [PayloadEntry], from data: [UInt8], into directory: String) throws(PayloadError) {
        // Folders first, in index order (parents before children), writable while filling.
        for entry in entries where entry.kind == .directory {
            let full = directory + "/" + entry.path
            guard mkdir(full, mode_t(entry.mode) | 0o700) == 0 else { throw .io(path: full, errno: errno, what: "create the folder") }
        }
        // Many small files: creating and writing them is spread over the cores, one folder
        // at a time per worker. Creating files in one folder takes that folder's lock, so
        // workers interleaved over the same folders mostly wait for each other.
        var grouped: [[PayloadEntry]] = []
        var current = ""
        for entry in entries where entry.kind == .file {
            let parent = entry.path.lastIndex(of: "/").map { String(entry.path[..<$0]) } ?? ""
            if parent != current || grouped.isEmpty {
                grouped.append([])
                current = parent
            }
            grouped[grouped.count - 1].append(entry)
        }
        let folders = grouped
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
        let next = Atomic<Int>(0)
        let failure = Mutex<PayloadError?>(nil)
        data.withUnsafeBytes { bytes in
            // Read-only for the duration of concurrentPerform, which returns when all are done.
            nonisolated(unsafe) let buffer = bytes
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let folder = next.add(1, ordering: .relaxed).oldValue
                    guard folder < folders.count, failure.withLock({ $0 == nil }) else { return }
                    for entry in folders[folder] {
                        do throws(PayloadError) {
                            try writeFile(entry, from: buffer, into: directory)
                        } catch {
                            failure.withLock { if $0 == nil { $0 = error } }
                            return
                        }
                    }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    private static func writeFile(_ entry: PayloadEntry, from data: UnsafeRawBufferPointer, into directory: String) throws(PayloadError) {
        let full = directory + "/" + entry.path
        let start = Int(entry.offset)
        let bytes = UnsafeRawBufferPointer(rebasing: data[start..<(start + Int(entry.size))])
        let descriptor = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(entry.mode))
        guard descriptor >= 0 else { throw .io(path: full, errno: errno, what: "create") }
        defer { close(descriptor) }
        if let failure = writeAll(descriptor, bytes) { throw .io(path: full, errno: failure, what: "write") }
    }

    /// nil on success, else the errno.
    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        var done = 0
        while done < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += written
        }
        return nil
    }

    static func read(_ descriptor: Int32, path: String, at offset: UInt64, count: Int) throws(PayloadError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        let failure: Int32? = bytes.withUnsafeMutableBytes { buffer in
            while done < count {
                let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if got < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if got == 0 { return EIO }
                done += got
            }
            return nil
        }
        if let failure {
            throw .io(path: path, errno: failure, what: failure == EIO && done < count ? "read (the file ends early)" : "read")
        }
        return bytes
    }
}

extension [UInt8] {
    func loadLE<T: FixedWidthInteger>(at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(self[offset + i]) << (8 * i) }
        return value
    }
}
