/// How a backend will bring its service back, and why that way: what every `restarting`
/// event says besides what happened.
///
/// The embedded backend's rule (``EmbeddedSidecar/recoveryPlan()``): **warm first**
/// while the interpreter is sound (its loop ended by an exception or a `SystemExit` from
/// a callback, failed health probes while the loop turns, a stall the interrupt did not
/// end while the GIL is free); **cold** when a warm restart just failed, when the
/// interpreter is gone (its thread ended), or when the app asks for it. The subprocess
/// backend always respawns.
public struct RecoveryPlan: Sendable, Equatable {
    public var kind: RestartKind
    /// Why this kind, in words for the event and the log.
    public var why: String

    public init(kind: RestartKind, why: String) {
        self.kind = kind
        self.why = why
    }

    /// A restart the app asked for, of the kind it named.
    public static let requestedWhy = "requested"
}
