import Testing
@testable import Bridge
import CPython
import Foundation

/// Many Swift threads using Python at once, each taking the GIL for short scopes.
extension BridgeTests {
    @Suite struct Concurrency {
        static func makeSummarize() throws -> PythonObject {
            try withPython {
                let globals = PythonObject.dict()
                try globals.setItem("swift_double", PythonObject.functionJSON(name: "swift_double") { args in
                    .integer((args.first?.intValue ?? 0) * 2)
                })
                try PythonObject.run("""
                    def summarize(d):
                        return {'id': d['id'], 'total': sum(d['values']), 'doubled': swift_double(d['id'])}
                    """, globals: globals)
                return try globals.item("summarize")
            }
        }

        /// One unit of work: JSON → Python, a Python call that calls back into Swift,
        /// Python → JSON; plus an object created under the GIL and released outside it.
        static func work(_ summarize: PythonObject, worker: Int, iteration: Int) throws -> Bool {
            let id = worker * 100_000 + iteration
            let input: JSON = ["id": .integer(id), "values": [1, 2, 3, .integer(iteration)]]
            let output = try GIL.withLock {
                try JSON(python: summarize.call(PythonObject(json: input)))
            }
            let stray = try GIL.withLock { try PythonObject(json: input) }
            _ = stray  // released on this thread with no GIL held: deinit takes it
            return output == ["id": .integer(id), "total": .integer(6 + iteration), "doubled": .integer(2 * id)]
        }

        @Test func eightConcurrentTasks() async throws {
            let summarize = try Self.makeSummarize()
            let correct = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var ok = 0
                        for iteration in 0..<1_000 where try Self.work(summarize, worker: worker, iteration: iteration) {
                            ok += 1
                        }
                        return ok
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(correct == 8_000)
            #expect(!GIL.isHeldByCurrentThread)
        }

        @Test func eightOSThreads() throws {
            let summarize = try Self.makeSummarize()
            let results = ResultBox()
            var threads: [Thread] = []
            for worker in 0..<8 {
                let thread = Thread {
                    var ok = 0
                    for iteration in 0..<1_000 {
                        if (try? Self.work(summarize, worker: worker, iteration: iteration)) == true { ok += 1 }
                    }
                    results.add(ok)
                }
                threads.append(thread)
            }
            threads.forEach { $0.start() }
            #expect(results.wait(for: 8, timeout: 120))
            #expect(results.total == 8_000)
        }
    }
}

/// Collects per-thread counts.
final class ResultBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var counts: [Int] = []

    func add(_ count: Int) {
        condition.lock()
        counts.append(count)
        condition.broadcast()
        condition.unlock()
    }

    func wait(for n: Int, timeout: TimeInterval) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while counts.count < n {
            if !condition.wait(until: deadline) { return false }
        }
        return true
    }

    var total: Int {
        condition.lock()
        defer { condition.unlock() }
        return counts.reduce(0, +)
    }
}
