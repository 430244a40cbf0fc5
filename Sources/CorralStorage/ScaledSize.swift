/// A size with libvirt's units (`virScaleInteger`): `bytes`/`b`, `KB` = 1000, `K`/`KiB` = 1024, and
/// so on up to `E`/`EiB`; case does not matter. The result must fit in 64 bits.
public enum ScaledSize {
    /// The number of bytes `text` in `unit` stands for, or libvirt's error.
    ///
    /// - Parameter element: the element's name, for "malformed capacity element".
    public static func bytes(_ text: String, unit: String?, element: String) throws(StorageError) -> UInt64 {
        let digits = text.trimmingCharacters(in: " \t\n\r")
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt64(digits) else {
            throw StorageError(.xml, "malformed \(element) element")
        }
        let scale = try Self.scale(of: unit ?? "")
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow else {
            throw StorageError(.overflow, "value too large: \(digits)\(unit ?? "")", fromUtility: true)
        }
        return product
    }

    /// The multiplier of a unit suffix.
    public static func scale(of unit: String) throws(StorageError) -> UInt64 {
        let lower = unit.lowercased()
        if lower.isEmpty || lower == "b" || lower == "byte" || lower == "bytes" { return 1 }
        let powers: [Character: Int] = ["k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6]
        guard let first = lower.first, let power = powers[first] else {
            throw StorageError(.invalidArgument, "unknown suffix '\(unit)'", fromUtility: true)
        }
        let rest = lower.dropFirst()
        let base: UInt64
        switch rest {
        case "", "ib": base = 1024
        case "b": base = 1000
        default: throw StorageError(.invalidArgument, "unknown suffix '\(unit)'", fromUtility: true)
        }
        var scale: UInt64 = 1
        for _ in 0..<power { scale *= base }  // at most 1024^6 = 2^60: no overflow
        return scale
    }
}

extension String {
    /// The string without leading and trailing characters of `set`.
    func trimmingCharacters(in set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view = view.dropFirst() }
        while let last = view.last, set.contains(last) { view = view.dropLast() }
        return String(view)
    }
}
