import EmbeddedHost
import TestSupport

/// The shared `EventLog` waits for a sidecar's events by their type.
extension SidecarEvent: NamedEvent {}
