// A host for the subprocess backend's "no orphan after SIGKILL" test: starts a
// SubprocessSidecar, prints `child <pid> port <port>`, and waits to be killed.
//
// Usage: cagent-subprocess-harness <python-home> <service-dir>
import EmbeddedHost
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: cagent-subprocess-harness <python-home> <service-dir>\n".utf8))
    exit(2)
}
var configuration = SidecarConfiguration()
configuration.port = 0
configuration.pythonHome = arguments[1]
configuration.serviceDirectory = arguments[2]
configuration.logLevel = "warning"
let sidecar = SubprocessSidecar(configuration: configuration)
do {
    try await sidecar.start()
} catch {
    FileHandle.standardError.write(Data("harness: \(error)\n".utf8))
    exit(1)
}
let pid = await sidecar.pid ?? -1
let port = await sidecar.port ?? -1
print("child \(pid) port \(port)")
fflush(nil)
// Runs until the test SIGKILLs it: being a live host is what the test needs, not a wait.
while true { try? await Task.sleep(for: .seconds(3600)) }
