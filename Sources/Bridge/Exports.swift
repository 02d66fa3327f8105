/// Values cross into and out of Python as `JSON` (`JSON+Python.swift`), which lives in
/// `CagentJSON` so the HTTP client shares it without linking Python: re-exported, so that
/// `import Bridge` is enough to name it.
@_exported import CagentJSON
