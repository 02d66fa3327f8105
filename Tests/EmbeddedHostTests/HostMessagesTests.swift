import Foundation
import Testing
@testable import EmbeddedHost

/// The host and its Python half name the same messages (HostMessages.swift and
/// cagent_host/messages.py): a name on one side only would be a message the other
/// drops.
struct HostMessagesTests {
    @Test func bothSidesNameTheSameMessages() throws {
        let python = Process()
        python.executableURL = URL(fileURLWithPath: (Fixtures.venv as NSString).appendingPathComponent("bin/python"))
        python.arguments = ["-c", "import json; from cagent_host.messages import names; print(json.dumps(names()))"]
        python.environment = ["PYTHONPATH": (Fixtures.projectRoot as NSString).appendingPathComponent("Sources/EmbeddedHost/Python")]
        let output = Pipe()
        python.standardOutput = output
        try python.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        python.waitUntilExit()
        #expect(python.terminationStatus == 0)
        let names = try JSONDecoder().decode([String: [String]].self, from: data)
        #expect(Set(names["Notice"] ?? []) == Set(HostNotice.allCases.map(\.rawValue)))
        #expect(Set(names["Command"] ?? []) == Set(HostCommand.allCases.map(\.rawValue)))
        #expect(Set(names["Ask"] ?? []) == Set(HostAsk.allCases.map(\.rawValue)))
    }
}
