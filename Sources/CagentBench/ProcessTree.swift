import Foundation

/// Resident memory of a process and everything it started, from /proc: the honest
/// figure for "host plus child" (the subprocess backend) against one process (embedded).
public enum ProcessTree {
    /// `pid` and its descendants, found through the parent field of /proc/<pid>/stat.
    public static func members(of pid: Int32) -> [Int32] {
        var children: [Int32: [Int32]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let candidate = Int32(entry), let parent = parentPID(of: candidate) else { continue }
            children[parent, default: []].append(candidate)
        }
        var result: [Int32] = []
        var queue = [pid]
        while let next = queue.popLast() {
            result.append(next)
            queue.append(contentsOf: children[next] ?? [])
        }
        return result
    }

    /// Sum of VmRSS over ``members(of:)``, in bytes; nil when `pid` is gone.
    public static func residentBytes(of pid: Int32) -> Int? {
        guard residentBytes(ofProcess: pid) != nil else { return nil }
        return members(of: pid).compactMap { residentBytes(ofProcess: $0) }.reduce(0, +)
    }

    /// VmRSS of one process (kB in /proc/<pid>/status), in bytes.
    public static func residentBytes(ofProcess pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kilobytes = line.dropFirst("VmRSS:".count).split(whereSeparator: { $0.isWhitespace }).first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }

    /// The fourth field of /proc/<pid>/stat, after the command name in parentheses
    /// (which may itself hold spaces and parentheses, hence the last ')').
    static func parentPID(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }
}
