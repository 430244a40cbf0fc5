import CorralJSON

/// Sets `key=value` in an option value, either a JSON object (keeping an existing property's JSON
/// type) or a QEMU `key=value,…` list (the first, key-less element is kept).
enum OptionValueEditor {
    static func set(_ modification: String, in value: String, label: String) throws(CommandLineError) -> String {
        guard let equals = modification.firstIndex(of: "=") else {
            throw CommandLineError(.passthrough, "\(label): modify '\(modification)' is not key=value")
        }
        let key = String(modification[..<equals])
        let newValue = String(modification[modification.index(after: equals)...])
        if value.hasPrefix("{") {
            guard case .object(var members)? = try? JSONValue.parse(value) else {
                throw CommandLineError(.passthrough, "\(label): the option's JSON value does not parse")
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
            return JSONValue.object(members).description
        }
        var parts = splitOptionList(value)
        let escaped = QEMUKeyValue.escape(newValue)
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

/// Reading the `id` of a `-device` value.
enum DeviceJSON {
    static func id(of value: String) -> String? {
        if value.hasPrefix("{") { return (try? JSONValue.parse(value))?["id"]?.stringValue }
        return OptionValueEditor.splitOptionList(value).first { $0.hasPrefix("id=") }.map { String($0.dropFirst(3)) }
    }
}
