import CorralProtocol
import XMLTree

/// The `<nbd>` element of libvirt's migration cookie, for a migration that copies storage:
/// the source lists the disks it will copy with their sizes in bytes (`<disk target='vda'
/// capacity='…'/>`), the destination answers with the port of the NBD server it started
/// (`port='…'`).
struct MigrationNBD: Sendable, Equatable {
    struct Disk: Sendable, Equatable {
        var target: String
        var capacity: UInt64
    }

    var port: Int?
    var disks: [Disk] = []

    init(port: Int? = nil, disks: [Disk] = []) {
        self.port = port
        self.disks = disks
    }

    /// Reads the element, with libvirt's checks.
    init(_ element: XMLElement) throws(RemoteError) {
        if let text = element[attribute: "port"] {
            guard let value = Int(text), (0...65535).contains(value) else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "Malformed nbd port '\(text)'")
            }
            port = value == 0 ? nil : value
        }
        for disk in element.elements(named: "disk") {
            guard let target = disk[attribute: "target"], !target.isEmpty, target.utf8.count <= 64 else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "Malformed disk target")
            }
            guard let text = disk[attribute: "capacity"], let capacity = UInt64(text) else {
                throw RemoteError(code: .internalError, domain: .qemu, detail: "Malformed disk capacity: '\(disk[attribute: "capacity"] ?? "")'")
            }
            disks.append(Disk(target: target, capacity: capacity))
        }
    }

    /// The element as libvirt writes it, indented for the cookie.
    var element: String {
        let port = port.map { " port='\($0)'" } ?? ""
        guard !disks.isEmpty else { return "  <nbd\(port)/>\n" }
        var text = "  <nbd\(port)>\n"
        for disk in disks {
            text += "    <disk target='\(XMLTreeWriter.escape(disk.target, attribute: true))' capacity='\(disk.capacity)'/>\n"
        }
        return text + "  </nbd>\n"
    }
}
