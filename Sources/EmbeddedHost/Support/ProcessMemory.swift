import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Resident memory of this process, for the figures restarts and the bench print.
public enum ProcessMemory {
    /// Resident set size in bytes of this process (or of `pid`), from `/proc/…/statm`; nil
    /// where that does not exist.
    public static func residentBytes(pid: Int32? = nil) -> Int? {
        let path = pid.map { "/proc/\($0)/statm" } ?? "/proc/self/statm"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
