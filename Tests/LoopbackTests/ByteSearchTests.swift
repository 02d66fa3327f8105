@testable import Loopback
import Testing

/// The byte search the reader finds header ends and chunk lines with.
struct ByteSearchTests {
    private func search(_ text: String, _ pattern: String) -> Range<Int>? {
        Array(text.utf8).firstRange(ofBytes: Array(pattern.utf8))
    }

    @Test func findsTheFirstOccurrenceAnywhere() {
        #expect(search("\r\n\r\nbody", "\r\n\r\n") == 0..<4)
        #expect(search("HTTP/1.1 200\r\nA: b\r\n\r\n{}", "\r\n\r\n") == 18..<22)
        #expect(search("a\r\nb\r\n", "\r\n") == 1..<3)
        #expect(search("xx\r\n", "\r\n") == 2..<4)
    }

    @Test func restartsAfterAPartialMatch() {
        #expect(search("\r\n\r\r\n\r\n", "\r\n\r\n") == 3..<7)
        #expect(search("aab", "ab") == 1..<3)
    }

    @Test func missesWhatIsAbsentOrCutShort() {
        #expect(search("HTTP/1.1 200\r\n\r", "\r\n\r\n") == nil)
        #expect(search("", "\r\n") == nil)
        #expect(search("abc", "abcd") == nil)
    }

    @Test func searchesASliceByItsOwnIndices() {
        let bytes = Array("0123\r\n6789\r\n".utf8)
        #expect(bytes[6...].firstRange(ofBytes: Array("\r\n".utf8)) == 10..<12)
    }
}
