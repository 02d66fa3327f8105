#if canImport(Glibc)
import Glibc
#endif

/// File-path string operations, for what the host used `NSString`'s path methods for
/// (`appendingPathComponent` and friends), which are in Foundation and not in
/// FoundationEssentials. Plain POSIX paths: `/`-separated, no `~` expansion.
public enum PathString {
    /// `base/component`, with exactly one `/` between them (`NSString.appendingPathComponent`).
    public static func join(_ base: String, _ component: String) -> String {
        if base.isEmpty { return component }
        if component.isEmpty { return base }
        var left = Substring(base)
        while left.count > 1, left.hasSuffix("/") { left = left.dropLast() }
        var right = Substring(component)
        while right.hasPrefix("/") { right = right.dropFirst() }
        return left == "/" ? "/" + right : left + "/" + right
    }

    /// The last component, trailing slashes ignored: `/a/b/` → `b`, `/` → `/`.
    public static func lastComponent(_ path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        if trimmed == "/" { return "/" }
        return trimmed.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? ""
    }

    /// The path without its last component: `/a/b` → `/a`, `/a` → `/`, `a` → `` (like
    /// `NSString.deletingLastPathComponent`).
    public static func deletingLastComponent(_ path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        if trimmed == "/" { return "/" }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return trimmingTrailingSlashes(String(trimmed[..<slash]))
    }

    /// Symbolic links resolved when the path exists (`realpath`), else `.`, `..` and
    /// repeated slashes removed as text: what `NSString.standardizingPath` does on Linux
    /// for the paths the host passes it.
    public static func standardized(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." { parts.removeLast() } else if !absolute { parts.append(part) }
            default: parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? (path.isEmpty ? "" : ".") : joined)
    }

    private static func trimmingTrailingSlashes(_ path: String) -> String {
        var result = Substring(path)
        while result.count > 1, result.hasSuffix("/") { result = result.dropLast() }
        return String(result)
    }
}
