import Testing
@testable import Bridge
import CPython

/// No reference growth over 100 000 conversions and calls. Counts are read while this thread
/// holds the GIL for the whole measurement, and every measured object is private to the
/// test, so the expected change is exactly zero.
extension BridgeTests {
    @Suite struct ReferenceCounts {
        static let iterations = 100_000

        @Test func pythonToJSONLeavesNoReferences() throws {
            try withPython {
                let globals = try PythonObject.run("""
                    marker = 'private marker ' + str(id(object()))
                    big = 2**100 + 7
                    f = 1.25 + len(marker)
                    data = {'k': [marker, big, f, None, True, (1, 2)], marker: {'x': marker}}
                    """)
                let marker = try globals.item("marker")
                let big = try globals.item("big")
                let float = try globals.item("f")
                let data = try globals.item("data")
                let before = (marker.referenceCount, big.referenceCount, float.referenceCount, data.referenceCount)
                var last: JSON = nil
                for _ in 0..<Self.iterations {
                    last = try JSON(python: data)
                }
                let after = (marker.referenceCount, big.referenceCount, float.referenceCount, data.referenceCount)
                #expect(before == after)
                #expect(last["k"]?[1] == .bigInteger("1267650600228229401496703205383"))
            }
        }

        @Test func jsonToPythonFreesEverything() throws {
            try withPython {
                let gc = try PythonObject.importModule("gc")
                let getObjects = try gc.attribute("get_objects")
                // Counts every live pymalloc block, so it also sees leaked str/int/float.
                let allocatedBlocks = try PythonObject.importModule("sys").attribute("getallocatedblocks")
                let len = try PythonObject.evaluate("len")
                func trackedObjects() throws -> Int { try JSON(python: len.call(getObjects.call())).intValue ?? 0 }
                let none = PythonObject.none
                let trueObject = PythonObject.bool(true)
                let value: JSON = [
                    "a": [nil, true, 1, 2.5, "text", .bigInteger("123456789012345678901234567890")],
                    "b": ["nested": [nil, nil, ["deep": true]]],
                ]
                // Warm up caches (interned strings, freelists).
                for _ in 0..<1_000 { _ = try PythonObject(json: value) }
                let trackedBefore = try trackedObjects()
                let blocksBefore = try JSON(python: allocatedBlocks.call()).intValue ?? 0
                let noneBefore = none.referenceCount, trueBefore = trueObject.referenceCount
                for _ in 0..<Self.iterations {
                    let object = try PythonObject(json: value)
                    _ = object
                }
                let trackedAfter = try trackedObjects()
                let blocksAfter = try JSON(python: allocatedBlocks.call()).intValue ?? 0
                // A leak would show as 100 000s; allow for unrelated garbage collection.
                #expect(abs(none.referenceCount - noneBefore) < 1_000)
                #expect(abs(trueObject.referenceCount - trueBefore) < 1_000)
                #expect(abs(trackedAfter - trackedBefore) < 1_000)
                #expect(abs(blocksAfter - blocksBefore) < 10_000, "allocated blocks: \(blocksBefore) -> \(blocksAfter)")
            }
        }

        @Test func swiftFunctionCallsLeaveNoReferences() throws {
            try withPython {
                let globals = try PythonObject.run("""
                    result_marker = 'result ' + str(id(object()))
                    arg_marker = 'arg ' + str(id(object()))
                    """)
                let resultMarker = try globals.item("result_marker")
                let argMarker = try globals.item("arg_marker")
                let f = PythonObject.function(name: "f") { args in
                    precondition(args.count == 2)
                    return resultMarker
                }
                let g = PythonObject.functionJSON(name: "g") { args in args[0] }
                try globals.setItem("f", f)
                try globals.setItem("g", g)
                let before = (resultMarker.referenceCount, argMarker.referenceCount)
                try PythonObject.run("""
                    for _ in range(\(Self.iterations)):
                        r = f(arg_marker, None)
                        g(arg_marker)
                    del r
                    """, globals: globals)
                let after = (resultMarker.referenceCount, argMarker.referenceCount)
                #expect(before == after)
            }
        }

        @Test func residentMemoryStaysBounded() throws {
            let value: JSON = [
                "id": 1, "name": "agent-\u{1F600}", "tags": ["a", "b", "c"],
                "scores": [1.5, 2.5, .double(.nan)], "big": .bigInteger("-99999999999999999999999"),
                "nested": ["x": [nil, true, false, ["y": "z"]]],
            ]
            // Warm-up, then measure.
            try withPython { for _ in 0..<2_000 { _ = try JSON(python: PythonObject(json: value)) } }
            let before = residentBytes()
            for _ in 0..<10 {
                try withPython {
                    for _ in 0..<(Self.iterations / 10) {
                        let back = try JSON(python: PythonObject(json: value))
                        precondition(back == value)
                    }
                }
            }
            let growth = residentBytes() - before
            // Measured ~0 here; leaking even the 6 key strings per round trip shows as ~38 MB.
            #expect(growth < 16 << 20, "RSS grew by \(growth) bytes")
            print("Bridge: RSS growth over \(Self.iterations) round trips: \(growth / 1024) KiB")
        }
    }
}
