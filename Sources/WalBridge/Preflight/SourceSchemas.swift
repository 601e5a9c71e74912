import Configuration
import EventMapping
import Logging

/// `walbridge schema`: the JSON Schema of every configured event, derived from
/// the mappings and the column types the database reports. Changes nothing.
public enum SourceSchemas {
    /// - Throws: `BridgeError` (configuration for a wrong mapping or what the
    ///   database says about it, fatal when Postgres cannot be reached).
    public static func eventSchemas(_ configuration: BridgeConfiguration, logger: Logger) throws(BridgeError) -> [EventSchema] {
        let (_, prepared) = try SourcePreflight.dryRun(configuration, logger: logger)
        do {
            return try EventSchemaGenerator.schemas(configuration: configuration, columns: prepared.columns, keyColumns: prepared.keyColumns)
        } catch {
            throw BridgeError(code: .configurationInvalid, kind: .configuration, message: error.description)
        }
    }

    /// All schemas as one JSON object keyed by event type (an outbox mapping's
    /// key is `outbox:<table>`), pretty-printed.
    public static func document(_ schemas: [EventSchema]) -> String {
        let members = schemas.map { schema in
            (schema.eventType == "*" ? "outbox:\(schema.origin.dropFirst("outbox ".count))" : schema.eventType, schema.schema)
        }
        return JSONDocument.object(members).encoded(pretty: true)
    }
}
