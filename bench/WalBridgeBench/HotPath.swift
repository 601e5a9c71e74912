import EventMapping
import HotPathFixture
import PostgresReplication

/// The pure part of the hot path on fixed input, without I/O: pgoutput bytes →
/// `PgOutputDecoder` → `TransactionAssembler` → `EventMapper` → Kafka record
/// bytes. Used to profile (`valgrind --tool=callgrind walbridge-bench hotpath`)
/// and to count allocations per event.
struct HotPath {
    let messages: [[UInt8]]
    let mapper: EventMapper

    /// One transaction of `rows` inserts (`HotPathFixture`).
    init(rows: Int) throws {
        let fixture = try HotPathFixture(rows: rows)
        messages = fixture.messages
        mapper = fixture.mapper
    }

    /// Runs the messages through the pipeline once. Returns (events, value bytes).
    func run() throws -> (events: Int, bytes: Int) {
        let decoder = PgOutputDecoder()
        var assembler = TransactionAssembler()
        var transaction: TransactionInfo?
        var events = 0
        var bytes = 0
        for message in messages {
            let decoded = try message.withUnsafeBytes { buffer in try decoder.decode(buffer) }
            switch try assembler.process(decoded) {
            case .begin(let info)?:
                transaction = info
            case .change(let change)?:
                for record in try mapper.map(change, transaction: transaction!) {
                    events += 1
                    bytes += (record.value?.count ?? 0) + (record.key?.count ?? 0)
                }
            default:
                break
            }
        }
        return (events, bytes)
    }
}
