extension String {
    /// Replaces every occurrence of `target` (no Foundation needed).
    func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var result = ""
        result.reserveCapacity(count + 4)
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}
