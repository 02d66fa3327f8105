/// The wire types carry `JSON` (from `CagentJSON`, shared with the host's Python bridge):
/// re-exported, so that `import CagentAPI` (or `CagentClient`) is enough to name it.
@_exported import CagentJSON

/// A JSON object: what agents take as input and return as results.
public typealias JSONObject = [String: JSON]
