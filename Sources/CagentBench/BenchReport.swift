import Foundation

/// The whole result of one `cagent-sidecar bench`: both backends, how they were
/// measured, and the targets judged against the figures.
public struct BenchReport: Sendable {
    public var embedded: BackendFigures
    public var subprocess: BackendFigures
    /// How it was measured (rounds, request counts, machine), as `key: value` pairs.
    public var settings: [(String, String)]

    public init(embedded: BackendFigures, subprocess: BackendFigures, settings: [(String, String)] = []) {
        self.embedded = embedded
        self.subprocess = subprocess
        self.settings = settings
    }

    public var targets: [TargetVerdict] { TargetVerdict.evaluate(embedded: embedded, subprocess: subprocess) }

    /// `{"embedded": {...}, "subprocess": {...}, "targets": [...], "settings": {...}}`;
    /// every metric key present in both, `null` where not measured.
    public func json() -> Data {
        func figures(_ backend: BackendFigures) -> [String: Any] {
            var object: [String: Any] = [:]
            for metric in Metric.all {
                if let value = metric.value(backend) {
                    object[metric.key] = ["median": value.median, "min": value.min, "max": value.max]
                } else {
                    object[metric.key] = NSNull()
                }
            }
            return object
        }
        let root: [String: Any] = [
            "embedded": figures(embedded),
            "subprocess": figures(subprocess),
            "targets": targets.map { verdict -> [String: Any] in
                ["target": verdict.target, "measured": verdict.measured,
                 "met": verdict.met.map { $0 as Any } ?? NSNull()]
            },
            "settings": Dictionary(settings, uniquingKeysWith: { $1 }),
        ]
        // Sorted keys: two runs diff cleanly.
        return (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }

    /// The printed table: medians with [min–max], a ratio column, then the targets.
    public func table() -> String {
        let rows = Metric.all.map { metric -> [String] in
            let e = metric.value(embedded)
            let s = metric.value(subprocess)
            let ratio = (e?.median).flatMap { e in (s?.median).flatMap { s in s == 0 ? nil : String(format: "%.2f", e / s) } } ?? ""
            return ["\(metric.label) [\(metric.unit)]", Self.cell(e), Self.cell(s), ratio]
        }
        var lines = Self.align([["figure", "embedded", "subprocess", "emb/sub"]] + rows)
        lines.insert(String(repeating: "-", count: lines[0].count), at: 1)
        lines.append("")
        lines.append("targets:")
        for verdict in targets {
            let mark = verdict.met.map { $0 ? "MET   " : "MISSED" } ?? "n/a   "
            lines.append("  \(mark) \(verdict.target): \(verdict.measured)")
        }
        return lines.joined(separator: "\n")
    }

    /// `median [min–max]`, with as many decimals as the size of the number needs.
    static func cell(_ summary: Summary?) -> String {
        guard let summary else { return "-" }
        return "\(format(summary.median)) [\(format(summary.min))–\(format(summary.max))]"
    }

    public static func format(_ value: Double) -> String {
        if value >= 100 { return String(format: "%.0f", value) }
        if value >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    private static func align(_ rows: [[String]]) -> [String] {
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, text in
                column == row.count - 1 ? text : text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
