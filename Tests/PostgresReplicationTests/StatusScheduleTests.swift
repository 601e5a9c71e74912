import Testing
import PostgresReplication

/// The replication session's timing rules, with made-up instants: when a
/// status update is due, when the walsender is pinged and taken as dead, and
/// when a stalled send gives the connection up.
@Suite("StatusSchedule")
struct StatusScheduleTests {
    let start = ContinuousClock.now

    func schedule() -> StatusSchedule {
        StatusSchedule(statusInterval: .seconds(10), confirmDelay: .milliseconds(5), deadAfter: .seconds(20), now: start)
    }

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test("an update is due every statusInterval, and confirmDelay after a new position, not before")
    func statusDue() {
        var schedule = schedule()
        #expect(!schedule.isStatusDue(now: at(9_999)))
        #expect(schedule.isStatusDue(now: at(10_000)))
        schedule.statusSent(now: at(10_000), reported: true)
        #expect(!schedule.isStatusDue(now: at(10_001)))

        schedule.confirmed(now: at(10_100))
        schedule.confirmed(now: at(10_103))   // the first unreported confirmation counts
        #expect(!schedule.isStatusDue(now: at(10_104)))
        #expect(schedule.isStatusDue(now: at(10_105)))
        #expect(schedule.millisecondsUntilDue(now: at(10_101)) == 4)
        schedule.statusSent(now: at(10_105), reported: true)
        #expect(!schedule.isStatusDue(now: at(10_200)))
        #expect(schedule.millisecondsUntilDue(now: at(10_105)) == 10_000)
    }

    @Test("a skipped update (full send buffer) leaves the new position due; a reply request is due at once")
    func skippedAndReply() {
        var schedule = schedule()
        schedule.confirmed(now: at(100))
        schedule.statusSent(now: at(105), reported: false)
        #expect(schedule.isStatusDue(now: at(106)), "the position was not reported yet")
        schedule.statusSent(now: at(106), reported: true)
        #expect(!schedule.isStatusDue(now: at(107)))

        schedule.replyAsked()
        #expect(schedule.isStatusDue(now: at(108)))
        #expect(schedule.millisecondsUntilDue(now: at(108)) == 1)
        schedule.statusSent(now: at(108), reported: true)
        #expect(!schedule.replyRequested)
        #expect(!schedule.isStatusDue(now: at(109)))
    }

    @Test("silence: a ping at half of deadAfter (once), dead at deadAfter; a message resets both")
    func liveness() {
        var schedule = schedule()
        #expect(schedule.liveness(now: at(9_999)) == .alive)
        #expect(schedule.liveness(now: at(10_000)) == .ping)
        #expect(schedule.liveness(now: at(10_500)) == .alive, "one ping per silence")
        #expect(schedule.liveness(now: at(20_000)) == .dead(silence: .seconds(20)))

        schedule.messageReceived(now: at(20_000))
        #expect(schedule.liveness(now: at(29_999)) == .alive)
        #expect(schedule.liveness(now: at(30_000)) == .ping, "a new silence is pinged again")
    }

    @Test("silence counts only while the consumer reads: a pause of more than a second between reads is not the walsender's")
    func pausedConsumer() {
        var schedule = schedule()
        schedule.readStarted(now: at(0))
        schedule.readEnded(now: at(1_000))
        // Backpressure: no read for 30 s, the walsender's messages wait unread.
        schedule.readStarted(now: at(31_000))
        // The second of silence while reading counts, the 30 s pause does not.
        #expect(schedule.liveness(now: at(31_000)) == .alive)
        #expect(schedule.liveness(now: at(39_999)) == .alive)
        #expect(schedule.liveness(now: at(40_000)) == .ping)
        // Gaps of a second or less are reading, and count.
        var reading = self.schedule()
        for second in 0..<20 {
            reading.readStarted(now: at(second * 1_000))
            reading.readEnded(now: at(second * 1_000 + 1))
        }
        #expect(reading.liveness(now: at(20_000)) == .dead(silence: .seconds(20)))
    }

    @Test("a send that stays stuck for deadAfter stalls the connection; a flush that empties the buffer clears it")
    func stalledSend() {
        var schedule = schedule()
        #expect(schedule.flushed(false, now: at(0)) == .fine)
        #expect(schedule.flushed(false, now: at(19_999)) == .fine)
        #expect(schedule.flushed(false, now: at(20_000)) == .stalled(for: .seconds(20)))
        #expect(schedule.flushed(true, now: at(20_001)) == .fine)
        #expect(schedule.flushed(false, now: at(30_000)) == .fine, "a new stall counts from its own start")
        #expect(schedule.flushed(false, now: at(49_999)) == .fine)
        #expect(schedule.flushed(false, now: at(50_000)) == .stalled(for: .seconds(20)))
    }
}
