internal import CRdKafka
import Logging

/// The bare librdkafka handle librdkafka's mock cluster keeps its books in
/// (`rd_kafka_mock_cluster_new` needs an `rd_kafka_t`): a producer that sends
/// nothing, whose logs go to a `Logger`. For the `KafkaTestBroker` target only,
/// hence `package`; the `rd_kafka_t` stays inside this type and its user.
package struct MockClusterHandle: ~Copyable {
    /// The `rd_kafka_t`, valid until this value is destroyed.
    package let pointer: OpaquePointer
    /// Reached by the log callback of the handle; outlives it.
    private let logTarget: LogOnlyCallbackState

    package init(clientID: String, logger: Logger) throws(KafkaError) {
        let logTarget = LogOnlyCallbackState(logger: logger)
        var builder = ConfBuilder()
        try builder.set("client.id", clientID)
        let conf = builder.conf
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(logTarget).toOpaque())
        installLogCallback(conf, opaqueKind: .logOnly)
        self.pointer = try builder.makeHandle(type: RD_KAFKA_PRODUCER)
        self.logTarget = logTarget
    }

    deinit {
        rd_kafka_destroy(pointer)
    }
}
