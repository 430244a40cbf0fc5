import CorralJSON

/// Sets `key=value` in an option value, either a JSON object (keeping an existing property's JSON
/// type) or a QEMU `key=value,…` list (the first, key-less element is kept).
enum OptionValueEditor {
    static func set(_ modification: String, in value: QEMUOptionValue, label: String) throws(CommandLineError) -> QEMUOptionValue {
        guard let equals = modification.firstIndex(of: "=") else {
            throw CommandLineError(.passthrough, "\(label): modify '\(modification)' is not key=value")
        }
        let key = String(modification[..<equals])
        let newValue = String(modification[modification.index(after: equals)...])
        switch value {
        case .json(let json):
            guard case .object(var members) = json else {
                throw CommandLineError(.passthrough, "\(label): the option's JSON value is not an object")
            }
            let typed: JSONValue
            switch members.first(where: { $0.0 == key })?.1 {
            case .number?:
                guard let number = JSONNumber(text: newValue) else { throw CommandLineError(.passthrough, "\(label): '\(key)' is a number; '\(newValue)' is not") }
                typed = .number(number)
            case .bool?:
                switch newValue {
                case "true", "on", "yes": typed = .bool(true)
                case "false", "off", "no": typed = .bool(false)
                default: throw CommandLineError(.passthrough, "\(label): '\(key)' is a boolean; '\(newValue)' is not")
                }
            default:
                typed = .string(newValue)
            }
            if let index = members.firstIndex(where: { $0.0 == key }) {
                members[index].1 = typed
            } else {
                members.append((key, typed))
            }
            return .json(.object(members))
        case .text(let text):
            return .text(setting(key, QEMUKeyValue.escape(newValue), in: text))
        }
    }

    /// `key=escaped` set in a `key=value,…` list (replacing an existing `key`).
    static func setting(_ key: String, _ escaped: String, in value: String) -> String {
        var parts = splitOptionList(value)
        if let index = parts.firstIndex(where: { $0.hasPrefix(key + "=") }) {
            parts[index] = key + "=" + escaped
        } else {
            parts.append(key + "=" + escaped)
        }
        return parts.filter { !$0.isEmpty }.joined(separator: ",")
    }

    /// Splits on single commas (`,,` is an escaped comma).
    static func splitOptionList(_ value: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var iterator = Array(value).makeIterator()
        var pending: Character? = iterator.next()
        while let c = pending {
            pending = iterator.next()
            if c == "," {
                if pending == "," {
                    current += ",,"
                    pending = iterator.next()
                } else {
                    parts.append(current)
                    current = ""
                }
            } else {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }
}
