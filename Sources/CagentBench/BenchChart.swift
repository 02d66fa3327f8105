/// The bench's figures as a self-contained SVG: one row per metric, one bar per backend
/// that has the figure (median), a whisker for min–max, the value written beside it.
///
/// The figures have different units, so each row is scaled to its own largest value:
/// the chart compares the backends within a row, never rows with each other.
public enum BenchChart {
    static let embeddedColor = "#1f77b4"
    static let subprocessColor = "#ff7f0e"
    static let sameInterpreterColor = "#2ca02c"

    public static func svg(_ report: BenchReport, title: String = "cagent-bench: embedded vs subprocess") -> String {
        let series: [(name: String, figures: BackendFigures, color: String)] =
            [("embedded", report.embedded, embeddedColor), ("subprocess", report.subprocess, subprocessColor)]
            + (report.sameInterpreter.map { [("subprocess on libpython", $0, sameInterpreterColor)] } ?? [])
        let rows = Metric.all.filter { metric in series.contains { metric.value($0.figures) != nil } }
        let labelWidth = 300.0, barArea = 460.0, valueWidth = 140.0
        let barHeight = 14.0, rowHeight = Double(series.count) * barHeight + 14, top = 56.0
        let width = labelWidth + barArea + valueWidth
        let height = top + Double(rows.count) * rowHeight + 16
        var out: [String] = []
        out.append(#"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" viewBox="0 0 \#(Int(width)) \#(Int(height))" font-family="sans-serif" font-size="12">"#)
        out.append(#"<rect width="100%" height="100%" fill="white"/>"#)
        out.append(#"<text x="10" y="20" font-size="15" font-weight="bold">\#(escape(title))</text>"#)
        var legendX = 10.0
        for (name, _, color) in series {
            out.append(#"<rect x="\#(fmt(legendX))" y="32" width="12" height="12" fill="\#(color)"/><text x="\#(fmt(legendX + 16))" y="42">\#(escape(name))</text>"#)
            legendX += 16 + Double(name.count) * 7 + 18
        }
        out.append(#"<text x="\#(fmt(legendX))" y="42" fill="dimgray">median, whisker min–max; each row scaled to its own maximum</text>"#)
        for (index, metric) in rows.enumerated() {
            let y = top + Double(index) * rowHeight
            let values = series.map { ($0.name, metric.value($0.figures), $0.color) }
            let scale = values.compactMap { $0.1?.max }.max().map { $0 > 0 ? barArea / $0 : 0 } ?? 0
            out.append(#"<text x="10" y="\#(fmt(y + barHeight + 4))">\#(escape("\(metric.label) [\(metric.unit)]"))</text>"#)
            for (slot, (backend, summary, color)) in values.enumerated() {
                guard let summary else { continue }
                let barY = y + Double(slot) * barHeight
                let x0 = labelWidth
                out.append(#"<rect class="bar" data-metric="\#(metric.key)" data-backend="\#(backend)" x="\#(fmt(x0))" y="\#(fmt(barY))" width="\#(fmt(summary.median * scale))" height="\#(fmt(barHeight - 2))" fill="\#(color)"/>"#)
                let whiskerY = barY + (barHeight - 2) / 2
                out.append(#"<line x1="\#(fmt(x0 + summary.min * scale))" x2="\#(fmt(x0 + summary.max * scale))" y1="\#(fmt(whiskerY))" y2="\#(fmt(whiskerY))" stroke="black" stroke-width="1"/>"#)
                out.append(#"<text x="\#(fmt(x0 + barArea + 6))" y="\#(fmt(barY + barHeight - 3))">\#(escape(BenchReport.format(summary.median)))</text>"#)
            }
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    private static func fmt(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
