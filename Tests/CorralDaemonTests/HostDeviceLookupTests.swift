@testable import CorralDaemon
import DomainXML
import Foundation
import QEMUCommandLine
import Testing

/// Finding `<hostdev>` devices in a fake sysfs, and libvirt's messages for those the host lacks.
@Suite("Host device lookup")
struct HostDeviceLookupTests {
    /// A scratch root with one USB device (1234:beef at bus 3, device 7) and, when asked, VFIO
    /// with one PCI function bound to vfio-pci and one bound to another driver.
    static func host(vfio: Bool) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-sysfs-\(UUID().uuidString.prefix(8))").path + "/"
        let files = FileManager.default
        let usb = root + "sys/bus/usb/devices/3-1"
        try files.createDirectory(atPath: usb, withIntermediateDirectories: true)
        for (name, value) in [("idVendor", "1234"), ("idProduct", "beef"), ("busnum", "3"), ("devnum", "7")] {
            try (value + "\n").write(toFile: usb + "/" + name, atomically: true, encoding: .utf8)
        }
        // A hub without ids of its own is passed over.
        try files.createDirectory(atPath: root + "sys/bus/usb/devices/usb3", withIntermediateDirectories: true)
        guard vfio else { return root }
        try files.createDirectory(atPath: root + "dev/vfio", withIntermediateDirectories: true)
        try "".write(toFile: root + "dev/vfio/vfio", atomically: true, encoding: .utf8)
        try files.createDirectory(atPath: root + "sys/kernel/iommu_groups/12", withIntermediateDirectories: true)
        for (address, driver) in [("0000:06:02.0", "vfio-pci"), ("0000:07:00.0", "e1000e")] {
            let device = root + "sys/bus/pci/devices/" + address
            try files.createDirectory(atPath: device, withIntermediateDirectories: true)
            try "".write(toFile: device + "/config", atomically: true, encoding: .utf8)
            try files.createDirectory(atPath: root + "sys/bus/pci/drivers/" + driver, withIntermediateDirectories: true)
            try files.createSymbolicLink(atPath: device + "/driver", withDestinationPath: "../../../bus/pci/drivers/" + driver)
        }
        return root
    }

    static func definition(_ hostdevs: String) throws -> DomainDefinition {
        try DomainXMLParser.parse("<domain type='qemu'><name>h</name><memory>65536</memory><os><type machine='q35'>hvm</type></os><devices>\(hostdevs)</devices></domain>").definition
    }

    static func failure(_ lookup: HostDeviceLookup, _ definition: DomainDefinition) -> String? {
        do {
            _ = try lookup.bindings(for: definition)
            return nil
        } catch {
            return error.message
        }
    }

    @Test("USB devices are found by ids, by bus and device, or both; a missing optional one starts empty")
    func usb() throws {
        let root = try Self.host(vfio: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let lookup = HostDeviceLookup(root: root)
        let found = try lookup.bindings(for: try Self.definition("""
            <hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>
            <hostdev mode='subsystem' type='usb'><source><address bus='3' device='7'/></source></hostdev>
            <hostdev mode='subsystem' type='usb'><source startupPolicy='optional'><vendor id='0x1234'/><product id='0x0001'/></source></hostdev>
            """))
        #expect(found == [0: .usb(bus: 3, device: 7), 1: .usb(bus: 3, device: 7), 2: .usbMissing])
        #expect(Self.failure(lookup, try Self.definition("<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0x0001'/></source></hostdev>"))
            == "Did not find USB device 1234:0001")
        #expect(Self.failure(lookup, try Self.definition("<hostdev mode='subsystem' type='usb'><source><address bus='3' device='8'/></source></hostdev>"))
            == "Did not find USB device bus:3 device:8")
        let both = "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/><address bus='4' device='7'/></source></hostdev>"
        #expect(Self.failure(lookup, try Self.definition(both)) == "Did not find USB device 1234:beef bus:4 device:7")
    }

    @Test("PCI functions: libvirt's message without VFIO, then the function must exist and be bound to vfio-pci")
    func pci() throws {
        let pci = { (address: String, managed: String) in
            "<hostdev mode='subsystem' type='pci' managed='\(managed)'><source><address domain='0x0000' bus='0x\(address.prefix(2))' slot='0x\(address.dropFirst(3).prefix(2))' function='0x\(address.suffix(1))'/></source></hostdev>"
        }
        let bare = try Self.host(vfio: false)
        defer { try? FileManager.default.removeItem(atPath: bare) }
        #expect(Self.failure(HostDeviceLookup(root: bare), try Self.definition(pci("06:02.0", "no"))) == "host doesn't support passthrough of host PCI devices")
        let root = try Self.host(vfio: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let lookup = HostDeviceLookup(root: root)
        #expect(try lookup.bindings(for: try Self.definition(pci("06:02.0", "no"))) == [0: .pci])
        #expect(Self.failure(lookup, try Self.definition(pci("09:00.0", "no")))
            == "Device 0000:09:00.0 not found: could not access \(root)sys/bus/pci/devices/0000:09:00.0/config: No such file or directory")
        #expect(Self.failure(lookup, try Self.definition(pci("07:00.0", "no"))) == "PCI device 0000:07:00.0 is bound to e1000e, not vfio-pci")
        #expect(Self.failure(lookup, try Self.definition(pci("07:00.0", "yes")))?.contains("Corral does not rebind host drivers (managed='yes')") == true)
    }

    @Test("a mediated device is found by its UUID in sysfs, or refused in libvirt's words")
    func mediated() throws {
        let definition = try Self.definition("<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='C2177883-F1BB-47F0-914D-32A22E3A8804'/></source></hostdev>")
        #expect(Self.failure(HostDeviceLookup(root: "/nonexistent/"), definition) == "mediated device 'c2177883-f1bb-47f0-914d-32a22e3a8804' not found")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-sysfs-\(UUID().uuidString.prefix(8))").path + "/"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "sys/bus/mdev/devices/c2177883-f1bb-47f0-914d-32a22e3a8804", withIntermediateDirectories: true)
        #expect(try HostDeviceLookup(root: root).bindings(for: definition) == [0: .mediated])
    }

    @Test("a SCSI device of a host adapter is its SCSI generic node in sysfs; an iSCSI LUN needs none")
    func scsi() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-sysfs-\(UUID().uuidString.prefix(8))").path + "/"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "sys/bus/scsi/devices/3:0:1:2/scsi_generic/sg4", withIntermediateDirectories: true)
        let lookup = HostDeviceLookup(root: root)
        func device(_ adapter: String, _ unit: Int) -> String {
            "<hostdev mode='subsystem' type='scsi'><source><adapter name='\(adapter)'/><address bus='0' target='1' unit='\(unit)'/></source></hostdev>"
        }
        let iscsi = "<hostdev mode='subsystem' type='scsi'><source protocol='iscsi' name='iqn.2026-12.org.example:l/1'><host name='127.0.0.1'/></source></hostdev>"
        #expect(try lookup.bindings(for: try Self.definition(device("scsi_host3", 2) + iscsi)) == [0: .scsiGeneric(root + "dev/sg4"), 1: .iscsi(password: nil)])
        #expect(Self.failure(lookup, try Self.definition(device("scsi_host3", 5)))
            == "SCSI device 3:0:1:5 of adapter scsi_host3 was not found on the host: cannot open directory '\(root)sys/bus/scsi/devices/3:0:1:5/scsi_generic'")
        #expect(Self.failure(lookup, try Self.definition(device("host3", 2))) == "Cannot parse adapter name 'host3'")
    }
}
