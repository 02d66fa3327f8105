/// Where `pattern` first occurs in a run of bytes.
///
/// The standard library's `firstRange(of:)` for collections lives in `_StringProcessing`,
/// whose code the toolchain ships as one unsplittable 0.4 MB section (with
/// `_RegexParser`'s 0.5 MB beside it): the health probe calling it every few seconds kept
/// both resident in the bundled host (docs/shipping.md, "Where the memory goes").
extension Collection where Element == UInt8 {
    func firstRange(ofBytes pattern: [UInt8]) -> Range<Index>? {
        guard let first = pattern.first else { return startIndex..<startIndex }
        var start = startIndex
        while let candidate = self[start...].firstIndex(of: first) {
            var index = candidate
            var matched = 0
            while matched < pattern.count, index != endIndex, self[index] == pattern[matched] {
                formIndex(after: &index)
                matched += 1
            }
            if matched == pattern.count { return candidate..<index }
            if index == endIndex, matched > 0 { return nil }
            start = self.index(after: candidate)
        }
        return nil
    }
}
