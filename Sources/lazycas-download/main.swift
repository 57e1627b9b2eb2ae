import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// `lazycas-download URL TARGET`: fetches one `http://` or `https://` URL into the file TARGET
// with Foundation's `URLSession` (proxies from `http_proxy`/`https_proxy`, as libcurl reads them).
//
// A process of its own, started by the build driver for `remote` and `tar` sources: so libcurl
// and its TLS, Kerberos and LDAP libraries (about 30 shared libraries, 5 MB of resident
// mappings) are loaded only while a source downloads, never into a mount daemon, a worker or a
// server. Exit status: 0 when TARGET holds the body of a 2xx answer; 1 with the reason on
// stderr (nothing is left at TARGET); 2 for wrong arguments.

/// Says `message` on stderr and exits with `status`.
func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(status)
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let url = URL(string: arguments[1]),
      ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
    fail("usage: lazycas-download http(s)://URL TARGET", status: 2)
}
let target = URL(fileURLWithPath: arguments[2])
try? FileManager.default.removeItem(at: target)
do {
    let (file, response) = try await URLSession.shared.download(from: url)
    if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
        try? FileManager.default.removeItem(at: file)
        fail("HTTP \(http.statusCode)")
    }
    try FileManager.default.moveItem(at: file, to: target)
} catch {
    fail(error.localizedDescription)
}
