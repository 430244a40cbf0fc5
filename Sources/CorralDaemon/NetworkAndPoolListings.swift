import CorralProtocol

/// Checks shared by the network and storage pool listings.
enum NetworkAndPoolListings {
    /// libvirt's server refuses a negative or too large `maxnames` before calling the driver.
    static func checkMaximum(_ maxnames: Int32, _ limit: String) throws(RemoteError) {
        guard maxnames >= 0, maxnames <= 16384 else {
            throw RemoteError(code: .rpc, domain: .rpc, detail: "maxnames > \(limit)")
        }
    }
}
