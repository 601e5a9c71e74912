import PostgresReplication

/// A row change that its mapping cannot turn into an event. The pipeline
/// dead-letters the change and goes on.
///
/// The message names the table, the operation and the column; it never
/// contains a row value (at most the event's Kafka key, which is published anyway).
public struct MappingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What exactly could not be mapped.
    public enum Reason: Sendable, Hashable {
        /// A column listed in `fields` (or the outbox columns) is not in the
        /// table as the stream now describes it: renamed or dropped.
        case missingColumn(String)
        /// A row has a different number of values than the relation has columns.
        case rowShape(expected: Int, actual: Int)
        /// The change lacks the new row (insert/update) or the old row (delete).
        case missingRow(String)
        /// A key column is SQL NULL.
        case nullKey(column: String)
        /// A key column's value is not in the change (an unchanged TOAST value,
        /// or a column outside the replica identity on a delete).
        case unavailableKey(column: String)
        /// An outbox column holds something unusable (null type, invalid JSON payload…).
        case invalidOutboxValue(column: String, problem: String)
        /// An outbox topic built from the aggregate type is not a valid topic name.
        case invalidTopic(problem: String)
        /// A logical message's content is not JSON.
        case invalidMessageContent(prefix: String)
        /// The mapping's update rules or `skip_unchanged` need the old row,
        /// which the table's replica identity did not send.
        case oldRowNotSent
    }

    /// The table (nil for a logical message).
    public var table: QualifiedName?
    /// `insert`, `update`, `delete`, or `message`.
    public var operation: String
    public var reason: Reason

    public init(table: QualifiedName?, operation: String, reason: Reason) {
        self.table = table
        self.operation = operation
        self.reason = reason
    }

    public var description: String {
        let subject = table.map { "\(operation) on \($0)" } ?? operation
        let detail: String
        switch reason {
        case .missingColumn(let column):
            detail = "column '\(column)' is mapped but the table no longer has it (renamed or dropped?); update the mapping"
        case .rowShape(let expected, let actual):
            detail = "the row has \(actual) values but the table has \(expected) columns; the relation cache is out of date"
        case .missingRow(let which):
            detail = "the change carries no \(which)"
        case .nullKey(let column):
            detail = "key column '\(column)' is NULL; a key column must always have a value (make it NOT NULL or choose another key)"
        case .unavailableKey(let column):
            detail = "the value of key column '\(column)' is not in the change (not part of the replica identity, or an unchanged TOAST value); "
                + "use primary-key columns as the key or set REPLICA IDENTITY FULL"
        case .invalidOutboxValue(let column, let problem):
            detail = "outbox column '\(column)': \(problem)"
        case .invalidTopic(let problem):
            detail = "the outbox topic for this row is invalid: \(problem)"
        case .invalidMessageContent(let prefix):
            detail = "the content of a message with prefix '\(prefix)' is not JSON; emit JSON with pg_logical_emit_message"
        case .oldRowNotSent:
            detail = "the update rules (when) or skip_unchanged need the old row, which Postgres did not send; run ALTER TABLE "
                + (table?.sqlQuoted ?? "the table") + " REPLICA IDENTITY FULL"
        }
        return "cannot map \(subject): \(detail)"
    }
}

extension RowChange.Operation {
    var name: String {
        switch self {
        case .insert: "insert"
        case .update: "update"
        case .delete: "delete"
        }
    }
}
