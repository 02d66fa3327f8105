import FoundationEssentials

/// What the watchdog knows about one stall of the service's event loop.
public struct StallReport: Sendable, Equatable {
    /// How long the heartbeat had been waiting when the stall was reported.
    public var stalledFor: Duration
    /// Every Python thread's stack, as faulthandler prints it, captured without the GIL.
    /// Empty when the backend cannot capture stacks.
    public var stacks: String
    /// The agent and request of the run that was executing on the loop, when it could be
    /// read (it needs the GIL for a moment; a C extension holding it hides them).
    public var agent: String?
    public var requestID: String?
    /// Whether the GIL could be taken while the loop was stalled. `false`: C code holds
    /// it; nothing in Python can run, only the stacks are known.
    public var gilAvailable: Bool

    public init(stalledFor: Duration, stacks: String, agent: String? = nil, requestID: String? = nil, gilAvailable: Bool) {
        self.stalledFor = stalledFor
        self.stacks = stacks
        self.agent = agent
        self.requestID = requestID
        self.gilAvailable = gilAvailable
    }
}
