import PostgresReplication
import Testing
import WalBridge

@Suite("ReplayWindow")
struct ReplayWindowTests {
    let second: UInt64 = 1_000_000_000

    @Test("positions become confirmable only once the window has passed")
    func window() {
        var window = ReplayWindow(window: .seconds(10))
        window.delivered(LSN(100), now: 0)
        window.delivered(LSN(200), now: 5 * second)
        #expect(window.confirmable(now: 9 * second) == nil)
        #expect(window.confirmable(now: 10 * second) == LSN(100))
        #expect(window.confirmable(now: 14 * second) == nil)
        #expect(window.confirmable(now: 15 * second) == LSN(200))
        #expect(window.confirmable(now: 100 * second) == nil, "nothing new")
    }

    @Test("a zero window confirms at once")
    func zero() {
        var window = ReplayWindow(window: .zero)
        #expect(window.isImmediate)
        window.delivered(LSN(7), now: 123)
        #expect(window.confirmable(now: 123) == LSN(7))
    }

    @Test("positions never go backwards and close deliveries share one entry")
    func monotonicAndCoalesced() {
        var window = ReplayWindow(window: .seconds(1))
        for i in 0..<10_000 { window.delivered(LSN(UInt64(1000 + i)), now: UInt64(i) * 10) }  // all within 100 µs
        window.delivered(LSN(5), now: 200_000)
        #expect(window.confirmable(now: 2 * second) == LSN(10_999))
    }
}
