import SeededRandom

/// One kind of fault the soak injects.
enum FaultKind: String, CaseIterable, Sendable {
    case kill9 = "kill -9 walbridge"
    case sigterm = "SIGTERM walbridge"
    case postgresRestartFast = "postgres restart -m fast"
    case postgresRestartImmediate = "postgres restart -m immediate"
    case brokerDown = "broker down"
    case brokerLatency = "broker latency"
    case pathStall = "postgres path stall"
    case pathReset = "postgres path reset"
    case pathCut = "postgres path cut"

    /// Faults of one group act on the same thing, so two at once come from different groups.
    var group: Int {
        switch self {
        case .kill9, .sigterm: 0
        case .postgresRestartFast, .postgresRestartImmediate: 1
        case .brokerDown, .brokerLatency: 2
        case .pathStall, .pathReset, .pathCut: 3
        }
    }
}

/// One fault as scheduled: what, how long it lasts (seconds: the bridge's
/// downtime, the broker's outage, the stall …) and a parameter (latency in ms).
struct Fault: Sendable, CustomStringConvertible {
    let kind: FaultKind
    let seconds: Double
    let milliseconds: Int

    var description: String {
        switch kind {
        case .brokerLatency: "\(kind.rawValue) \(milliseconds) ms for \(format(seconds)) s"
        case .pathReset, .postgresRestartFast, .postgresRestartImmediate: kind.rawValue
        case .kill9, .sigterm: "\(kind.rawValue), restarted after \(format(seconds)) s"
        default: "\(kind.rawValue) for \(format(seconds)) s"
        }
    }
}

/// A scheduled step: at `at` seconds after the start, one fault, two at once, or a backfill.
struct Step: Sendable, CustomStringConvertible {
    enum Action: Sendable { case faults([Fault]), backfill(table: String) }
    let at: Double
    let action: Action

    var description: String {
        switch action {
        case .faults(let faults) where faults.count == 1: "t=\(format(at))s  \(faults[0])"
        case .faults(let faults): "t=\(format(at))s  TWO AT ONCE: " + faults.map(\.description).joined(separator: " + ")
        case .backfill(let table): "t=\(format(at))s  backfill: walbridge snapshot --table \(table)"
        }
    }

    var faultLabel: String {
        switch action {
        case .faults(let faults): faults.map(\.kind.rawValue).joined(separator: " + ")
        case .backfill(let table): "backfill of \(table)"
        }
    }
}

func format(_ seconds: Double) -> String {
    let tenths = Int((seconds * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

/// Draws the schedule for `minutes` from `seed`: a fault every 6–16 s, the kinds
/// dealt from a shuffled deck (every kind, and "two at once", once per round), a
/// backfill every 150–240 s. The last 20 s stay quiet.
func drawSchedule(seed: UInt64, minutes: Double) -> [Step] {
    var random = SplitMix64(seed: seed)
    let end = minutes * 60 - 20
    var steps: [Step] = []
    var deck: [FaultKind?] = []
    var t = Double(random.int(8...14))
    func fault(_ kind: FaultKind) -> Fault {
        switch kind {
        case .kill9: Fault(kind: kind, seconds: Double(random.int(2...30)) / 10, milliseconds: 0)
        case .sigterm: Fault(kind: kind, seconds: Double(random.int(2...30)) / 10, milliseconds: 0)
        case .postgresRestartFast, .postgresRestartImmediate, .pathReset: Fault(kind: kind, seconds: 0, milliseconds: 0)
        case .brokerDown: Fault(kind: kind, seconds: Double(random.int(20...120)) / 10, milliseconds: 0)
        case .brokerLatency: Fault(kind: kind, seconds: Double(random.int(30...120)) / 10, milliseconds: random.int(20...400))
        case .pathStall: Fault(kind: kind, seconds: Double(random.int(30...200)) / 10, milliseconds: 0)
        case .pathCut: Fault(kind: kind, seconds: Double(random.int(10...60)) / 10, milliseconds: 0)
        }
    }
    while t < end {
        if deck.isEmpty {
            deck = FaultKind.allCases.map { Optional($0) } + [nil]
            deck.shuffle(using: &random)
        }
        let next = deck.removeFirst()
        if let kind = next {
            steps.append(Step(at: t, action: .faults([fault(kind)])))
        } else {
            let first = FaultKind.allCases[random.int(0...FaultKind.allCases.count - 1)]
            let others = FaultKind.allCases.filter { $0.group != first.group }
            let second = others[random.int(0...others.count - 1)]
            steps.append(Step(at: t, action: .faults([fault(first), fault(second)])))
        }
        t += Double(random.int(60...160)) / 10
    }
    var b = Double(random.int(40...90))
    var table = random.int(0...1)
    while b < end - 30 {
        steps.append(Step(at: b, action: .backfill(table: table == 0 ? "public.users" : "public.orders")))
        table = 1 - table
        b += Double(random.int(150...240))
    }
    return steps.sorted { $0.at < $1.at }
}
