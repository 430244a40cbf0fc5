import CorralJSON

/// QEMU's `key=value,…` option syntax (QemuOpts and keyval), written in one place.
///
/// Every value — and a leading implied value such as `-machine TYPE,…` — goes through
/// ``escape(_:)``, which doubles each `,` as QEMU reads it back, so no value taken from a domain
/// definition can end its key and start another one. (JSON options are escaped by
/// `JSONValue`'s writer; those two are the only ways values reach QEMU's argv.)
public enum QEMUKeyValue {
    /// `,` written `,,`: QEMU's escape for one value.
    public static func escape(_ value: String) -> String {
        guard value.utf8.contains(UInt8(ascii: ",")) else { return value }
        var out = ""
        out.reserveCapacity(value.utf8.count + 4)
        for c in value.unicodeScalars {
            out.unicodeScalars.append(c)
            if c == "," { out.unicodeScalars.append(",") }
        }
        return out
    }

    /// An implied first value (`-machine TYPE`, `-cpu MODEL`, `-vnc ADDRESS`), escaped. QEMU
    /// reads a first element with `=` before any `,` as a key, so such a value is refused.
    public static func implied(_ value: String) throws(CommandLineError) -> String {
        guard !value.isEmpty, !value.utf8.contains(UInt8(ascii: "=")) else {
            throw CommandLineError(.unsupported, "'\(value)' cannot be given to QEMU: it is empty or contains '='")
        }
        return escape(value)
    }

    /// `leading,key=value,…`, every value escaped. Keys are Corral's own constants.
    public static func render(_ leading: String?, _ pairs: [(String, String)]) throws(CommandLineError) -> String {
        var parts: [String] = []
        parts.reserveCapacity(pairs.count + 1)
        if let leading { parts.append(try implied(leading)) }
        for (key, value) in pairs { parts.append(key + "=" + escape(value)) }
        return parts.joined(separator: ",")
    }
}

extension QEMUKeyValue {
    /// A JSON option value as QEMU's dotted keys under `prefix` (`file.server.host=…`): objects
    /// by member, arrays by index, booleans `on`/`off`. The keys are Corral's own constants.
    static func dotted(_ prefix: String, _ value: JSONValue) -> [(String, String)] {
        switch value {
        case .null: return []
        case .bool(let on): return [(prefix, on ? "on" : "off")]
        case .number(let number): return [(prefix, number.text)]
        case .string(let text): return [(prefix, text)]
        case .array(let items): return items.enumerated().flatMap { dotted(prefix + ".\($0.offset)", $0.element) }
        case .object(let members): return members.flatMap { dotted(prefix + "." + $0.0, $0.1) }
        }
    }

    /// `key=value,…` with no leading value, every value escaped.
    public static func render(_ pairs: [(String, String)]) -> String {
        pairs.map { key, value in key + "=" + escape(value) }.joined(separator: ",")
    }
}
