// Only EmbeddedHost: what an app that embeds the service imports. This file does not
// compile unless EmbeddedHost re-exports CagentAPI's wire types.
import EmbeddedHost
import Testing

/// The names an app needs for direct calls, reachable through `import EmbeddedHost`.
struct PublicNamesTests {
    @Test func theWireTypesOfDirectCallsAreNamedThroughEmbeddedHost() {
        let result: ExecuteResult = ExecuteResult(result: ["text": "hi"], executionTime: 0.1, agentID: "echo")
        let error: ServiceError = ServiceError(status: 404, code: "unknown_agent", message: "no such agent")
        let value: JSON = .object(result.result)
        let object: JSONObject = ["ok": true]
        #expect(value["text"]?.stringValue == "hi")
        #expect(error.code == "unknown_agent")
        #expect(object["ok"]?.boolValue == true)
    }

    @Test func jsonLiteralsTakeStringInterpolation() {
        let kind = "warm"
        let count = 3
        let value: JSON = ["text": "after \(kind) restart \(count)", "plain": "no interpolation"]
        #expect(value["text"] == .string("after warm restart 3"))
        #expect(value["plain"] == .string("no interpolation"))
        let input: JSONObject = ["items": ["\(count)", "\(kind)"]]
        #expect(input["items"] == .array([.string("3"), .string("warm")]))
    }
}
