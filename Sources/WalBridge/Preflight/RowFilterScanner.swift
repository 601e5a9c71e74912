/// The identifiers a row filter (`where:`) refers to: unquoted words folded
/// to lower case and quoted identifiers, outside string literals. A superset of
/// the columns it uses (a function name counts too), which is what a check
/// against the replica identity needs: it may refuse, never wrongly accept.
enum RowFilterScanner {
    static func identifiers(in filter: String) -> Set<String> {
        var result = Set<String>()
        let characters = Array(filter.unicodeScalars)
        var index = 0
        func isStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic }
        func isPart(_ c: Unicode.Scalar) -> Bool { isStart(c) || c == "$" || ("0"..."9").contains(c) }
        while index < characters.count {
            let c = characters[index]
            if c == "'" {
                // A string literal ('' inside is a quote); E'…' escapes are skipped the same way.
                index += 1
                while index < characters.count {
                    if characters[index] == "\\" { index += 2; continue }
                    if characters[index] == "'" {
                        if index + 1 < characters.count, characters[index + 1] == "'" { index += 2; continue }
                        break
                    }
                    index += 1
                }
                index += 1
            } else if c == "\"" {
                var name = String.UnicodeScalarView()
                index += 1
                while index < characters.count {
                    if characters[index] == "\"" {
                        if index + 1 < characters.count, characters[index + 1] == "\"" { name.append("\""); index += 2; continue }
                        break
                    }
                    name.append(characters[index])
                    index += 1
                }
                index += 1
                result.insert(String(name))
            } else if isStart(c) {
                var name = String.UnicodeScalarView()
                while index < characters.count, isPart(characters[index]) {
                    name.append(characters[index])
                    index += 1
                }
                result.insert(String(name).lowercased())
            } else if ("0"..."9").contains(c) {
                while index < characters.count, isPart(characters[index]) || characters[index] == "." { index += 1 }
            } else {
                index += 1
            }
        }
        return result
    }
}
