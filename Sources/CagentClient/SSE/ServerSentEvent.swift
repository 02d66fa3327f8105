/// One dispatched server-sent event, as the WHATWG HTML standard's
/// "dispatch the event" step produces it.
public struct ServerSentEvent: Sendable, Equatable {
    /// The `event` field; `"message"` when the event had none.
    public var type: String
    /// The `data` lines joined with `\n`.
    public var data: String
    /// The stream's last event id when this event was dispatched: an event without an
    /// `id` field carries the previous one, as `MessageEvent.lastEventId` does. Empty
    /// when no id was seen yet (or an empty `id` reset it).
    public var lastEventID: String
    /// Whether this event itself had an `id` field.
    public var hasID: Bool

    public init(type: String = "message", data: String, lastEventID: String = "", hasID: Bool = false) {
        self.type = type
        self.data = data
        self.lastEventID = lastEventID
        self.hasID = hasID
    }
}
