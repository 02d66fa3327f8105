#if canImport(Glibc)
import Glibc
#endif

/// The few file operations the host does on every start (find the runtime, make and
/// clear the extension copies' folders, copy extension modules), on POSIX calls.
///
/// FoundationEssentials' `FileManager` and `URL` did them before: ~0.3 MB of its code ran
/// at every start and stayed resident in the idle host, because the toolchain builds it
/// without a section per function, so each object file whose code runs comes whole
/// (docs/shipping.md, "Where the memory goes"). What runs only on rare paths (a stall's
/// stack dump, the subprocess backend) still uses `FileManager`.
enum FileSystem {
    /// A file system call that failed: what, on which path, and `errno`'s text.
    struct Failure: Error, CustomStringConvertible {
        let operation: String
        let path: String
        let code: Int32

        init(_ operation: String, _ path: String, code: Int32 = errno) {
            self.operation = operation
            self.path = path
            self.code = code
        }

        var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The size of a regular file (symbolic links followed); nil when there is none.
    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    static var currentDirectory: String {
        guard let cwd = getcwd(nil, 0) else { return "." }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    /// `$TMPDIR` when it is absolute, else `/tmp`.
    static var temporaryDirectory: String {
        if let value = getenv("TMPDIR") {
            let text = String(cString: value)
            if text.hasPrefix("/") { return text }
        }
        return "/tmp"
    }

    /// One folder (its parent must exist); an existing folder is no failure.
    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(Failure) {
        guard mkdir(path, mode) == 0 || (errno == EEXIST && isDirectory(path)) else { throw Failure("create", path) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a folder, without `.` and `..`; nil when it cannot be read.
    static func names(in directory: String) -> [String]? {
        guard let stream = opendir(directory) else { return nil }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a file, or a folder with everything in it (symbolic links themselves, never
    /// what they point to). A path that is already gone is no failure.
    static func remove(_ path: String) throws(Failure) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw Failure("remove", path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in names(in: path) ?? [] {
                try remove(PathString.join(path, name))
            }
            guard rmdir(path) == 0 || errno == ENOENT else { throw Failure("remove", path) }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw Failure("remove", path) }
        }
    }

    /// Copies a regular file's bytes and permission bits to `target`, which must not exist.
    static func copyFile(_ source: String, to target: String) throws(Failure) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw Failure("open", source) }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0 else { throw Failure("stat", source) }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 0o777)
        guard output >= 0 else { throw Failure("create", target) }
        var closed = false
        defer { if !closed { close(output) } }
        var buffer = [UInt8](repeating: 0, count: 1 << 18)
        while true {
            let count = read(input, &buffer, buffer.count)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure("read", source)
            }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(output, $0.baseAddress! + offset, count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Failure("write", target)
                }
                offset += written
            }
        }
        closed = true
        guard close(output) == 0 else { throw Failure("write", target) }
    }
}
