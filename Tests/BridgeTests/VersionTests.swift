import Testing
@testable import Bridge
@Test func version() { #expect(linkedPythonVersion().hasPrefix("3.11")) }
