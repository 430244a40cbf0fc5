public import XDR

/// Who may call a procedure.
public enum ProcedureAccess: Sendable, Hashable {
    /// Allowed before `CONNECT_OPEN` (authentication, feature queries, the open itself).
    case beforeOpen
    /// Needs an open connection; allowed on read-only connections.
    case read
    /// Needs an open read-write connection; a read-only one gets
    /// "operation forbidden: read only access prevents `api`".
    case write(api: String)
}

/// One procedure of one program: its number and its argument and reply types.
///
/// Generated from `Protocol/procedures.def`; both the client and the daemon use these types.
public protocol RPCProcedure: Sendable {
    /// The argument type (``XDRVoid`` when the procedure takes none).
    associatedtype Arguments: XDRCodable
    /// The reply type (``XDRVoid`` when the procedure returns nothing).
    associatedtype Reply: XDRCodable
    /// The program the procedure belongs to.
    static var program: RPCProgram { get }
    /// The procedure number.
    static var procedure: Int32 { get }
}
