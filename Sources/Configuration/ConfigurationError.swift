/// A configuration file that WalBridge cannot use (exit status 2).
///
/// Its `description` names the file, the line and column when known, the key
/// path (`mappings[0].fields`), what is wrong and how to fix it. It never
/// contains a value that could be a secret: the Postgres URL appears only with
/// its password replaced by `***`, and Kafka property values never appear.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem it is, for code that reacts to it (and for tests).
    public enum Kind: Sendable, Hashable {
        /// The file could not be read.
        case unreadableFile
        /// The text is not valid YAML.
        case malformedYAML
        /// A key that is not part of the configuration.
        case unknownKey(key: String, suggestion: String?)
        /// A key that must be given is missing.
        case missingKey(String)
        /// A value of the wrong YAML type (a list where a string belongs…).
        case wrongType
        /// A value of the right type that is not acceptable.
        case invalidValue
        /// `${NAME}` names an environment variable that is not set.
        case unsetVariable(String)
        /// `${file:PATH}` names a file that cannot be read.
        case unreadableSecretFile(String)
        /// The configuration disagrees with what the database says (for
        /// example a primary key column that is not in `fields`).
        case databaseMismatch
    }

    public var kind: Kind
    /// The configuration file's name, as given to `load`/`parse`.
    public var source: String
    /// Where in the file: `kafka.bootstrap_servers`, `mappings[1].fields.id`;
    /// empty for the whole file.
    public var keyPath: String
    /// 1-based line and column of the offending node, when known.
    public var line: Int?
    public var column: Int?
    /// What is wrong and what to do, without the file and key path.
    public var message: String

    public init(kind: Kind, source: String, keyPath: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.kind = kind
        self.source = source
        self.keyPath = keyPath
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        var text = source
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if !keyPath.isEmpty { text += keyPath + ": " }
        return text + message
    }
}
