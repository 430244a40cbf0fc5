import XMLTree

/// The small readers libvirt's network parser uses again and again, with its messages.
enum NetworkXMLReading {
    /// `yes`/`no` attributes (`virXMLPropTristateBool`).
    static func tristate(_ element: XMLElement?, _ attribute: String) throws(NetworkError) -> Bool? {
        guard let element, let text = element[attribute: attribute] else { return nil }
        switch text {
        case "yes": return true
        case "no": return false
        default: throw NetworkError(.xml, "Invalid value for attribute '\(attribute)' in element '\(element.name)': '\(text)'.")
        }
    }

    /// An unsigned attribute (`virXMLPropUInt`, base 10).
    static func unsigned(_ element: XMLElement?, _ attribute: String) throws(NetworkError) -> UInt32? {
        guard let element, let text = element[attribute: attribute] else { return nil }
        guard let value = UInt32(text) else {
            throw NetworkError(.xml, "Invalid value for attribute '\(attribute)' in element '\(element.name)': '\(text)'. Expected non-negative integer value")
        }
        return value
    }

    /// A UUID as `virUUIDParse` reads one (hex pairs, dashes allowed between them, surrounding
    /// blanks ignored), in the canonical form.
    static func canonicalUUID(_ text: String) -> String? {
        var nibbles: [UInt8] = []
        for scalar in text.unicodeScalars {
            switch scalar {
            case "0"..."9": nibbles.append(UInt8(scalar.value - 48))
            case "a"..."f": nibbles.append(UInt8(scalar.value - 87))
            case "A"..."F": nibbles.append(UInt8(scalar.value - 55))
            case "-" where nibbles.count % 2 == 0 && !nibbles.isEmpty && nibbles.count < 32: continue
            case " ", "\t", "\n":
                guard nibbles.isEmpty || nibbles.count == 32 else { return nil }
            default: return nil
            }
        }
        guard nibbles.count == 32 else { return nil }
        let digits = nibbles.map { String($0, radix: 16) }.joined()
        let groups = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(digits[digits.index(digits.startIndex, offsetBy: range.lowerBound)..<digits.index(digits.startIndex, offsetBy: range.upperBound)])
        }
        return groups.joined(separator: "-")
    }

    /// The trimmed text of the first child element `name`, or `nil` when absent or empty.
    static func childText(_ element: XMLElement, _ name: String) -> String? {
        guard let child = element.element(named: name) else { return nil }
        let text = child.text.trimmingCharacters(in: " \t\n\r")
        return text.isEmpty ? nil : text
    }
}

extension String {
    /// The string without leading and trailing characters in `set`.
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice.removeFirst() }
        while let last = slice.last, characters.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
