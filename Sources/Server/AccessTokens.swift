import Foundation
import LocalCAS

/// The bearer tokens `lazycas serve --auth-tokens FILE` accepts, each with its scopes. The file
/// holds one `TOKEN SCOPE[,SCOPE…]` per line (scopes: read, write, execute); blank lines and
/// lines starting with `#` are ignored. Only the tokens' SHA-256 digests are kept, so a token
/// is never in memory longer than parsing takes, and never in a log or an error.
public struct AccessTokens: Sendable {
    private let scopes: [String: Set<AccessScope>]

    /// Parses the file at `path`.
    /// - Throws: ``CASError`` (invalid argument) naming the file and line of the first bad
    ///   entry (never quoting the token), or if the file cannot be read or names no token.
    public init(contentsOf path: String) throws(CASError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CASError(.invalidArgument, "cannot read the token file \(path)", cause: error)
        }
        try self.init(parsing: text, source: path)
    }

    /// Parses `text` (``init(contentsOf:)``'s format); `source` names it in errors.
    public init(parsing text: String, source: String) throws(CASError) {
        var scopes: [String: Set<AccessScope>] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let token = fields.first, !token.hasPrefix("#") else { continue }
            let place = "\(source):\(index + 1)"
            guard fields.count == 2 else {
                throw CASError(.invalidArgument, "\(place): expected 'TOKEN SCOPE[,SCOPE…]' (scopes: read, write, execute)")
            }
            var granted = Set<AccessScope>()
            for name in fields[1].split(separator: ",") {
                guard let scope = AccessScope(rawValue: String(name)) else {
                    throw CASError(.invalidArgument, "\(place): unknown scope '\(name)' (scopes: read, write, execute)")
                }
                granted.insert(scope)
            }
            let key = Self.key(Substring(token))
            guard scopes[key] == nil else { throw CASError(.invalidArgument, "\(place): this token is already listed") }
            scopes[key] = granted
        }
        guard !scopes.isEmpty else { throw CASError(.invalidArgument, "\(source) lists no token") }
        self.scopes = scopes
    }

    /// The scopes of `token`; nil for a token not in the file.
    public func scopes(of token: Substring) -> Set<AccessScope>? {
        scopes[Self.key(token)]
    }

    private static func key(_ token: Substring) -> String {
        Digest(data: Data(token.utf8)).hash
    }
}
