import EmbeddedHost
import FoundationEssentials

/// What `cagent-sidecar run` prints once, under `listening on http://HOST:PORT` (which stays
/// the first line, alone: scripts and tests parse it): where the token is, a request to
/// paste, and the API docs. A newcomer otherwise has to find all three in the README.
struct StartBanner: Sendable {
    /// The token file, made absolute so that the lines work from any directory; nil
    /// when none was asked for (--token-file).
    var tokenFile: String?
    var token: String

    init(tokenFile: String?, token: String) {
        self.tokenFile = tokenFile.map { path in
            path.hasPrefix("/") ? path : PathString.join(FileManager.default.currentDirectoryPath, path)
        }
        self.token = token
    }

    /// The whole block, `listening on` first, ending with a newline.
    func text(for address: String) -> String {
        let base = address.hasSuffix("/") ? String(address.dropLast()) : address
        let bearer = tokenFile.map { "$(cat \(Self.shellQuoted($0)))" } ?? token
        let tokenLine = tokenFile.map { "token: \($0) (send it as Authorization: Bearer <token>)" }
            ?? "token: \(token) (pass --token-file F to have it written to a file)"
        let body = #"{"agent_id": "echo", "input": {"hello": "world"}}"#
        let query = Self.percentEncoded(token)
        return """
            listening on \(base)
              \(tokenLine)
              try:  curl -s -H "Authorization: Bearer \(bearer)" -H 'Content-Type: application/json' -d '\(body)' \(base)/agent/execute
              docs: \(base)/docs?token=\(query)

            """
    }

    /// A single-quoted shell word: the path as is, whatever it contains.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: #"'\''"#) + "'"
    }

    /// A query value: unreserved characters (RFC 3986) as they are, every other byte
    /// percent-encoded.
    static func percentEncoded(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.append(Character(Unicode.Scalar(byte)))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return encoded
    }
}
