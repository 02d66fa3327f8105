import EmbeddedHost
import Foundation
import SidecarCLI

/// When each event arrived (its own timestamp), for the bench.
actor EventTimes {
    private var events: [SidecarEvent] = []

    init(_ stream: AsyncStream<SidecarEvent>) {
        Task { for await event in stream { await self.add(event) } }
    }

    private func add(_ event: SidecarEvent) { events.append(event) }

    var lastRestartDelay: Duration? {
        for event in events.reversed() {
            if case .restarting(_, _, _, _, let delay?) = event.kind { return delay }
        }
        return nil
    }

    /// The timestamp of the `count`-th event of `type`; gives up after two minutes.
    func wait(for type: String, count: Int) async throws -> Date {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let matching = events.filter { $0.type == type }
            if matching.count >= count { return matching[count - 1].timestamp }
            if let failure = events.last(where: { $0.type == "circuit_open" || $0.type == "wedged" }) {
                throw CLIError("the service gave up: \(failure.json)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw CLIError("no \(type) event #\(count) within two minutes")
    }
}
