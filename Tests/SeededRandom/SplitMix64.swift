/// SplitMix64 (Steele, Lea, Flood 2014): the small seeded generator the
/// tests' generated histories and the soak's fault schedule draw from, so a
/// failing seed replays the same run on every machine and Swift version.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform-enough integer in `range`, drawn from this generator alone
    /// (unlike `Int.random(in:using:)`, whose algorithm the standard library
    /// may change), so a seed draws the same schedule everywhere.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }
}
