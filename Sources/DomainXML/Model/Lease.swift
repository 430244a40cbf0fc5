import XMLTree

extension DomainDefinition {
    /// `<lease>`: a resource a lock manager (sanlock) holds for the guest while it runs.
    ///
    /// Corral has no lock manager; like libvirt's default (`lock_manager = "nop"` in qemu.conf),
    /// it keeps leases in the definition and acquires none.
    public struct Lease: Hashable, Sendable, ModelledElement {
        /// `<lockspace>`: the lock space the key lives in.
        public var lockspace: String
        /// `<key>`: the resource's name.
        public var key: String
        /// `<target path>`: the file or device holding the lease.
        public var path: String
        /// `<target offset>`: where in it the lease starts.
        public var offset: UInt64?

        static let schema = ElementSchema("lease", children: [.text("lockspace"), .text("key"), ElementSchema("target", attributes: ["path", "offset"])])

        /// Reads `<lease>` as libvirt does (virDomainLeaseDefParseXML), with its messages.
        init(_ element: XMLElement) throws(DomainXMLError) {
            guard let key = element.element(named: "key")?.text, !key.isEmpty else {
                throw DomainXMLError(.invalid, line: element.line, "Missing 'key' element for lease")
            }
            // libvirt fails here without a message of its own.
            guard let lockspace = element.element(named: "lockspace")?.text, !lockspace.isEmpty else {
                throw DomainXMLError(.invalid, line: element.line, "Missing 'lockspace' element for lease")
            }
            guard let target = element.element(named: "target") else {
                throw DomainXMLError(.invalid, line: element.line, "Missing 'target' element for lease")
            }
            guard let path = target[attribute: "path"] else {
                throw DomainXMLError(.invalid, line: target.line, "Missing 'path' attribute to 'target' element for lease")
            }
            if let text = target[attribute: "offset"] {
                guard let value = AttributeValues.libvirtUInt64(text) else {
                    throw DomainXMLError(.invalid, line: target.line, "Invalid value for attribute 'offset' in element 'target': '\(text)'. Expected non-negative integer value")
                }
                offset = value
            }
            self.key = key
            self.lockspace = lockspace
            self.path = path
        }
    }
}
