/// A figure measured over several rounds, as the bench's JSON carries it:
/// `{"median", "min", "max"}`. The median, not the mean, so one slow round on a busy
/// 2-core machine does not move the headline figure.
public struct Summary: Sendable, Equatable, Codable {
    public var median: Double
    public var min: Double
    public var max: Double

    public init(median: Double, min: Double, max: Double) {
        self.median = median
        self.min = min
        self.max = max
    }

    /// Nil for no samples: a figure that was not measured is absent, never zero.
    public init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        self.init(median: Statistics.median(sorted: sorted), min: sorted[0], max: sorted[sorted.count - 1])
    }
}

/// Order statistics over samples, sorted once by the caller.
public enum Statistics {
    /// The middle value, or the mean of the two middle ones for an even count.
    public static func median(sorted: [Double]) -> Double {
        precondition(!sorted.isEmpty, "median of no samples")
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Nearest-rank percentile (`p` in 0...100): a value that was actually observed, so a
    /// p99 over 2000 requests is the 1980th fastest.
    public static func percentile(_ p: Double, sorted: [Double]) -> Double {
        precondition(!sorted.isEmpty, "percentile of no samples")
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }
}
