/// Returns a Postgres connection string with its password replaced by `***`,
/// safe to log or show in an error message.
///
/// Handles URLs (`postgres://user:secret@host/db` → `postgres://user:***@host/db`,
/// also a `password=` query parameter) and keyword/value conninfo strings
/// (`host=h password=secret` → `host=h password=***`). When unsure where the
/// password ends, it hides more rather than less.
public func redactedURL(_ url: String) -> String {
    if let schemeEnd = url.firstRange(of: "://") {
        let scheme = url[..<schemeEnd.upperBound]
        var rest = String(url[schemeEnd.upperBound...])
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                rest = String(rest[..<colon]) + ":***" + String(rest[at...])
            }
        }
        if let query = rest.firstIndex(of: "?") {
            let parameters = rest[rest.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false)
            let redacted = parameters.map { parameter -> String in
                parameter.lowercased().hasPrefix("password=") ? "password=***" : String(parameter)
            }
            rest = String(rest[...query]) + redacted.joined(separator: "&")
        }
        return scheme + rest
    }
    return redactKeywordPassword(url)
}

/// `password=secret` / `password = 'se cret'` in a keyword/value conninfo → `password=***`.
private func redactKeywordPassword(_ conninfo: String) -> String {
    guard let range = conninfo.firstRange(of: "password") else { return conninfo }
    var index = range.upperBound
    while index < conninfo.endIndex, conninfo[index] == " " { index = conninfo.index(after: index) }
    guard index < conninfo.endIndex, conninfo[index] == "=" else { return conninfo }
    index = conninfo.index(after: index)
    while index < conninfo.endIndex, conninfo[index] == " " { index = conninfo.index(after: index) }
    var end = index
    if end < conninfo.endIndex, conninfo[end] == "'" {
        end = conninfo.index(after: end)
        while end < conninfo.endIndex, conninfo[end] != "'" {
            if conninfo[end] == "\\" { end = conninfo.index(after: end); if end == conninfo.endIndex { break } }
            end = conninfo.index(after: end)
        }
        if end < conninfo.endIndex { end = conninfo.index(after: end) }
    } else {
        while end < conninfo.endIndex, conninfo[end] != " " { end = conninfo.index(after: end) }
    }
    let tail = redactKeywordPassword(String(conninfo[end...]))
    return String(conninfo[..<range.lowerBound]) + "password=***" + tail
}
