/// Edit distance, used to suggest the valid key closest to a mistyped one.
public enum Levenshtein {
    /// The number of single-character insertions, deletions and substitutions
    /// that turn `a` into `b`.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// The candidate closest to `word`, with its distance (first wins a tie).
    public static func closest(to word: String, in candidates: [String]) -> (candidate: String, distance: Int)? {
        var best: (String, Int)?
        for candidate in candidates {
            let d = distance(word, candidate)
            if best == nil || d < best!.1 { best = (candidate, d) }
        }
        return best.map { (candidate: $0.0, distance: $0.1) }
    }
}
