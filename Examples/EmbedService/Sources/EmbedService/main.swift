// Embeds the agent service in this process under the Supervisor, and uses it: events, a
// direct call, an HTTP call, warm and cold restarts, a stop. Prints what it did; exits 0
// when everything answered as expected, 1 otherwise.
import CagentClient
import EmbeddedHost

#if canImport(Glibc)
import Glibc
#endif

func say(_ line: String) {
    print("embed-service: \(line)")
    fflush(nil)
}

func fail(_ line: String) -> Never {
    say("FAILED: \(line)")
    exit(1)
}

/// The event types in the order they came, for the summary and the checks.
actor EventLog {
    private(set) var types: [String] = []
    func append(_ type: String) { types.append(type) }
}

// 1. Configure: a free port, the token generated for this launch. The runtime (.venv) and
//    the service folder (python/) are found from the working folder or this executable's
//    folder upwards; set `pythonHome` (and `serviceDirectory`) to choose them.
var configuration = SidecarConfiguration()
configuration.port = 0
configuration.logLevel = "warning"
let sidecar = EmbeddedSidecar(configuration: configuration)
let supervisor = try Supervisor(sidecar: sidecar)

// 2. Subscribe before starting: every lifecycle event, in order.
let log = EventLog()
let events = sidecar.events()
let listener = Task {
    for await event in events {
        await log.append(event.type)
        say("event \(event.type)")
    }
}

// 3. Run it supervised, and wait until it serves (throws what run() threw, e.g. no runtime).
let run = Task { try await supervisor.run() }
do {
    try await supervisor.waitUntilRunning()
} catch {
    fail("the service did not start: \(error)")
}
let runtime = await sidecar.runtime
say("running: runtime \(runtime?.root ?? "?"), service \(runtime?.serviceDirectory ?? "?")")

// 4. A direct call: no HTTP, the same ExecuteResult and ServiceError as the client's.
let direct = try await sidecar.execute(agentID: "echo", input: ["text": "direct, \(1 + 1) words"])
guard direct.result["text"] == "direct, 2 words" else { fail("direct echo answered \(direct.result)") }
say("direct call: echo answered \(direct.result["text"]?.stringValue ?? "?") in \(direct.executionTime * 1000) ms")
do {
    _ = try await sidecar.execute(agentID: "no_such_agent", input: [:])
    fail("an unknown agent answered")
} catch let error as ServiceError {
    guard error.code == "unknown_agent" else { fail("unknown agent: \(error)") }
    say("direct call: an unknown agent is ServiceError \(error.code)")
}

// 5. An HTTP call, as another process would make it.
guard let baseURL = await sidecar.baseURL else { fail("no address while running") }
let client = CagentClient(ClientConfiguration(baseURL: baseURL, token: configuration.token))
let overHTTP = try await client.execute(agentID: "echo", input: ["text": "over HTTP"])
guard overHTTP.result["text"] == "over HTTP" else { fail("HTTP echo answered \(overHTTP.result)") }
say("HTTP call: \(baseURL) echo answered \(overHTTP.result["text"]?.stringValue ?? "?")")

// 6. Restarts on request: warm (the service imported anew, same interpreter), then cold
//    (a new interpreter). Each is done when it returns: the new service answers.
for kind in [RestartKind.warm, .cold] {
    try await supervisor.restart(kind)
    let after = try await sidecar.execute(agentID: "echo", input: ["text": "after \(kind.rawValue)"])
    guard after.result["text"] == .string("after \(kind.rawValue)") else { fail("after \(kind.rawValue): \(after.result)") }
    say("\(kind.rawValue) restart: echo answered \(after.result["text"]?.stringValue ?? "?")")
}

// 7. Stop: gracefully, then run() returns.
try await supervisor.stop()
try await run.value
sidecar.closeEvents()
await listener.value
let seen = await log.types
say("stopped; events: \(seen.joined(separator: " "))")
for expected in ["starting", "healthy", "restarting", "stopping", "stopped"] where !seen.contains(expected) {
    fail("no \(expected) event")
}
guard seen.filter({ $0 == "restarting" }).count == 2 else { fail("expected two restarts, saw \(seen)") }
say("done")
