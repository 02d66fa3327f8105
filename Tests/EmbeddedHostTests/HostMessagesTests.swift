import Foundation
import Testing
@testable import EmbeddedHost

/// The host and its Python half name the same messages (HostMessages.swift and
/// cagent_host/messages.py): a name on one side only would be a message the other
/// drops (the direct-call inbox's fields too: a key on one side only is one the other
/// never reads).
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
        #expect(Set(names["DirectRequestKind"] ?? []) == Set(DirectRequest.Kind.allCases.map(\.rawValue)))
        #expect(Set(names["DirectRequest"] ?? []) == Set(DirectRequest.Field.allCases.map(\.rawValue)))
        #expect(Set(names["DirectDelivery"] ?? []) == Set(DirectDelivery.allCases.map(\.rawValue)))
    }

    /// A start carries every field, a cancel only its kind and call id.
    @Test func directRequestsCarryTheNamedFields() {
        let start = DirectRequest.start(callID: 7, .init(kind: .stream, agentID: "echo", input: ["a": .integer(1)], context: nil, timeout: .seconds(2)))
        guard case .object(let object) = start.json else { Issue.record("not an object"); return }
        #expect(Set(object.keys) == Set(DirectRequest.Field.allCases.map(\.rawValue)))
        #expect(object["kind"] == .string("stream"))
        #expect(object["call_id"] == .integer(7))
        #expect(object["timeout_s"] == .double(2))
        #expect(object["context"] == .null)
        #expect(DirectRequest.cancel(callID: 7).json == .object(["kind": .string("cancel"), "call_id": .integer(7)]))
    }
}
