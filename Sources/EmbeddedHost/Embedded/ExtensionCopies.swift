import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Unloads a finalized generation's copies of extension modules.
///
/// CPython never `dlclose`s an extension module, so every generation's copies stayed
/// mapped for the life of the process (~5 MB per cold restart of the service's stack,
/// measured in `/proc/self/smaps` as deleted files). Once their interpreter is finalized
/// nothing can call into them: each copy is closed as often as it was opened (once by
/// CPython, once by our `RTLD_NOLOAD` lookup), and the dynamic linker unmaps it.
enum ExtensionCopies {
    /// Returns the copies that stay loaded: the dynamic linker keeps a library whose
    /// thread-local destructors have not run yet (a Rust extension that ran on a thread
    /// still alive), or one marked not to be deleted.
    static func unload(below directory: String) -> [String] {
        guard let files = try? FileManager.default.subpathsOfDirectory(atPath: directory) else { return [] }
        var kept: [String] = []
        for relative in files where relative.hasSuffix(".so") {
            let path = directory + "/" + relative
            var rounds = 0
            while rounds < 4, let handle = dlopen(path, RTLD_LAZY | RTLD_NOLOAD) {
                dlclose(handle)
                dlclose(handle)
                rounds += 1
            }
            if let handle = dlopen(path, RTLD_LAZY | RTLD_NOLOAD) {
                dlclose(handle)
                kept.append(path)
            }
        }
        return kept
    }
}
