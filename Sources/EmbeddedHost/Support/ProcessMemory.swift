import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Resident memory of this process, for the figures restarts and the bench print.
public enum ProcessMemory {
    /// Resident set size in bytes, from `/proc/self/statm`; nil where that does not exist.
    public static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
