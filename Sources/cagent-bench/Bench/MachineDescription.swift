import Foundation

/// What the figures were measured on, for the JSON: they mean little without it.
enum MachineDescription {
    static func current() -> [(String, String)] {
        var result: [(String, String)] = [("cpus", String(ProcessInfo.processInfo.activeProcessorCount))]
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let model = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }) {
            result.append(("cpu", model.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""))
        }
        result.append(("memory_mb", String(ProcessInfo.processInfo.physicalMemory / 1_048_576)))
        result.append(("os", ProcessInfo.processInfo.operatingSystemVersionString))
        return result
    }
}
