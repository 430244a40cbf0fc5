public import NIOCore
public import XDR

/// One `remote_typed_param`: a named value of one of libvirt's six parameter types (and strings).
///
/// The value's discriminant is libvirt's `virTypedParameterType`; an unknown one does not
/// decode (libvirtd answers it with `VIR_ERR_RPC` too).
public struct TypedParameter: XDRCodable, Hashable, Sendable {
    /// libvirt's `virTypedParameterType`.
    public enum Kind: Int32, Sendable, CaseIterable {
        case int = 1, uint = 2, longLong = 3, unsignedLongLong = 4, double = 5, boolean = 6, string = 7
    }

    /// A parameter's value.
    public enum Value: Hashable, Sendable {
        case int(Int32)
        case uint(UInt32)
        case longLong(Int64)
        case unsignedLongLong(UInt64)
        case double(Double)
        case boolean(Bool)
        case string(String)

        /// The wire discriminant.
        public var kind: Kind {
            switch self {
            case .int: .int
            case .uint: .uint
            case .longLong: .longLong
            case .unsignedLongLong: .unsignedLongLong
            case .double: .double
            case .boolean: .boolean
            case .string: .string
            }
        }

        /// The value as an unsigned integer when it is a non-negative integer of any width.
        public var unsignedValue: UInt64? {
            switch self {
            case .int(let v): v >= 0 ? UInt64(v) : nil
            case .uint(let v): UInt64(v)
            case .longLong(let v): v >= 0 ? UInt64(v) : nil
            case .unsignedLongLong(let v): v
            case .boolean(let v): v ? 1 : 0
            case .double, .string: nil
            }
        }
    }

    /// libvirt's `VIR_TYPED_PARAM_FIELD_LENGTH` less the NUL: the longest field name.
    public static let maximumFieldLength = 79

    /// The parameter's name (`cpu_time`, `block.0.rd.bytes`…).
    public var field: String
    public var value: Value

    /// Creates a parameter.
    public init(_ field: String, _ value: Value) {
        self.field = field
        self.value = value
    }

    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) {
        field = try buffer.readXDRString(maximumLength: RPCLimits.stringMaximum)
        let discriminant = try buffer.readXDRInt32()
        guard let kind = Kind(rawValue: discriminant) else { throw XDRDecodingError(.invalidValue(Int64(discriminant)), context: "remote_typed_param type") }
        switch kind {
        case .int: value = .int(try buffer.readXDRInt32())
        case .uint: value = .uint(try buffer.readXDRUInt32())
        case .longLong: value = .longLong(try buffer.readXDRInt64())
        case .unsignedLongLong: value = .unsignedLongLong(try buffer.readXDRUInt64())
        case .double: value = .double(try buffer.readXDRDouble())
        case .boolean: value = .boolean(try buffer.readXDRInt32() != 0)
        case .string: value = .string(try buffer.readXDRString(maximumLength: RPCLimits.stringMaximum))
        }
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeXDRString(field)
        buffer.writeXDRInt32(value.kind.rawValue)
        switch value {
        case .int(let v): buffer.writeXDRInt32(v)
        case .uint(let v): buffer.writeXDRUInt32(v)
        case .longLong(let v): buffer.writeXDRInt64(v)
        case .unsignedLongLong(let v): buffer.writeXDRUInt64(v)
        case .double(let v): buffer.writeXDRDouble(v)
        case .boolean(let v): buffer.writeXDRInt32(v ? 1 : 0)
        case .string(let v): buffer.writeXDRString(v)
        }
    }
}

extension Array where Element == TypedParameter {
    /// libvirt's `VIR_TYPED_PARAM_STRING_OKAY`: the client takes string parameters.
    public static let stringOkayFlag: UInt32 = 1 << 2

    /// The parameters a client receives: without strings unless it said it takes them.
    public func forClient(flags: UInt32) -> [TypedParameter] {
        flags & Self.stringOkayFlag != 0 ? self : filter { $0.value.kind != .string }
    }

    /// The value of `field`, if present.
    public subscript(field field: String) -> TypedParameter.Value? {
        first { $0.field == field }?.value
    }
}
