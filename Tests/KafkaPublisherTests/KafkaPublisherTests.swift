@testable import KafkaPublisher
import KafkaTestBroker
import Testing

@Suite("Producer and consumer against the mock cluster", .timeLimit(.minutes(1)))
struct ProduceConsumeTests {
    @Test("records come back with their keys, values and headers; a key always lands on one partition")
    func roundTrip() throws {
        let cluster = try TestKafkaCluster(brokers: 3, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("roundtrip")
        try cluster.createTopic(topic, partitions: 6)
        let producer = try makeProducer(cluster)

        struct Sent { let key: [UInt8]?; let value: [UInt8]?; let headers: [KafkaHeader] }
        var sent: [UInt64: Sent] = [:]
        var reports: [DeliveryReport] = []
        let count = 300
        for i in 0..<count {
            let key: [UInt8]? = bytes("user-\(i % 25)")
            var value: [UInt8]? = bytes(#"{"eventId":"\#(i)","data":{"userId":\#(i % 25)}}"#)
            if i == 7 { value = nil }  // tombstone
            if i == 8 { value = [] }  // empty, not null
            let headers = [
                KafkaHeader(name: "event-type", string: i % 2 == 0 ? "UserRegistered" : "UserUpdated"),
                KafkaHeader(name: "event-id", string: "id-\(i)"),
                KafkaHeader(name: "content-type", string: "application/json"),
                KafkaHeader(name: "null-header", value: nil),
                KafkaHeader(name: "empty-header", value: []),
            ]
            let token = UInt64(1000 + i)
            sent[token] = Sent(key: key, value: value, headers: headers)
            try produceRetryingWhenFull(
                producer, topic: topic, key: key, value: value, headers: headers, token: token, into: &reports)
        }
        // A null key and an empty key.
        sent[1] = Sent(key: nil, value: bytes("no key"), headers: [])
        try producer.produce(topic: topic, key: nil, value: bytes("no key"), token: 1)
        sent[2] = Sent(key: [], value: bytes("empty key"), headers: [])
        try producer.produce(topic: topic, key: [], value: bytes("empty key"), token: 2)

        pollReports(producer, until: sent.count, into: &reports)
        #expect(reports.count == sent.count)
        #expect(reports.allSatisfy { $0.isDelivered }, "\(reports.compactMap(\.error).prefix(3))")
        #expect(producer.outstandingCount == 0)
        let reportByToken = Dictionary(uniqueKeysWithValues: reports.map { ($0.token, $0) })

        let consumer = try makeConsumer(cluster)
        try consumer.assignAllPartitions(topic: topic)
        let records = try consumer.poll(count: sent.count, timeoutMilliseconds: 15_000)
        #expect(records.count == sent.count)

        var partitionsByKey: [[UInt8]: Set<Int32>] = [:]
        for record in records {
            #expect(record.topic == topic)
            // Identify the record: event-id header, or the value for the two extra ones.
            let token: UInt64
            if let id = record.header("event-id")?.stringValue {
                token = UInt64(id.dropFirst(3))! + 1000
            } else {
                token = record.value == bytes("no key") ? 1 : 2
            }
            guard let expected = sent[token], let report = reportByToken[token] else {
                Issue.record("unexpected record \(record)")
                continue
            }
            #expect(record.key == expected.key)
            #expect(record.value == expected.value)
            #expect(record.headers == expected.headers)
            #expect(record.partition == report.partition)
            #expect(record.offset == report.offset)
            if let key = record.key, token >= 1000 { partitionsByKey[key, default: []].insert(record.partition) }
        }
        #expect(partitionsByKey.count == 25)
        #expect(partitionsByKey.values.allSatisfy { $0.count == 1 })
        // Several partitions are used.
        #expect(Set(partitionsByKey.values.flatMap { $0 }).count > 1)
        // The tombstone stays null, the empty value stays empty.
        #expect(records.first { $0.header("event-id")?.stringValue == "id-7" }?.value == nil)
        #expect(records.first { $0.header("event-id")?.stringValue == "id-8" }?.value == [])
        #expect(records.first { $0.value == bytes("empty key") }?.key == [])
        #expect(records.first { $0.value == bytes("no key") }?.key == nil)
        consumer.close()
        #expect(producer.close().isEmpty)
    }

    @Test("the same key lands on the same partition across producers (murmur2, like Java clients)")
    func keyPartitionStableAcrossProducers() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("stable")
        try cluster.createTopic(topic, partitions: 8)
        var partitions: [[Int32]] = []
        for _ in 0..<2 {
            let producer = try makeProducer(cluster)
            var reports: [DeliveryReport] = []
            for i in 0..<40 {
                try producer.produce(topic: topic, key: bytes("key-\(i)"), value: bytes("v"), token: UInt64(i))
            }
            pollReports(producer, until: 40, into: &reports)
            #expect(reports.count == 40 && reports.allSatisfy { $0.isDelivered })
            partitions.append(reports.sorted { $0.token < $1.token }.map(\.partition))
        }
        #expect(partitions[0] == partitions[1])
    }

    @Test("every token of 10,000 records is reported exactly once")
    func tokensReportedExactlyOnce() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("tokens")
        try cluster.createTopic(topic, partitions: 4)
        let producer = try makeProducer(cluster)
        var reports: [DeliveryReport] = []
        reports.reserveCapacity(10_000)
        // Tokens span the full 64-bit range, including 0 and UInt64.max.
        let tokens: [UInt64] = [0, UInt64.max, 1 << 63] + (1...9_997).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
        #expect(Set(tokens).count == 10_000)
        for (i, token) in tokens.enumerated() {
            try produceRetryingWhenFull(
                producer, topic: topic, key: bytes("k\(i % 100)"), value: bytes("value \(i)"),
                headers: [KafkaHeader(name: "n", string: "\(i)")], token: token, into: &reports)
            if i % 1000 == 0 { producer.poll(timeoutMilliseconds: 0, into: &reports) }
        }
        pollReports(producer, until: tokens.count, into: &reports)
        #expect(reports.count == 10_000)
        #expect(reports.allSatisfy { $0.isDelivered })
        var seen: [UInt64: Int] = [:]
        for report in reports { seen[report.token, default: 0] += 1 }
        #expect(seen.count == 10_000)
        #expect(seen.values.allSatisfy { $0 == 1 })
        #expect(Set(tokens) == Set(seen.keys))
        // Nothing more arrives.
        #expect(producer.poll(timeoutMilliseconds: 100).isEmpty)
        #expect(producer.outstandingCount == 0)
    }

    @Test("a consumer group subscription reads the topic from the beginning")
    func subscribeReadsFromBeginning() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("subscribe")
        try cluster.createTopic(topic, partitions: 2)
        let producer = try makeProducer(cluster)
        var reports: [DeliveryReport] = []
        for i in 0..<10 {
            try producer.produce(topic: topic, key: bytes("k\(i)"), value: bytes("v\(i)"), token: UInt64(i))
        }
        pollReports(producer, until: 10, into: &reports)
        #expect(reports.allSatisfy { $0.isDelivered })
        let consumer = try makeConsumer(cluster)
        try consumer.subscribe(topics: [topic])
        let records = try consumer.poll(count: 10, timeoutMilliseconds: 15_000)
        #expect(Set(records.compactMap(\.value)) == Set((0..<10).map { bytes("v\($0)") }))
        consumer.close()
    }
}

@Suite("Faults", .timeLimit(.minutes(1)))
struct FaultTests {
    @Test("while the brokers are down nothing is reported delivered; after they are back everything is")
    func brokersDownThenUp() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("down")
        try cluster.createTopic(topic, partitions: 3)
        let producer = try makeProducer(cluster)
        var reports: [DeliveryReport] = []
        // Warm up: metadata known, connection up.
        try producer.produce(topic: topic, key: bytes("warm"), value: bytes("up"), token: 0)
        pollReports(producer, until: 1, into: &reports)
        #expect(reports.count == 1 && reports[0].isDelivered)
        reports.removeAll()
        _ = producer.takeClientErrors()

        try cluster.setAllBrokersDown()
        for i in 1...50 {
            try producer.produce(topic: topic, key: bytes("k\(i)"), value: bytes("v\(i)"), token: UInt64(i))
        }
        // Down for 1.5 s: no report at all (message.timeout.ms=0: nothing gives up).
        let downUntil = ContinuousClock.now + .milliseconds(1500)
        while ContinuousClock.now < downUntil {
            producer.poll(timeoutMilliseconds: 50, into: &reports)
        }
        #expect(reports.filter(\.isDelivered).isEmpty)
        #expect(reports.isEmpty, "\(reports.prefix(3))")
        #expect(producer.outstandingCount >= 50)
        let errors = producer.takeClientErrors()
        #expect(!errors.isEmpty)
        #expect(errors.allSatisfy { $0.isRetriable && !$0.isFatal })
        #expect(errors.contains { $0.code == .transport || $0.code == .allBrokersDown })

        try cluster.setAllBrokersUp()
        pollReports(producer, until: 50, into: &reports, timeout: .seconds(15))
        #expect(reports.count == 50)
        #expect(reports.allSatisfy { $0.isDelivered }, "\(reports.compactMap(\.error).prefix(3))")
        #expect(Set(reports.map(\.token)) == Set(1...50))
        #expect(producer.fatalError() == nil)
    }

    @Test("a record larger than the producer's message.max.bytes is refused at once as permanent")
    func oversizeRecordIsPermanent() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("oversize")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try makeProducer(cluster, properties: ["message.max.bytes": "10000"])
        let error = #expect(throws: KafkaError.self) {
            try producer.produce(
                topic: topic, key: bytes("42"), value: [UInt8](repeating: 0x61, count: 20_000), token: 9)
        }
        #expect(error?.code == .messageSizeTooLarge)
        #expect(error?.kind == .produce)
        #expect(error?.isPermanent == true)
        #expect(error?.isRetriable == false)
        #expect(error?.isFatal == false)
        #expect(error?.message.contains("message.max.bytes") == true)
        #expect(error?.message.contains("10.0 kB") == true)
        #expect(error?.message.contains("dead_letter_topic") == true)
        // The producer goes on: a record that fits is delivered.
        try producer.produce(topic: topic, key: bytes("42"), value: bytes("fits"), token: 10)
        var reports: [DeliveryReport] = []
        pollReports(producer, until: 1, into: &reports)
        #expect(reports.map(\.token) == [10])
        #expect(reports.first?.isDelivered == true)
    }

    @Test("a broker refusing a record as too large gives a permanent delivery error, and the stream goes on")
    func brokerRefusesTooLarge() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("brokertoolarge")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try makeProducer(cluster)
        var reports: [DeliveryReport] = []
        try producer.produce(topic: topic, key: bytes("k"), value: bytes("warm"), token: 1)
        pollReports(producer, until: 1, into: &reports)
        #expect(reports.first?.isDelivered == true)

        cluster.pushRequestErrors(apiKey: .produce, errors: [.messageSizeTooLarge])
        try producer.produce(topic: topic, key: bytes("k"), value: bytes("big"), token: 2)
        pollReports(producer, until: 2, into: &reports)
        let refused = try #require(reports.first { $0.token == 2 })
        let error = try #require(refused.error)
        #expect(error.code == .messageSizeTooLarge)
        #expect(error.kind == .delivery)
        #expect(error.isPermanent)
        #expect(error.topic == topic)

        try producer.produce(topic: topic, key: bytes("k"), value: bytes("after"), token: 3)
        pollReports(producer, until: 3, into: &reports)
        #expect(reports.first { $0.token == 3 }?.isDelivered == true)
        #expect(producer.fatalError() == nil)
    }

    @Test("transient produce errors are retried by librdkafka and the record is delivered")
    func transientErrorsAreRetried() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("transient")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try makeProducer(cluster)
        var reports: [DeliveryReport] = []
        try producer.produce(topic: topic, key: bytes("k"), value: bytes("warm"), token: 1)
        pollReports(producer, until: 1, into: &reports)

        cluster.pushRequestErrors(
            apiKey: .produce,
            errors: [.notEnoughReplicas, .notEnoughReplicasAfterAppend, .requestTimedOut, .leaderNotAvailable])
        for token in UInt64(2)...6 {
            try producer.produce(topic: topic, key: bytes("k"), value: bytes("v\(token)"), token: token)
        }
        pollReports(producer, until: 6, into: &reports)
        #expect(reports.count == 6)
        #expect(reports.allSatisfy { $0.isDelivered }, "\(reports.compactMap(\.error))")
        // Order of one key is kept: offsets increase with tokens.
        let ordered = reports.sorted { $0.token < $1.token }.map(\.offset)
        #expect(ordered == ordered.sorted())
    }

    @Test("a fatal error is reported as fatal everywhere: fatalError(), client errors, produce")
    func fatalError() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger(level: .critical))
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("fatal")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: testLogger(level: .critical))
        #expect(producer.fatalError() == nil)
        producer.triggerFatalErrorForTesting(.outOfOrderSequenceNumber, reason: "test-injected")
        let fatal = try #require(producer.fatalError())
        #expect(fatal.isFatal)
        #expect(fatal.code == .outOfOrderSequenceNumber)
        #expect(!fatal.isRetriable && !fatal.isPermanent)
        _ = producer.poll(timeoutMilliseconds: 100)
        #expect(producer.takeClientErrors().contains { $0.isFatal })
        let error = #expect(throws: KafkaError.self) {
            try producer.produce(topic: topic, key: nil, value: bytes("x"), token: 1)
        }
        #expect(error?.isFatal == true)
    }

    @Test("close() purges what the cluster never took, quickly, as not delivered")
    func closePurges() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        let topic = uniqueTopic("purge")
        try cluster.createTopic(topic, partitions: 2)
        let producer = try makeProducer(cluster)
        var reports: [DeliveryReport] = []
        try producer.produce(topic: topic, key: bytes("k"), value: bytes("warm"), token: 0)
        pollReports(producer, until: 1, into: &reports)
        #expect(reports.first?.isDelivered == true)

        try cluster.setAllBrokersDown()
        for token in UInt64(1)...20 {
            try producer.produce(topic: topic, key: bytes("k\(token)"), value: bytes("v"), token: token)
        }
        _ = producer.poll(timeoutMilliseconds: 200)
        let start = ContinuousClock.now
        let purged = producer.close()
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(purged.count == 20)
        #expect(purged.allSatisfy { $0.error?.isPurged == true && $0.error?.isRetriable == true })
        #expect(Set(purged.map(\.token)) == Set(1...20))
        // Closed: produce refuses, poll is empty, close is idempotent.
        #expect(throws: KafkaError.self) { try producer.produce(topic: topic, key: nil, value: nil, token: 99) }
        #expect(producer.poll(timeoutMilliseconds: 0).isEmpty)
        #expect(producer.close().isEmpty)
        #expect(producer.outstandingCount == 0)
    }
}

@Suite("Configuration errors")
struct ConfigurationTests {
    @Test("an unknown property is a typed configuration error naming it")
    func unknownProperty() {
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(
                    bootstrapServers: "127.0.0.1:1", properties: ["enable.idempotency": "true"]),
                logger: testLogger())
        }
        #expect(error?.isConfigurationError == true)
        #expect(error?.property == "enable.idempotency")
        #expect(error?.description.contains("enable.idempotency") == true)
        #expect(error?.isRetriable == false && error?.isPermanent == false && error?.isFatal == false)
    }

    @Test("an invalid value names the property and shows librdkafka's reason")
    func invalidValue() {
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(
                    bootstrapServers: "127.0.0.1:1", properties: ["compression.type": "banana"]),
                logger: testLogger())
        }
        #expect(error?.property == "compression.type")
        #expect(error?.message.contains("banana") == true)
    }

    struct SecretCase: Sendable, CustomTestStringConvertible {
        let properties: [String: String]
        let secret: String
        let isSecret: Bool
        var testDescription: String { properties.keys.sorted().joined(separator: ",") }
    }

    @Test("a secret's value never appears in an error",
          arguments: [
            // librdkafka's own message echoes the value ("value -424242 is outside allowed range").
            SecretCase(properties: ["sasl.kerberos.min.time.before.relogin": "-424242"], secret: "424242", isSecret: true),
            // rd_kafka_new's message echoes it ("Unsupported SASL mechanism: …").
            SecretCase(properties: ["security.protocol": "sasl_plaintext", "sasl.mechanisms": "hunter2-TOPSECRET"],
                       secret: "hunter2", isSecret: true),
            SecretCase(properties: ["enable.sasl.oauthbearer.unsecure.jwt": "hunter2"], secret: "hunter2", isSecret: true),
            // Control: not a secret, so the value is shown.
            SecretCase(properties: ["security.protocol": "hunter2-TOPSECRET"], secret: "hunter2", isSecret: false),
          ])
    func secretsNotEchoed(_ testCase: SecretCase) {
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", properties: testCase.properties),
                logger: testLogger(level: .critical))
        }
        #expect(error?.isConfigurationError == true)
        let texts = [error?.message ?? "", error?.description ?? "", String(describing: error), String(reflecting: error)]
        if testCase.isSecret {
            for text in texts { #expect(!text.contains(testCase.secret), "\(text)") }
        } else {
            #expect(error?.message.contains(testCase.secret) == true)
        }
    }

    @Test("our defaults are applied and can be overridden")
    func defaultsOverridable() throws {
        #expect(KafkaProducerConfiguration.defaults["enable.idempotence"] == "true")
        #expect(KafkaProducerConfiguration.defaults["acks"] == "all")
        #expect(KafkaProducerConfiguration.defaults["message.timeout.ms"] == "0")
        // Overriding a default is accepted.
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: "127.0.0.1:1", properties: ["linger.ms": "50", "message.timeout.ms": "30000"]),
            logger: testLogger(level: .critical))
        producer.close()
    }

    @Test("printing a configuration redacts secrets")
    func describeRedacts() {
        let properties = ["sasl.password": "pw1", "ssl.key.password": "pw2", "sasl.username": "pw3", "acks": "all"]
        let text = KafkaProducer.describe(properties)
        #expect(!text.contains("pw1") && !text.contains("pw2") && !text.contains("pw3"))
        #expect(text.contains("acks=all"))
        let configuration = KafkaProducerConfiguration(bootstrapServers: "b:9092", properties: properties)
        var dumped = ""
        dump(configuration, to: &dumped)
        for printed in ["\(configuration)", String(reflecting: configuration), dumped,
                        "\(KafkaConsumerConfiguration(bootstrapServers: "b:9092", properties: properties))"] {
            #expect(!printed.contains("pw"), "\(printed)")
            #expect(printed.contains("acks=all"))
        }
    }
}

@Suite("Error classification")
struct ClassificationTests {
    @Test("permanent per-record errors", arguments: [
        KafkaError.Code.messageSizeTooLarge, .recordListTooLarge, .invalidRecord, .invalidTopic, .invalidTimestamp,
    ])
    func permanent(code: KafkaError.Code) {
        let error = KafkaError.from(code, kind: .delivery, topic: "t")
        #expect(error.isPermanent && !error.isRetriable && !error.isFatal)
    }

    @Test("retriable errors", arguments: [
        KafkaError.Code.transport, .allBrokersDown, .messageTimedOut, .queueFull, .unknownTopicOrPartition,
        .unknownTopic, .notEnoughReplicas, .leaderNotAvailable, .notLeaderForPartition, .requestTimedOut,
        .topicAuthorizationFailed, .purgedFromQueue, .purgedInFlight, .unknown, KafkaError.Code(rawValue: 12345),
    ])
    func retriable(code: KafkaError.Code) {
        let error = KafkaError.from(code, kind: .delivery, topic: "t")
        #expect(error.isRetriable && !error.isPermanent && !error.isFatal)
    }

    @Test("fatal errors", arguments: [
        KafkaError.Code.fatal, .outOfOrderSequenceNumber, .invalidProducerEpoch, .producerFenced, .gaplessGuarantee,
    ])
    func fatal(code: KafkaError.Code) {
        let error = KafkaError.from(code, kind: .delivery)
        #expect(error.isFatal && !error.isRetriable && !error.isPermanent)
    }

    @Test("any error raised through rd_kafka_fatal_error is fatal, whatever its code")
    func raisedAsFatal() {
        let error = KafkaError.from(.messageSizeTooLarge, kind: .client, raisedAsFatal: true)
        #expect(error.isFatal && !error.isPermanent)
    }

    @Test("authorization needs an operator but is retried, not dead-lettered")
    func authorization() {
        let error = KafkaError.from(.topicAuthorizationFailed, kind: .delivery, topic: "auth.users.events")
        #expect(error.isRetriable && error.needsOperatorAction)
        #expect(error.message.contains("auth.users.events"))
        #expect(error.message.contains("WRITE"))
    }

    @Test("queue full is distinguishable")
    func queueFull() {
        #expect(KafkaError.from(.queueFull, kind: .produce).isQueueFull)
        #expect(!KafkaError.from(.transport, kind: .produce).isQueueFull)
    }

    @Test("codes have librdkafka's names")
    func names() {
        #expect(KafkaError.Code.messageSizeTooLarge.name == "MSG_SIZE_TOO_LARGE")
        #expect(KafkaError.Code.queueFull.name == "_QUEUE_FULL")
        #expect(KafkaError.Code.allBrokersDown.name == "_ALL_BROKERS_DOWN")
    }

    @Test("sizes read like people write them")
    func formatBytes() {
        #expect(KafkaError.formatBytes(999) == "999 bytes")
        #expect(KafkaError.formatBytes(20_000) == "20.0 kB (20000 bytes)")
        #expect(KafkaError.formatBytes(2_100_000) == "2.1 MB (2100000 bytes)")
    }

    @Test("the broker-side too-large message says what to do")
    func tooLargeMessage() {
        let error = KafkaError.from(.messageSizeTooLarge, kind: .delivery, topic: "auth.users.events")
        #expect(error.message.contains("max.message.bytes"))
        #expect(error.message.contains("kafka.dead_letter_topic"))
        #expect(error.description.hasPrefix("Kafka MSG_SIZE_TOO_LARGE: "))
    }
}

@Suite("Test cluster")
struct TestClusterTests {
    @Test("bootstrap servers, topics, broker ids")
    func basics() throws {
        let cluster = try TestKafkaCluster(brokers: 3, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        #expect(cluster.bootstrapServers.split(separator: ",").count == 3)
        #expect(cluster.bootstrapServers.contains("127.0.0.1:") || cluster.bootstrapServers.contains("localhost:"))
        try cluster.createTopic("a", partitions: 4, replicationFactor: 3)
        #expect(throws: TestBrokerError.self) { try cluster.setBrokerDown(99) }
        try cluster.setBrokerDown(2)
        try cluster.setBrokerUp(2)
        try cluster.setRoundTripTime(broker: 1, milliseconds: 5)
        let consumer = try makeConsumer(cluster)
        #expect(try consumer.partitionCount(topic: "a") == 4)
        consumer.close()
    }

    @Test("a missing topic is reported by partitionCount (a record for it would wait silently)")
    func missingTopic() throws {
        let cluster = try TestKafkaCluster(brokers: 1, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        try cluster.createTopic("present", partitions: 3)
        cluster.setTopicError("missing", .unknownTopicOrPartition)
        let producer = try makeProducer(cluster)
        #expect(try producer.partitionCount(topic: "present") == 3)
        let error = #expect(throws: KafkaError.self) { _ = try producer.partitionCount(topic: "missing") }
        #expect(error?.code == .unknownTopicOrPartition)
        #expect(error?.isRetriable == true)
        // librdkafka 2.0.2 with message.timeout.ms=0: no report, no client error, the record waits.
        try producer.produce(topic: "missing", key: nil, value: bytes("v"), token: 1)
        #expect(producer.poll(timeoutMilliseconds: 1000).isEmpty)
        #expect(producer.outstandingCount == 1)
        // Once the topic exists, it is delivered. (The mock keeps an
        // auto-created topic behind the injected error: clearing it is enough.)
        cluster.setTopicError("missing", .noError)
        var reports: [DeliveryReport] = []
        pollReports(producer, until: 1, into: &reports)
        #expect(reports.map(\.token) == [1])
        #expect(reports.first?.isDelivered == true)
    }

    @Test("usable from several tasks at once (Sendable)")
    func concurrentUse() async throws {
        let cluster = try TestKafkaCluster(brokers: 2, logger: testLogger())
        defer { withExtendedLifetime(cluster) {} }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    try cluster.createTopic("t\(i)", partitions: 1)
                    try cluster.setRoundTripTime(broker: -1, milliseconds: Int32(i))
                    cluster.pushRequestErrors(apiKey: .metadata, errors: [])
                }
            }
            try await group.waitForAll()
        }
        try cluster.setRoundTripTime(broker: -1, milliseconds: 0)
    }
}
