@testable import WalBridge

/// Fuzz entry point: the metrics endpoint's request handling — the bytes a
/// client sends, read the way the listener reads them (until the blank line
/// ending the head or the size limit), parsed by `HTTPRequest(head:)`, answered.
///
/// Input: the bytes as they arrive; each zero byte also ends one `recv`
/// (splitting the stream where a slow client would). Every request gets an
/// answer that starts with an HTTP status line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeBufferPointer(start: data, count: size)
    var head: [UInt8] = []
    var chunks = input.split(separator: 0, omittingEmptySubsequences: false).makeIterator()
    while !MetricsHTTPServer.headIsComplete(head), let chunk = chunks.next() {
        head.append(contentsOf: chunk)
        head.append(0)
    }
    let response = MetricsHTTPServer.respond(toHead: head) { request in
        HTTPResponse(status: request.path == "/metrics" ? 200 : 404, text: request.path)
    }
    precondition(response.starts(with: Array("HTTP/1.1 ".utf8)), "a response without a status line")
    return 0
}
