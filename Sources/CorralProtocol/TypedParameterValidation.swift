extension TypedParameter.Kind {
    /// libvirt's name of the type (`ullong`), as its messages spell it.
    public var name: String {
        switch self {
        case .int: "int"
        case .uint: "uint"
        case .longLong: "llong"
        case .unsignedLongLong: "ullong"
        case .double: "double"
        case .boolean: "boolean"
        case .string: "string"
        }
    }
}

/// Why a client's typed parameters were refused (libvirt's `virTypedParamsValidate`).
public enum TypedParameterProblem: Error, Hashable, Sendable {
    case repeated(String)
    case wrongType(field: String, given: TypedParameter.Kind, expected: TypedParameter.Kind)
    case unsupported(String)

    /// Whether the parameter is unknown (`VIR_ERR_ARGUMENT_UNSUPPORTED`) rather than misused.
    public var isUnsupported: Bool { if case .unsupported = self { true } else { false } }

    /// libvirt's message.
    public var message: String {
        switch self {
        case .repeated(let field): "parameter '\(field)' occurs multiple times"
        case .wrongType(let field, let given, let expected): "invalid type '\(given.name)' for parameter '\(field)', expected '\(expected.name)'"
        case .unsupported(let field): "parameter '\(field)' not supported"
        }
    }
}

extension Array where Element == TypedParameter {
    /// Checks the parameters against the names and types a call takes: each known, of its
    /// type, at most once.
    public func validate(against schema: [String: TypedParameter.Kind]) throws(TypedParameterProblem) {
        var seen = Set<String>()
        for parameter in self {
            guard let expected = schema[parameter.field] else { throw .unsupported(parameter.field) }
            guard seen.insert(parameter.field).inserted else { throw .repeated(parameter.field) }
            guard parameter.value.kind == expected else { throw .wrongType(field: parameter.field, given: parameter.value.kind, expected: expected) }
        }
    }
}
