public import NIOCore
public import XDR

/// The error payload of a reply with status ``RPCMessageStatus/error`` (`remote_error`).
///
/// Clients use ``code``, ``domain``, ``message`` and ``level``; the rest is filled as libvirtd
/// fills it (`str1` the template, `str2` the detail, `int1 = int2 = -1`).
public struct RemoteError: Error, XDRCodable, Hashable, CustomStringConvertible {
    /// `virErrorNumber`.
    public var code: ErrorCode
    /// `virErrorDomain`.
    public var domain: ErrorDomain
    /// The fully formatted message a person reads.
    public var message: String?
    /// 2 = error, 1 = warning.
    public var level: Int32
    /// Unused by clients; sent as NULL.
    public var domainHandle: RemoteDomain?
    /// The printf template of the code.
    public var str1: String?
    /// The detail text.
    public var str2: String?
    /// Unused.
    public var str3: String?
    /// Unused (-1).
    public var int1: Int32
    /// Unused (-1).
    public var int2: Int32

    /// Creates an error as libvirtd reports it: `message` is the template with `detail` filled in.
    public init(code: ErrorCode, domain: ErrorDomain, detail: String) {
        self.code = code
        self.domain = domain
        self.message = code.format(detail)
        self.level = 2
        self.domainHandle = nil
        self.str1 = code.template
        self.str2 = detail
        self.str3 = nil
        self.int1 = -1
        self.int2 = -1
    }

    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) {
        code = ErrorCode(rawValue: try buffer.readXDRInt32())
        domain = ErrorDomain(rawValue: try buffer.readXDRInt32())
        message = try buffer.readXDROptional { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRString(maximumLength: RPCLimits.stringMaximum) }
        level = try buffer.readXDRInt32()
        domainHandle = try buffer.readXDROptional { (b: inout ByteBuffer) throws(XDRDecodingError) in try RemoteDomain(xdr: &b) }
        str1 = try buffer.readXDROptional { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRString(maximumLength: RPCLimits.stringMaximum) }
        str2 = try buffer.readXDROptional { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRString(maximumLength: RPCLimits.stringMaximum) }
        str3 = try buffer.readXDROptional { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRString(maximumLength: RPCLimits.stringMaximum) }
        int1 = try buffer.readXDRInt32()
        int2 = try buffer.readXDRInt32()
        // `remote_network *net`: a network handle {name, uuid}; skip it if present.
        if try buffer.readXDRBool() {
            _ = try buffer.readXDRString(maximumLength: RPCLimits.stringMaximum)
            _ = try RemoteUUID(xdr: &buffer)
        }
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeXDRInt32(code.rawValue)
        buffer.writeXDRInt32(domain.rawValue)
        buffer.writeXDROptional(message) { $0.writeXDRString($1) }
        buffer.writeXDRInt32(level)
        buffer.writeXDROptional(domainHandle) { $1.encode(into: &$0) }
        buffer.writeXDROptional(str1) { $0.writeXDRString($1) }
        buffer.writeXDROptional(str2) { $0.writeXDRString($1) }
        buffer.writeXDROptional(str3) { $0.writeXDRString($1) }
        buffer.writeXDRInt32(int1)
        buffer.writeXDRInt32(int2)
        buffer.writeXDRBool(false)
    }

    public var description: String { message ?? "error code \(code.rawValue) in domain \(domain.rawValue)" }
}

extension RemoteError {
    /// "unknown procedure: N" (`VIR_ERR_RPC`, domain RPC), which clients turn into "not supported".
    public static func unknownProcedure(_ procedure: Int32) -> RemoteError {
        RemoteError(code: .rpc, domain: .rpc, detail: "unknown procedure: \(procedure)")
    }

    /// The error for a read-only connection calling `api` (libvirt's public API reports it with
    /// no error domain, as libvirtd's answers show).
    public static func readOnly(api: String) -> RemoteError {
        RemoteError(code: .operationDenied, domain: .none, detail: "read only access prevents \(api)")
    }

    /// An invalid argument reported as libvirt's `virReportInvalidArg` reports it: the message
    /// alone, without the "invalid argument: " of the code's template.
    public static func invalidArgument(_ message: String, domain: ErrorDomain = .none) -> RemoteError {
        var error = RemoteError(code: .invalidArgument, domain: domain, detail: message)
        error.message = message
        return error
    }

    /// An internal error with the given detail.
    public static func internalError(_ detail: String, domain: ErrorDomain = .remote) -> RemoteError {
        RemoteError(code: .internalError, domain: domain, detail: detail)
    }
}
