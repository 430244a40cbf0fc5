import CorralJSON
import DomainXML

extension Builder {
    /// A virtio device's `<driver iommu ats packed page_per_vq>` as properties, which libvirt
    /// writes right after the device's driver (`qemuBuildVirtioDevProps`).
    static func virtioOptionMembers(_ options: DomainDefinition.VirtioOptions) -> [(String, JSONValue)] {
        options.properties.map { ($0.name, .bool($0.on)) }
    }
}
