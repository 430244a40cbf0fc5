import CorralJSON
import DomainXML

extension Builder {
    /// The UEFI variable store as the second flash device: a file or a block device by path
    /// (QEMU takes a block device as such), or a network source through its block driver, as
    /// a network disk's storage node (`file.driver=nbd,file.server.…`).
    mutating func addVariableStore() throws(CommandLineError) {
        let flash: [(String, String)] = [("if", "pflash"), ("format", "raw"), ("unit", "1")]
        if let path = domain.os.nvram {
            add("-drive", QEMUKeyValue.render(flash + [("file", path)]))
        } else if let source = domain.os.nvramNetwork {
            guard source.authentication == nil else {
                throw CommandLineError(.unsupported, "the variable store's network source cannot use <auth>: Corral passes secrets to disks only")
            }
            let members = try networkStorageMembers(source, target: "pflash1", storageNode: "libvirt-pflash1-storage", authSecret: nil)
            add("-drive", QEMUKeyValue.render(flash + QEMUKeyValue.dotted("file", .object(members))))
        }
    }
}
