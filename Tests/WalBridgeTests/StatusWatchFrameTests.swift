import Foundation
import PostgresReplication
import Testing
@testable import WalBridge

/// The frames of `walbridge status --watch`, rendered from fixed samples.
@Suite("status --watch frames")
struct StatusWatchFrameTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func slot(active: Bool = true) -> SlotStatus {
        var status = SlotStatus(
            slot: "walbridge", database: "auth", active: active, activePID: active ? 4242 : nil, confirmedFlushLSN: LSN(0x1A2B_3C40),
            checkpointLSN: LSN(0x1A2B_3C40), earliestReplayableLSN: LSN(0x1A2B_3C40), retainedWALBytes: 17_091_320, lagBytes: 1240,
            checkpointProblem: nil, checkpointPath: "c.json")
        status.serverWALLSN = LSN(0x1A2B_3D00)
        return status
    }

    /// A `/metrics` body as `walbridge run` writes it, with the given counter values.
    static func metrics(
        registered: Int, updated: Int = 10, transactions: Int, readBytes: Int, deadLettered: Int, reconnects: Int = 0,
        extra: String = ""
    ) -> String {
        """
        # TYPE walbridge_events_published_total counter
        walbridge_events_published_total{table="public.users",event="UserRegistered"} \(registered)
        walbridge_events_published_total{table="public.users",event="UserUpdated"} \(updated)
        # TYPE walbridge_transactions_total counter
        walbridge_transactions_total \(transactions)
        # TYPE walbridge_read_bytes_total counter
        walbridge_read_bytes_total \(readBytes)
        # TYPE walbridge_events_dead_lettered_total counter
        walbridge_events_dead_lettered_total \(deadLettered)
        # TYPE walbridge_reconnects_total counter
        walbridge_reconnects_total \(reconnects)
        # TYPE walbridge_inflight_events gauge
        walbridge_inflight_events 7
        # TYPE walbridge_inflight_bytes gauge
        walbridge_inflight_bytes 2048
        # TYPE walbridge_checkpoint_lsn gauge
        walbridge_checkpoint_lsn \(0x1A2B_3C40)
        # TYPE walbridge_lag_bytes gauge
        walbridge_lag_bytes 1240
        # TYPE walbridge_lag_seconds gauge
        walbridge_lag_seconds 3
        # TYPE walbridge_slot_retained_wal_bytes gauge
        walbridge_slot_retained_wal_bytes 17091320
        \(extra)
        """
    }

    static func sample(
        at seconds: Double, slot: Result<SlotStatus, BridgeError> = .success(StatusWatchFrameTests.slot()), metrics: String?,
        process: ProcessStatus? = ProcessStatus(ready: true, reasons: [], lastProblem: nil)
    ) throws -> StatusWatchSample {
        StatusWatchSample(
            takenAt: start.addingTimeInterval(seconds), slot: slot, listenAddress: "127.0.0.1:9187",
            metrics: try metrics.map { .success(try PrometheusExposition(parsing: $0)) },
            process: metrics == nil ? nil : process.map { .success($0) })
    }

    static func lines(_ frame: String) -> [String] { frame.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }

    @Test("rates per second from two samples: events by table and event, transactions, bytes read; new dead letters and reconnects")
    func rates() throws {
        let previous = try Self.sample(at: 0, metrics: Self.metrics(registered: 100, transactions: 50, readBytes: 10_240, deadLettered: 2, reconnects: 1))
        let current = try Self.sample(at: 2, metrics: Self.metrics(registered: 140, transactions: 70, readBytes: 14_336, deadLettered: 3, reconnects: 1))
        let frame = StatusWatchFrame.render(previous: previous, current: current)
        let lines = Self.lines(frame)
        #expect(lines[0] == "2027-01-15T08:00:02Z  slot walbridge (database auth), active (PID 4242)")
        #expect(lines.contains("position         checkpoint 0/1A2B3C40, confirmed flush 0/1A2B3C40, server WAL 0/1A2B3D00"), "\(frame)")
        #expect(lines.contains("lag              1.2 KiB (1240 bytes), 3 s"), "\(frame)")
        #expect(lines.contains("retained WAL     16.3 MiB (17091320 bytes)"), "\(frame)")
        #expect(lines.contains("events           20.0/s"), "\(frame)")
        #expect(lines.contains("                 public.users UserRegistered  20.0/s  (140 in all)"), "\(frame)")
        #expect(lines.contains("                 public.users UserUpdated     0.0/s  (10 in all)"), "\(frame)")
        #expect(lines.contains("transactions     10.0/s"), "\(frame)")
        #expect(lines.contains("read             2.0 KiB/s"), "\(frame)")
        #expect(lines.contains("in flight        7 events, 2.0 KiB"), "\(frame)")
        #expect(lines.contains("dead letters     3 (1 new)"), "\(frame)")
        #expect(lines.contains("reconnects       1 (0 new)"), "\(frame)")
        #expect(lines.contains("ready            yes"), "\(frame)")
        #expect(lines.contains("snapshot         none running"), "\(frame)")
        #expect(lines.contains("last problem     none since walbridge run started"), "\(frame)")
        #expect(!frame.contains("\u{1B}"), "no escape sequences in a frame")
        #expect(!frame.contains("restarted"))

        // The first frame has totals but no rates yet.
        let first = Self.lines(StatusWatchFrame.render(previous: nil, current: previous))
        #expect(first.contains("events           - (rates from the next frame on)"), "\(first)")
        #expect(first.contains("                 public.users UserRegistered  -  (100 in all)"), "\(first)")
        #expect(first.contains("dead letters     2"), "\(first)")
        #expect(first.contains("transactions     -"), "\(first)")
    }

    @Test("a counter below its last value was reset by a restart: it counts from 0, and the frame says so")
    func counterReset() throws {
        let previous = try Self.sample(at: 0, metrics: Self.metrics(registered: 500, transactions: 400, readBytes: 90_000, deadLettered: 4))
        let current = try Self.sample(at: 2, metrics: Self.metrics(registered: 30, transactions: 20, readBytes: 2048, deadLettered: 0))
        let lines = Self.lines(StatusWatchFrame.render(previous: previous, current: current))
        #expect(lines.contains("events           15.0/s  (counters restarted: walbridge run was restarted)"), "\(lines)")
        #expect(lines.contains("transactions     10.0/s"), "\(lines)")
        #expect(lines.contains("read             1.0 KiB/s"), "\(lines)")
        #expect(lines.contains("dead letters     0 (0 new)"), "\(lines)")
        // A series that appeared since the last frame counts whole.
        let appeared = try Self.sample(at: 3, metrics: Self.metrics(registered: 30, transactions: 20, readBytes: 2048, deadLettered: 0, extra: """
            walbridge_events_published_total{table="public.orders",event="OrderPlaced"} 4
            """))
        let next = Self.lines(StatusWatchFrame.render(previous: current, current: appeared))
        #expect(next.contains("                 public.orders OrderPlaced    4.0/s  (4 in all)"), "\(next)")
        #expect(next.contains("events           4.0/s"), "\(next)")
    }

    @Test("without metrics.listen the frame says which lines need it; an unreachable process or Postgres is said, with what is still known")
    func missingSources() throws {
        let plain = StatusWatchFrame.render(previous: nil, current: try Self.sample(at: 0, metrics: nil))
        #expect(plain.contains("metrics          " + StatusWatchFrame.needsListener), "\(plain)")
        #expect(StatusWatchFrame.needsListener.contains("set metrics.listen to see rates, in-flight events, dead letters and the last error"))
        #expect(plain.contains("position         checkpoint 0/1A2B3C40"), "the slot lines need no listener: \(plain)")
        #expect(plain.contains("lag              1.2 KiB (1240 bytes)\n"), "lag seconds come from the process: \(plain)")
        #expect(!plain.contains("\nevents ") && !plain.contains("\nready "), "\(plain)")

        // The process is gone: said, and the slot lines stay.
        let gone = StatusWatchSample(
            takenAt: Self.start, slot: .success(Self.slot(active: false)), listenAddress: "127.0.0.1:9187",
            metrics: .failure(StatusWatchProblem("cannot connect: Connection refused", unreachable: true)),
            process: .failure(StatusWatchProblem("cannot connect: Connection refused", unreachable: true)))
        let goneFrame = StatusWatchFrame.render(previous: nil, current: gone)
        #expect(goneFrame.contains("walbridge run    not reachable at 127.0.0.1:9187: cannot connect: Connection refused; is it running? (the watch goes on)"), "\(goneFrame)")
        #expect(goneFrame.contains("not streamed"), "\(goneFrame)")
        #expect(goneFrame.contains("position         checkpoint 0/1A2B3C40"), "\(goneFrame)")
        #expect(!goneFrame.contains("\nevents ") && !goneFrame.contains("\nready "), "\(goneFrame)")

        // Postgres is gone: said, and position, lag and retained WAL come from the process's gauges.
        let noPostgres = try Self.sample(
            at: 1, slot: .failure(BridgeError(.fatal, "cannot connect to Postgres (postgres://walbridge:***@db/auth): connection refused")),
            metrics: Self.metrics(registered: 1, transactions: 1, readBytes: 1, deadLettered: 0, extra: "walbridge_slot_safe_wal_bytes -1"))
        let noPostgresFrame = StatusWatchFrame.render(previous: nil, current: noPostgres)
        let lines = Self.lines(noPostgresFrame)
        #expect(lines[0] == "2027-01-15T08:00:01Z", "\(noPostgresFrame)")
        #expect(lines.contains("postgres         cannot read the slot: cannot connect to Postgres (postgres://walbridge:***@db/auth): connection refused (the lines below come from /metrics)"), "\(noPostgresFrame)")
        #expect(lines.contains("position         checkpoint 0/1A2B3C40"), "\(noPostgresFrame)")
        #expect(lines.contains("lag              1.2 KiB (1240 bytes), 3 s"), "\(noPostgresFrame)")
        #expect(lines.contains("retained WAL     16.3 MiB (17091320 bytes); safe WAL unlimited"), "\(noPostgresFrame)")

        // An answer that is not walbridge's /status is shown as such.
        let wrong = StatusWatchSample(
            takenAt: Self.start, slot: .success(Self.slot()), listenAddress: "127.0.0.1:9187",
            metrics: .success(try PrometheusExposition(parsing: Self.metrics(registered: 1, transactions: 1, readBytes: 1, deadLettered: 0))),
            process: .failure(StatusWatchProblem("/status answered 404: not found")))
        #expect(StatusWatchFrame.render(previous: nil, current: wrong).contains("ready            ? (/status answered 404: not found)"))
    }

    @Test("safe WAL: bytes when limited")
    func safeWAL() throws {
        let sample = try Self.sample(at: 0, metrics: Self.metrics(registered: 1, transactions: 1, readBytes: 1, deadLettered: 0, extra: "walbridge_slot_safe_wal_bytes 4294967296"))
        #expect(StatusWatchFrame.render(previous: nil, current: sample).contains("retained WAL     16.3 MiB (17091320 bytes); safe WAL 4.0 GiB (4294967296 bytes)"))
    }

    @Test("snapshot progress: live from the gauges while it runs, else the checkpoint's unfinished job")
    func snapshot() throws {
        let running = try Self.sample(at: 0, metrics: Self.metrics(registered: 1, transactions: 1, readBytes: 1, deadLettered: 0, extra: """
            walbridge_snapshot_rows{table="public.users"} 420
            walbridge_snapshot_rows{table="public.orders"} 0
            walbridge_snapshot_rows_estimated{table="public.users"} 1000
            walbridge_snapshot_rows_estimated{table="public.orders"} 50
            walbridge_snapshot_rows_per_second 61.4
            walbridge_snapshot_eta_seconds 8.2
            walbridge_snapshot_running 1
            """))
        let live = StatusWatchFrame.render(previous: nil, current: running)
        #expect(live.contains("snapshot         public.users 420 / ~1,000 rows (42%); public.orders 0 / ~50 rows (0%); 61 rows/s; ETA 9 s"), "\(live)")

        var withJob = Self.slot()
        withJob.snapshotJob = SnapshotState.Job(
            id: "job-7", origin: .command, filter: nil,
            tables: [
                .init(table: QualifiedName(schema: "public", table: "users"), rowsDone: 1000, estimatedRows: 900, done: true),
                .init(table: QualifiedName(schema: "public", table: "orders"), rowsDone: 1000, estimatedRows: 3000),
            ],
            startedAt: Self.start)
        withJob.checkpointUpdatedAt = Self.start.addingTimeInterval(100)
        let finishedHere = try Self.sample(at: 0, slot: .success(withJob), metrics: Self.metrics(registered: 1, transactions: 1, readBytes: 1, deadLettered: 0, extra: "walbridge_snapshot_running 0"))
        let fromCheckpoint = StatusWatchFrame.render(previous: nil, current: finishedHere)
        #expect(fromCheckpoint.contains(
            "snapshot         job job-7 (unfinished, from the checkpoint): public.users 1,000 / ~1,000 rows (100%); public.orders 1,000 / ~3,000 rows (33%); 20 rows/s on average; ETA 100 s"),
            "\(fromCheckpoint)")
        // Without the listener, the checkpoint still tells.
        let plain = StatusWatchFrame.render(previous: nil, current: try Self.sample(at: 0, slot: .success(withJob), metrics: nil))
        #expect(plain.contains("snapshot         job job-7 (unfinished, from the checkpoint)"), "\(plain)")
    }

    @Test("not ready with its reasons, and the last problem with its age and error")
    func lastProblem() throws {
        let problem = LoggedProblem(at: Self.start.addingTimeInterval(-5.5), level: .warning, message: "all brokers are down", error: "Local: All broker connections are down")
        let sample = try Self.sample(
            at: 0, metrics: Self.metrics(registered: 1, transactions: 1, readBytes: 1, deadLettered: 0),
            process: ProcessStatus(ready: false, reasons: ["the Kafka producer has failed", "lag 400s is above the bound of 300 secs"], lastProblem: problem))
        let lines = Self.lines(StatusWatchFrame.render(previous: nil, current: sample))
        #expect(lines.contains("ready            no: the Kafka producer has failed; lag 400s is above the bound of 300 secs"), "\(lines)")
        #expect(lines.contains("last problem     2027-01-15T07:59:54.500Z (5 s ago) warning: all brokers are down (error: Local: All broker connections are down)"), "\(lines)")
    }

    @Test("the metrics listener's address: a wildcard is reached on loopback")
    func listenAddress() throws {
        #expect(MetricsListenerClient(listen: "0.0.0.0:9187")?.address == "127.0.0.1:9187")
        #expect(MetricsListenerClient(listen: "[::]:9187")?.address == "[::1]:9187")
        #expect(MetricsListenerClient(listen: "127.0.0.2:80")?.address == "127.0.0.2:80")
        #expect(MetricsListenerClient(listen: "[::1]:9187")?.host == "::1")
        #expect(MetricsListenerClient(listen: "nonsense") == nil)
        // Nothing listens on a port just closed: a clear error, quickly.
        var closed: MetricsHTTPServer? = try MetricsHTTPServer(host: "127.0.0.1", port: 0) { _ in HTTPResponse(status: 200, text: "") }
        let port = try #require(closed?.port)
        closed = nil
        #expect {
            _ = try MetricsListenerClient(host: "127.0.0.1", port: port, timeout: .seconds(1)).get("/metrics")
        } throws: { error in
            "\(error)".hasPrefix("127.0.0.1:\(port): cannot connect: ")
        }
    }
}
