import Configuration
import Foundation
import HTTPTestClient
import Logging
import Testing
@testable import WalBridge

/// The parser of the Prometheus text format that `status --watch` reads `/metrics` with.
@Suite("Prometheus text format parser")
struct PrometheusTextTests {
    @Test("parses a real /metrics body: counters by label, gauges, the histogram's buckets, sum and count")
    func realMetrics() throws {
        let handle = try Observability.start(
            configuration: ObservabilityUnitTests.configuration(), logger: Logger(label: "test"),
            options: ObservabilityOptions(pollInterval: .milliseconds(100), listen: "127.0.0.1:0"))
        defer { handle.stop() }
        let port = try #require(handle.listenPort)
        let table = "public.parser_\(UUID().uuidString.prefix(8).lowercased())"
        for _ in 0..<3 { handle.metrics.eventPublished(table: table, eventType: "Quote\"d\\Event") }
        handle.metrics.eventPublished(table: table, eventType: "Other", count: 5)
        handle.metrics.delivery(seconds: 0.003)
        handle.metrics.delivery(seconds: 0.2)
        handle.metrics.inflight(events: 7, bytes: 700)
        let body = try httpGet(port: port, path: "/metrics").body

        let parsed = try PrometheusExposition(parsing: body)
        #expect(parsed.value("walbridge_events_published_total", ["table": table, "event": "Quote\"d\\Event"]) == 3,
                "an escaped label value reads back: \(body.split(separator: "\n").filter { $0.contains(table) })")
        #expect(parsed.value("walbridge_events_published_total", ["table": table, "event": "Other"]) == 5)
        #expect(parsed.types["walbridge_events_published_total"] == "counter")
        #expect(parsed.value("walbridge_inflight_events") == 7)
        #expect(parsed.value("walbridge_inflight_bytes") == 700)
        #expect(parsed.types["walbridge_inflight_events"] == "gauge")
        #expect(parsed.types["walbridge_delivery_seconds"] == "histogram")
        let buckets = parsed.samples(named: "walbridge_delivery_seconds_bucket")
        #expect(buckets.count > 2)
        #expect(buckets.allSatisfy { $0.labels["le"] != nil })
        let infinite = try #require(buckets.first { $0.labels["le"] == "+Inf" })
        let count = try #require(parsed.value("walbridge_delivery_seconds_count"))
        #expect(infinite.value == count && count >= 2)
        #expect((parsed.value("walbridge_delivery_seconds_sum") ?? 0) >= 0.203)
        // Every line that is not a comment or blank became one sample.
        let sampleLines = body.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(parsed.samples.count == sampleLines.count)
    }

    @Test("label escapes, NaN and infinities, timestamps, blanks, comments, HELP escapes, trailing commas")
    func edgeCases() throws {
        let text = """
            # A free comment, ignored
            #no blank after the hash, also a comment
            # HELP m_total A help text with a backslash \\\\ and a\\nnewline
            # TYPE m_total counter
            m_total{path="C:\\\\dir",quote="say \\"hi\\"",multi="one\\ntwo"} 12 1700000000000
            m_total{ path = "spaced" , } 1.5e3
            m_total{} -0.25
            \tgauge_nan NaN
            gauge_inf +Inf
            gauge_neginf -Inf
            gauge_plain_inf Inf
            metric:with:colons 1

            # TYPE h histogram
            h_bucket{le="0.1"} 1
            h_bucket{le="+Inf"} 2
            h_sum 0.35
            h_count 2
            trailing_blanks 4\t  \r
            """
        let parsed = try PrometheusExposition(parsing: text)
        #expect(parsed.value("m_total", ["path": "C:\\dir", "quote": "say \"hi\"", "multi": "one\ntwo"]) == 12)
        #expect(parsed.samples.first?.timestampMilliseconds == 1_700_000_000_000)
        #expect(parsed.value("m_total", ["path": "spaced"]) == 1500)
        #expect(parsed.value("m_total") == -0.25)
        #expect(parsed.total("m_total") == 12 + 1500 - 0.25)
        #expect(parsed.value("gauge_nan")?.isNaN == true)
        #expect(parsed.value("gauge_inf") == .infinity)
        #expect(parsed.value("gauge_neginf") == -.infinity)
        #expect(parsed.value("gauge_plain_inf") == .infinity)
        #expect(parsed.value("metric:with:colons") == 1)
        #expect(parsed.help["m_total"] == "A help text with a backslash \\ and a\nnewline")
        #expect(parsed.types == ["m_total": "counter", "h": "histogram"])
        #expect(parsed.value("h_bucket", ["le": "+Inf"]) == 2)
        #expect(parsed.value("h_count") == 2)
        #expect(parsed.value("trailing_blanks") == 4)
        #expect(parsed.samples.count == 13)
        #expect(parsed.value("absent") == nil && parsed.total("absent") == nil)
        #expect(try PrometheusExposition(parsing: "").samples.isEmpty)
    }

    @Test("what is not the format is an error naming the line", arguments: [
        ("ok 1\nno_value", 2, "missing"),
        ("m{a=\"open} 1", 1, "not closed"),
        ("m{a=\"x\\ty\"} 1", 1, "not an escape"),
        ("m{a=\"1\",a=\"2\"} 1", 1, "twice"),
        ("m{a=1} 1", 1, "quoted"),
        ("m{a\"1\"} 1", 1, "'='"),
        ("m{a=\"1\" b=\"2\"} 1", 1, "',' or '}'"),
        ("m 0x10", 1, "not a number"),
        ("m infinity", 1, "not a number"),
        ("m 1 12.5", 1, "timestamp"),
        ("m 1 12 extra", 1, "after the timestamp"),
        ("# TYPE m countr", 1, "not counter"),
        ("# TYPE m counter\n# TYPE m gauge", 2, "second # TYPE"),
        ("# HELP", 1, "metric name"),
        ("1m 1", 1, "metric name"),
        ("m{1a=\"x\"} 1", 1, "label name"),
        ("m{a=\"x\\", 1, "backslash"),
    ])
    func errors(text: String, line: Int, reason: String) {
        #expect {
            _ = try PrometheusExposition(parsing: text)
        } throws: { error in
            guard let error = error as? PrometheusParseError else { return false }
            return error.line == line && error.reason.contains(reason) && error.description.hasPrefix("metrics line \(line): ")
        }
    }
}
