import CagentBench
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// The bench's plumbing, never its figures: statistics, the JSON shape the issue asks
/// for, the targets' verdicts, the chart being well-formed with one bar per figure.
struct BenchPlumbingTests {
    @Test func medianAndPercentiles() {
        #expect(Statistics.median(sorted: [1, 2, 3]) == 2)
        #expect(Statistics.median(sorted: [1, 2, 3, 10]) == 2.5)
        let hundred = (1...100).map(Double.init)
        #expect(Statistics.percentile(50, sorted: hundred) == 50)
        #expect(Statistics.percentile(99, sorted: hundred) == 99)
        #expect(Statistics.percentile(100, sorted: hundred) == 100)
        #expect(Statistics.percentile(0, sorted: hundred) == 1)
        #expect(Summary([]) == nil)
        #expect(Summary([5, 1, 3]) == Summary(median: 3, min: 1, max: 5))
    }

    private func report() -> BenchReport {
        var embedded = BackendFigures()
        embedded.coldStartMs = Summary([200, 210, 220])
        embedded.restartMs = Summary([300])
        embedded.warmRestartMs = Summary([20, 30])
        embedded.rssMB = Summary([60])
        embedded.httpRps = Summary([2000])
        embedded.directP50Us = Summary([30])
        embedded.directHTTPP50Us = Summary([400])
        var subprocess = BackendFigures()
        subprocess.coldStartMs = Summary([300])
        subprocess.restartMs = Summary([290])
        subprocess.rssMB = Summary([80])
        subprocess.httpRps = Summary([2000])
        return BenchReport(embedded: embedded, subprocess: subprocess, settings: [("rounds", "3")])
    }

    @Test func jsonHasBothBackendsWithEveryKey() throws {
        let root = try #require(try JSONSerialization.jsonObject(with: report().json()) as? [String: Any])
        for backend in ["embedded", "subprocess"] {
            let figures = try #require(root[backend] as? [String: Any])
            for key in ["cold_start_ms", "restart_ms", "warm_restart_ms", "rss_mb", "http_p50_us", "http_p99_us",
                        "http_rps", "direct_p50_us", "stall_detection_ms", "crash_to_healthy_ms"] {
                #expect(figures.keys.contains(key), "\(backend) lacks \(key)")
            }
        }
        let cold = try #require((root["embedded"] as? [String: Any])?["cold_start_ms"] as? [String: Double])
        #expect(cold == ["median": 210, "min": 200, "max": 220])
        #expect((root["subprocess"] as? [String: Any])?["direct_p50_us"] is NSNull)
    }

    @Test func targetsAreJudgedOnMedians() {
        let verdicts = report().targets
        #expect(verdicts.map(\.met) == [true, false, true, true, true, true])
    }

    @Test func chartIsWellFormedWithOneBarPerFigure() throws {
        let report = report()
        let svg = BenchChart.svg(report)
        _ = try XMLDocument(xmlString: svg)
        let bars = svg.components(separatedBy: #"class="bar""#).count - 1
        let figures = Metric.all.reduce(0) { count, metric in
            count + (metric.value(report.embedded) == nil ? 0 : 1) + (metric.value(report.subprocess) == nil ? 0 : 1)
        }
        #expect(bars == figures)
        #expect(figures == 11)
    }

    private func reportWithControl() -> BenchReport {
        var report = report()
        var control = BackendFigures()
        control.coldStartMs = Summary([230])
        control.restartMs = Summary([310])
        control.rssMB = Summary([64])
        control.httpRps = Summary([1900])
        report.sameInterpreter = control
        return report
    }

    @Test func theControlIsAThirdBackendWithItsOwnVerdicts() throws {
        let report = reportWithControl()
        let root = try #require(try JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        let control = try #require(root["subprocess_libpython"] as? [String: Any])
        #expect(Set(control.keys) == Set(Metric.all.map(\.key)))
        #expect(control["cold_start_ms"] as? [String: Double] == ["median": 230, "min": 230, "max": 230])
        let controls = try #require(root["controls"] as? [[String: Any]])
        // 210/230 > 0.9; 300 ≤ 310; 60/64 > 0.9; 2000/1900 ≥ 0.95.
        #expect(controls.map { $0["met"] as? Bool } == [false, true, false, true])

        let table = report.table()
        #expect(table.contains("subprocess on libpython"))
        #expect(table.contains("MET    embedded HTTP throughput ≥ 0.95 × uvicorn on the same libpython: 2000 vs 1900 = 1.05×"))

        let svg = BenchChart.svg(report)
        _ = try XMLDocument(xmlString: svg)
        #expect(svg.components(separatedBy: #"data-backend="subprocess on libpython""#).count - 1 == 4)
        for name in [">embedded<", ">subprocess<", ">subprocess on libpython<"] {
            #expect(svg.components(separatedBy: name).count - 1 == 1, "one legend entry \(name)")
        }
    }

    @Test func withoutTheControlThereIsNoControlSection() throws {
        let root = try #require(try JSONSerialization.jsonObject(with: report().json()) as? [String: Any])
        #expect(root["subprocess_libpython"] == nil && root["controls"] == nil)
        #expect(!report().table().contains("on libpython"))
    }

    @Test func tableNamesEveryTarget() {
        let table = report().table()
        #expect(table.contains("MISSED embedded cold restart ≤ subprocess respawn"))
        #expect(table.contains("MET    embedded warm restart ≤ 50 ms"))
    }
}
