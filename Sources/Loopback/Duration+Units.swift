/// A `Duration` as the numbers the host hands to C, JSON and people: whole
/// milliseconds, fractional seconds and milliseconds, a `poll(2)` timeout.
///
/// In this leaf module, written once, because every layer (the host, both programs, the
/// bench, the tests) needs them and `Duration` itself offers only `components`.
extension Duration {
    /// Whole milliseconds, rounded toward zero: for events, logs and messages.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// Seconds with their fraction: for Python (`float` seconds) and rates.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Milliseconds with their fraction: for measured figures.
    public var inMilliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }

    /// Milliseconds for `poll(2)`, one more than the whole ones so that a wait never
    /// ends before its deadline; clamped to `Int32`.
    public var pollTimeout: Int32 {
        Int32(clamping: milliseconds + 1)
    }
}
