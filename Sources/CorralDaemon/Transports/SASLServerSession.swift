import CSASL
import Foundation
import NIOConcurrencyHelpers

/// One client's SASL exchange through Cyrus SASL (libsasl2), as libvirtd runs it: the service
/// is `libvirt`, so mechanisms, users and their database come from the host's
/// `/etc/sasl2/libvirt.conf` (or `$SASL_CONF_PATH`), and `saslpasswd2 -a libvirt USER` adds a
/// user for both daemons.
///
/// A session is used by one connection, one step at a time (the connection refuses a step while
/// another runs), possibly from a worker thread; the lock makes that hand-over safe, which is
/// why the class is `@unchecked Sendable` (libsasl2's handle is a plain C pointer).
final class SASLServerSession: @unchecked Sendable {
    /// A step's outcome.
    enum StepResult: Sendable, Equatable {
        /// The mechanism wants another round; send these bytes (`nil`: no data, not even empty).
        case continueWith([UInt8]?)
        /// Authenticated; the last bytes for the client, if any.
        case complete([UInt8]?)
    }

    /// SASL failed; the detail goes to the log, the client gets libvirt's "authentication failed".
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let handle: OpaquePointer
    private let lock = NIOLock()

    /// The library is set up once per process.
    private static let initialized: Result<Void, Failure> = {
        let rc = sasl_server_init(nil, "libvirt")
        return rc == SASL_OK ? .success(()) : .failure(Failure(description: "cannot initialize SASL: \(String(cString: sasl_errstring(rc, nil, nil)))"))
    }()

    /// Opens a session for a client at `remote` (`address;port`) that reached `local`.
    ///
    /// - Parameters:
    ///   - externalSSF: The TLS key strength in bits when the connection is TLS (then no
    ///     security layer is negotiated), or 0 on plain TCP, where a layer of at least
    ///     `minimumSSF` is required (libvirt's `tcp_min_ssf`, 56).
    init(local: String?, remote: String?, externalSSF: UInt32, minimumSSF: UInt32) throws(Failure) {
        try Self.initialized.get()
        var conn: OpaquePointer?
        let rc = sasl_server_new("libvirt", nil, nil, local, remote, nil, 0, &conn)
        guard rc == SASL_OK, let conn else { throw Failure(description: "cannot open a SASL session: \(String(cString: sasl_errstring(rc, nil, nil)))") }
        let secure = externalSSF > 0
        let props = corral_sasl_set_security(conn, secure ? 0 : minimumSSF, secure ? 0 : 100_000, 0, externalSSF)
        guard props == SASL_OK else {
            var doomed: OpaquePointer? = conn
            sasl_dispose(&doomed)
            throw Failure(description: "cannot set SASL security properties: \(String(cString: sasl_errstring(props, nil, nil)))")
        }
        handle = conn
    }

    deinit {
        var doomed: OpaquePointer? = handle
        sasl_dispose(&doomed)
    }

    /// Runs `body` with the libsasl2 handle, one caller at a time.
    private func withConnection<T, E: Error>(_ body: (OpaquePointer) throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(handle)
    }

    /// The mechanisms the client may use, comma-separated (`AUTH_SASL_INIT`).
    func mechanisms() throws(Failure) -> String {
        try withConnection { conn throws(Failure) in
            var list: UnsafePointer<CChar>?
            let rc = sasl_listmech(conn, nil, "", ",", "", &list, nil, nil)
            guard rc == SASL_OK, let list else { throw detail(conn, rc, "cannot list SASL mechanisms") }
            return String(cString: list)
        }
    }

    /// The first step, with the client's chosen mechanism (`AUTH_SASL_START`).
    func start(mechanism: String, clientData: [UInt8]?) throws(Failure) -> StepResult {
        try withConnection { conn throws(Failure) in
            var out: UnsafePointer<CChar>?
            var outLength: UInt32 = 0
            let rc = Self.withOptionalBytes(clientData) { pointer, length in
                sasl_server_start(conn, mechanism, pointer, length, &out, &outLength)
            }
            return try result(conn, rc, out, outLength)
        }
    }

    /// A further step (`AUTH_SASL_STEP`).
    func step(clientData: [UInt8]?) throws(Failure) -> StepResult {
        try withConnection { conn throws(Failure) in
            var out: UnsafePointer<CChar>?
            var outLength: UInt32 = 0
            let rc = Self.withOptionalBytes(clientData) { pointer, length in
                sasl_server_step(conn, pointer, length, &out, &outLength)
            }
            return try result(conn, rc, out, outLength)
        }
    }

    /// The negotiated security strength in bits (0: no security layer).
    func securityStrength() -> UInt32 {
        withConnection { conn in
            var ssf: UInt32 = 0
            return corral_sasl_ssf(conn, &ssf) == SASL_OK ? ssf : 0
        }
    }

    /// The authenticated user.
    func username() -> String? {
        withConnection { conn in corral_sasl_username(conn).map { String(cString: $0) } }
    }

    /// The largest plain chunk ``encode(_:)`` takes at once.
    func maximumOutputChunk() -> Int {
        withConnection { conn in
            var size: UInt32 = 0
            return corral_sasl_max_outbuf(conn, &size) == SASL_OK && size > 0 ? Int(size) : 4096
        }
    }

    /// Wraps outgoing bytes in the security layer (at most ``maximumOutputChunk()`` at once).
    func encode(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> [UInt8] {
        try transform(bytes, with: sasl_encode, "cannot encode SASL data")
    }

    /// Unwraps incoming bytes; partial packets are kept by the library until complete.
    func decode(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> [UInt8] {
        try transform(bytes, with: sasl_decode, "cannot decode SASL data")
    }

    /// `sasl_encode` or `sasl_decode` on `bytes`; the library's output copied out.
    private func transform(
        _ bytes: UnsafeRawBufferPointer,
        with function: (OpaquePointer?, UnsafePointer<CChar>?, UInt32, UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafeMutablePointer<UInt32>?) -> Int32,
        _ what: String
    ) throws(Failure) -> [UInt8] {
        try withConnection { conn throws(Failure) in
            var out: UnsafePointer<CChar>?
            var outLength: UInt32 = 0
            let rc = function(conn, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), UInt32(bytes.count), &out, &outLength)
            guard rc == SASL_OK else { throw detail(conn, rc, what) }
            return Self.copy(out, outLength) ?? []
        }
    }

    private func result(_ conn: OpaquePointer, _ rc: Int32, _ out: UnsafePointer<CChar>?, _ length: UInt32) throws(Failure) -> StepResult {
        switch rc {
        case SASL_OK: return .complete(Self.copy(out, length))
        case SASL_CONTINUE: return .continueWith(Self.copy(out, length))
        default: throw detail(conn, rc, "SASL step failed")
        }
    }

    private func detail(_ conn: OpaquePointer, _ rc: Int32, _ what: String) -> Failure {
        let text = sasl_errdetail(conn).map { String(cString: $0) } ?? String(cString: sasl_errstring(rc, nil, nil))
        return Failure(description: "\(what): \(text)")
    }

    private static func copy(_ pointer: UnsafePointer<CChar>?, _ length: UInt32) -> [UInt8]? {
        guard let pointer else { return nil }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { Array(UnsafeBufferPointer(start: $0, count: Int(length))) }
    }

    private static func withOptionalBytes(_ bytes: [UInt8]?, _ body: (UnsafePointer<CChar>?, UInt32) -> Int32) -> Int32 {
        guard let bytes else { return body(nil, 0) }
        let empty: [CChar] = [0]
        return bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                // An empty but present input still needs a pointer.
                guard let base = chars.baseAddress else { return empty.withUnsafeBufferPointer { body($0.baseAddress, 0) } }
                return body(base, UInt32(chars.count))
            }
        }
    }
}
