import PostgresReplication
import Testing
@testable import WalBridge
import SeededRandom

@Suite("Watermark")
struct WatermarkTests {
    @Test("advances only over the contiguous prefix of committed, fully acknowledged transactions")
    func contiguousPrefix() {
        var watermark = Watermark(start: LSN(100))
        let first = watermark.beginTransaction()
        watermark.eventSent(token: first)
        watermark.eventSent(token: first)
        do { let advanced = watermark.commit(endLSN: LSN(200)); #expect(advanced == false) }
        let second = watermark.beginTransaction()
        watermark.eventSent(token: second)
        do { let advanced = watermark.commit(endLSN: LSN(300)); #expect(advanced == false) }

        #expect(watermark.acknowledge(token: second) == false, "the second cannot pass the first")
        #expect(watermark.confirmed == LSN(100))
        #expect(watermark.acknowledge(token: first) == false)
        #expect(watermark.confirmed == LSN(100))
        #expect(watermark.acknowledge(token: first) == true)
        #expect(watermark.confirmed == LSN(300), "both complete: jumps over the second")
        #expect(watermark.isIdle)
    }

    @Test("an open transaction holds the watermark even when its events are acknowledged")
    func openTransactionHolds() {
        var watermark = Watermark(start: .zero)
        let token = watermark.beginTransaction()
        watermark.eventSent(token: token)
        #expect(watermark.acknowledge(token: token) == false)
        #expect(watermark.confirmed == .zero)
        do { let advanced = watermark.commit(endLSN: LSN(50)); #expect(advanced) }
        #expect(watermark.confirmed == LSN(50))
    }

    @Test("a transaction without events completes at its commit")
    func emptyTransaction() {
        var watermark = Watermark(start: LSN(10))
        _ = watermark.beginTransaction()
        do { let advanced = watermark.commit(endLSN: LSN(20)); #expect(advanced) }
        #expect(watermark.confirmed == LSN(20))
    }

    @Test("keepalive positions are confirmed only when idle")
    func idleAdvance() {
        var watermark = Watermark(start: LSN(10))
        do { let advanced = watermark.idle(walEnd: LSN(40)); #expect(advanced) }
        #expect(watermark.confirmed == LSN(40))
        let token = watermark.beginTransaction()
        do { let advanced = watermark.idle(walEnd: LSN(90)); #expect(advanced == false, "not while a transaction is open") }
        watermark.eventSent(token: token)
        watermark.commit(endLSN: LSN(60))
        do { let advanced = watermark.idle(walEnd: LSN(90)); #expect(advanced == false, "not while an event is outstanding") }
        watermark.acknowledge(token: token)
        #expect(watermark.confirmed == LSN(60))
        do { let advanced = watermark.idle(walEnd: LSN(90)); #expect(advanced) }
        do { let advanced = watermark.idle(walEnd: LSN(80)); #expect(advanced == false, "never backwards") }
        #expect(watermark.confirmed == LSN(90))
    }

    /// Random delivery orders across many transactions: the watermark never passes a
    /// transaction with an unacknowledged event, and ends at the last end LSN.
    @Test("random delivery orders never advance past an unacknowledged event", arguments: 0..<40)
    func randomOrders(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) &+ 0x9E37_79B9_7F4A_7C15)  // the seeding these histories were written with
        var watermark = Watermark(start: LSN(1000))
        var ends: [UInt64: LSN] = [:]
        var unacknowledged: [(token: UInt64, id: Int)] = []
        var remaining: [UInt64: Int] = [:]
        var lsn: UInt64 = 1000
        var eventID = 0
        let transactions = Int(random.next() % 200) + 1
        for _ in 0..<transactions {
            let token = watermark.beginTransaction()
            let events = Int(random.next() % 6)
            for _ in 0..<events {
                watermark.eventSent(token: token)
                unacknowledged.append((token, eventID))
                eventID += 1
            }
            remaining[token] = events
            lsn += random.next() % 500 + 1
            ends[token] = LSN(lsn)
            watermark.commit(endLSN: LSN(lsn))
            // Interleave some acknowledgements with the stream.
            if !unacknowledged.isEmpty && random.next() % 3 == 0 {
                acknowledgeOne()
            }
        }
        while !unacknowledged.isEmpty { acknowledgeOne() }
        #expect(watermark.confirmed == LSN(lsn))
        #expect(watermark.outstandingEvents == 0)

        func acknowledgeOne() {
            let index = Int(random.next() % UInt64(unacknowledged.count))
            let (token, _) = unacknowledged.remove(at: index)
            remaining[token]! -= 1
            watermark.acknowledge(token: token)
            // The watermark may not reach the end of any transaction with events left.
            let blocked = remaining.filter { $0.value > 0 }.keys.min()
            if let blocked {
                let limit = blocked == 0 ? LSN(1000) : ends[blocked - 1]!
                #expect(watermark.confirmed <= limit)
                #expect(watermark.confirmed < ends[blocked]!)
            }
        }
    }
}

@Suite("FIFOArray")
struct FIFOArrayTests {
    @Test("keeps order and offsets through removals and compactions")
    func orderAcrossCompaction() {
        var queue = FIFOArray<Int>(compactAfter: 3)
        var model: [Int] = []
        var next = 0
        for step in 0..<500 {
            // Mostly appends early, mostly removals late, so the queue grows, drains and compacts.
            if model.isEmpty || (step % 3 != 0 && step < 300) || (step >= 300 && step % 4 == 0) {
                queue.append(next); model.append(next); next += 1
            } else {
                queue.removeFirst(); model.removeFirst()
            }
            #expect(queue.count == model.count)
            #expect(queue.first == model.first && queue.last == model.last)
            if !model.isEmpty {
                let offset = step % model.count
                #expect(queue[offset] == model[offset])
                queue[offset] = -step; model[offset] = -step
            }
        }
        queue.removeAll()
        #expect(queue.isEmpty && queue.first == nil)
    }
}
