import PostgresReplication
import Testing
@testable import WalBridge

@Suite struct CorruptStreamRetriesTests {
    private let corrupt = BridgeError.corruptStream("cannot decode the replication stream: truncated Insert message")

    @Test func theSameBadBytesEveryTimeStopTheBridgeAfterTheLimit() throws {
        var retries = CorruptStreamRetries(limit: 3)
        #expect(retries.record(corrupt, delivered: LSN(100)) == nil)
        #expect(retries.record(corrupt, delivered: LSN(100)) == nil)
        let stop = retries.record(corrupt, delivered: LSN(100))
        let final = try #require(stop)
        #expect(final.kind == .fatal)
        #expect(final.exitCode == 1)
        #expect(final.message.hasPrefix("cannot decode the replication stream: truncated Insert message; "))
        #expect(final.message.contains("came back corrupt 3 times in a row after 0/64"))
    }

    @Test func deliveringSomethingNewStartsTheCountOver() {
        var retries = CorruptStreamRetries(limit: 2)
        #expect(retries.record(corrupt, delivered: nil) == nil)
        #expect(retries.record(corrupt, delivered: LSN(100)) == nil)
        #expect(retries.record(corrupt, delivered: LSN(200)) == nil)
        #expect(retries.failures == 1)
        #expect(retries.record(corrupt, delivered: LSN(200)) != nil)
    }

    @Test func aCorruptStreamIsRetriedAndOtherErrorsKeepTheirKind() {
        #expect(corrupt.kind == .transient)
        #expect(corrupt.isCorruptStream)
        #expect(!BridgeError(.transient, "Postgres ended the replication stream").isCorruptStream)
    }
}
