import KafkaPublisher
import PostgresReplication

/// Where a session's pgoutput messages come from and where its positions go:
/// `ReplicationStream` in production, an in-memory fake in the tests.
/// Used from the pipeline thread only.
protocol ReplicationSource: AnyObject {
    /// Reads what has arrived, at most `limit` messages, waiting up to
    /// `waitMilliseconds` for the first; each is handed to `handler`.
    /// The handler must not call back into the source.
    @discardableResult
    func read<E: Error>(limit: Int, waitMilliseconds: Int32, _ handler: (ReplicationEvent) throws(E) -> Void) throws(ReplicationStreamError<E>) -> Int
    /// Records that everything up to `lsn` is durably handled (the flush position to report).
    func confirm(_ lsn: LSN)
    /// Sends a status update if one is due (between reads only).
    func sendStatusIfDue() throws(PostgresError)
    /// Sends a status update now (the end of a session).
    func sendStatus(replyRequested: Bool) throws(PostgresError)
    /// Bytes received so far (for the metrics).
    var bytesReceived: UInt64 { get }
}

extension ReplicationStream: ReplicationSource {}

/// Where records go: `KafkaProducer` in production, an in-memory fake in the tests.
protocol RecordSink: AnyObject {
    /// Queues one record; its delivery report comes back from `poll` with `token`.
    /// Throws `KafkaError` with `isQueueFull` when the queue is full.
    func produce(topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], token: UInt64) throws(KafkaError)
    /// Serves delivery reports, waiting up to `timeoutMilliseconds` for the first.
    @discardableResult
    func poll(timeoutMilliseconds: Int32, into reports: inout [DeliveryReport]) -> Int
    /// The producer's fatal error, once it has one (then it must be rebuilt).
    func fatalError() -> KafkaError?
}

extension KafkaProducer: RecordSink {}
