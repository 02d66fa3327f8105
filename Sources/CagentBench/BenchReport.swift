import Foundation

/// The whole result of one `cagent-bench`: both backends, how they were
/// measured, and the targets judged against the figures.
public struct BenchReport: Sendable {
    public var embedded: BackendFigures
    /// Plain uvicorn: the runtime's `python` executable in a child process.
    public var subprocess: BackendFigures
    /// The control: the subprocess backend on the host's own libpython
    /// (`--child-python libpython`, `cagent-python`), the embedded backend's interpreter build in a child
    /// process. Embedded against it is what embedding itself costs or saves; embedded
    /// against ``subprocess`` adds the difference between two builds of CPython.
    public var sameInterpreter: BackendFigures?
    /// How it was measured (rounds, request counts, machine), as `key: value` pairs.
    public var settings: [(String, String)]

    public init(embedded: BackendFigures, subprocess: BackendFigures, sameInterpreter: BackendFigures? = nil,
                settings: [(String, String)] = []) {
        self.embedded = embedded
        self.subprocess = subprocess
        self.sameInterpreter = sameInterpreter
        self.settings = settings
    }

    public var targets: [TargetVerdict] { TargetVerdict.evaluate(embedded: embedded, subprocess: subprocess) }

    /// The same targets against the control (where they compare two backends).
    public var controls: [TargetVerdict] {
        sameInterpreter.map { TargetVerdict.evaluate(embedded: embedded, subprocess: $0, againstControl: true) } ?? []
    }

    static let sameInterpreterKey = "subprocess_libpython"

    /// `{"embedded": {...}, "subprocess": {...}, "subprocess_libpython": {...},
    /// "targets": [...], "controls": [...], "settings": {...}}`; every metric key present
    /// in each backend, `null` where not measured.
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
        func verdicts(_ list: [TargetVerdict]) -> [[String: Any]] {
            list.map { verdict in
                ["target": verdict.target, "measured": verdict.measured, "met": verdict.met.map { $0 as Any } ?? NSNull()]
            }
        }
        var root: [String: Any] = [
            "embedded": figures(embedded),
            "subprocess": figures(subprocess),
            "targets": verdicts(targets),
            "settings": Dictionary(settings, uniquingKeysWith: { $1 }),
        ]
        if let sameInterpreter {
            root[Self.sameInterpreterKey] = figures(sameInterpreter)
            root["controls"] = verdicts(controls)
        }
        // Sorted keys: two runs diff cleanly.
        return (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }

    /// The printed table: medians with [min–max] and ratio columns, then the targets
    /// (and the same against the control, when it was measured).
    public func table() -> String {
        func ratio(_ a: Summary?, _ b: Summary?) -> String {
            guard let a, let b, b.median != 0 else { return "" }
            return String(format: "%.2f", a.median / b.median)
        }
        let rows = Metric.all.map { metric -> [String] in
            let e = metric.value(embedded)
            let s = metric.value(subprocess)
            var row = ["\(metric.label) [\(metric.unit)]", Self.cell(e), Self.cell(s), ratio(e, s)]
            if let sameInterpreter {
                let c = metric.value(sameInterpreter)
                row += [Self.cell(c), ratio(e, c)]
            }
            return row
        }
        var header = ["figure", "embedded", "subprocess", "emb/sub"]
        if sameInterpreter != nil { header += ["subprocess on libpython", "emb/that"] }
        var lines = Self.align([header] + rows)
        lines.insert(String(repeating: "-", count: lines[0].count), at: 1)
        func section(_ title: String, _ list: [TargetVerdict]) {
            lines.append("")
            lines.append(title)
            for verdict in list {
                let mark = verdict.met.map { $0 ? "MET   " : "MISSED" } ?? "n/a   "
                lines.append("  \(mark) \(verdict.target): \(verdict.measured)")
            }
        }
        section("targets:", targets)
        if sameInterpreter != nil {
            section("the same, against the subprocess backend on the host's libpython (same interpreter build):", controls)
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
