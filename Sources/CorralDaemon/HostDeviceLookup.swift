import DomainXML
import Foundation
import QEMUCommandLine

/// Finds a definition's `<hostdev>` devices on the host before a start, in sysfs, and says in
/// libvirt's words why one cannot be given to the guest. `root` is `/` but for tests, which
/// build a fake sysfs.
struct HostDeviceLookup {
    struct Failure: Error {
        var message: String
    }

    var root = "/"

    /// The bindings of every host device of `definition` (blocking: it reads sysfs).
    func bindings(for definition: DomainDefinition) throws(Failure) -> [Int: CommandLineContext.HostDeviceBinding] {
        var bindings: [Int: CommandLineContext.HostDeviceBinding] = [:]
        for (index, hostDevice) in definition.devices.hostDevices.enumerated() {
            switch hostDevice.type {
            case .usb:
                guard let source = hostDevice.usb else { throw Failure(message: "USB host device is missing bus/device information") }
                if let found = usbDevice(source) {
                    bindings[index] = .usb(bus: found.bus, device: found.device)
                } else if hostDevice.startupPolicy == .optional {
                    bindings[index] = .usbMissing
                } else {
                    throw Failure(message: Self.missingUSBMessage(source))
                }
            case .pci:
                guard let address = hostDevice.hostPCIAddress else { throw Failure(message: "PCI host device is missing its address") }
                try checkPCI(address, managed: hostDevice.managed)
                bindings[index] = .pci
            case .scsi:
                if hostDevice.iscsi != nil {
                    // QEMU's iSCSI client reaches the LUN itself; its password comes from the secrets.
                    bindings[index] = .iscsi(password: nil)
                } else if let source = hostDevice.scsiHost {
                    bindings[index] = .scsiGeneric(try scsiGenericNode(source))
                } else {
                    throw Failure(message: "SCSI host device \(index) has no source")
                }
            case .mdev:
                // libvirt's check and words (virMediatedDeviceNew).
                guard let mediated = hostDevice.mediated, FileManager.default.fileExists(atPath: root + "sys/bus/mdev/devices/" + mediated.uuid) else {
                    throw Failure(message: "mediated device '\(hostDevice.mediated?.uuid ?? "")' not found")
                }
                bindings[index] = .mediated
            case .scsiHost:
                // libvirt's check and words (virSCSIVHostOpenVhostSCSI); a host with the kernel's
                // vhost-scsi still gets Corral's refusal (it does not open and pass the device yet).
                guard FileManager.default.fileExists(atPath: root + "dev/vhost-scsi") else {
                    throw Failure(message: "vhost-scsi device file '/dev/vhost-scsi' cannot be found")
                }
                throw Failure(message: "vhost-scsi host devices (type 'scsi_host') are not supported by Corral yet")
            }
        }
        return bindings
    }

    /// The SCSI generic node (`/dev/sgN`) of the host's SCSI device `source` names, found as
    /// libvirt finds it (`virSCSIDeviceGetSgName`: the adapter `scsi_hostN`'s device
    /// `N:bus:target:unit` in sysfs, and its `scsi_generic` entry).
    func scsiGenericNode(_ source: DomainDefinition.HostDevice.SCSIHostSource) throws(Failure) -> String {
        guard source.adapter.hasPrefix("scsi_host"), let host = UInt32(source.adapter.dropFirst("scsi_host".count)) else {
            throw Failure(message: "Cannot parse adapter name '\(source.adapter)'")
        }
        let directory = root + "sys/bus/scsi/devices/\(host):\(source.bus):\(source.target):\(source.unit)/scsi_generic"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory), let name = names.sorted().first(where: { $0.hasPrefix("sg") }) else {
            throw Failure(message: "SCSI device \(host):\(source.bus):\(source.target):\(source.unit) of adapter \(source.adapter) was not found on the host: cannot open directory '\(directory)'")
        }
        return root + "dev/" + name
    }

    /// libvirt's message for a USB device the host lacks (`virUSBDeviceFind…`).
    static func missingUSBMessage(_ source: DomainDefinition.HostDevice.USBSource) -> String {
        func hex(_ value: UInt16) -> String { String(repeating: "0", count: max(0, 4 - String(value, radix: 16).count)) + String(value, radix: 16) }
        switch (source.vendor, source.product, source.bus, source.device) {
        case (let vendor?, let product?, let bus?, let device?): return "Did not find USB device \(hex(vendor)):\(hex(product)) bus:\(bus) device:\(device)"
        case (let vendor?, let product?, _, _): return "Did not find USB device \(hex(vendor)):\(hex(product))"
        default: return "Did not find USB device bus:\(source.bus ?? 0) device:\(source.device ?? 0)"
        }
    }

    /// The bus and device number of the USB device `source` names, if the host has it.
    func usbDevice(_ source: DomainDefinition.HostDevice.USBSource) -> (bus: Int, device: Int)? {
        let directory = root + "sys/bus/usb/devices"
        for entry in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() {
            func read(_ name: String) -> String? {
                (try? String(contentsOfFile: "\(directory)/\(entry)/\(name)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let bus = read("busnum").flatMap({ Int($0) }), let device = read("devnum").flatMap({ Int($0) }) else { continue }
            if let vendor = source.vendor, read("idVendor").flatMap({ UInt16($0, radix: 16) }) != vendor { continue }
            if let product = source.product, read("idProduct").flatMap({ UInt16($0, radix: 16) }) != product { continue }
            if let wanted = source.bus, wanted != bus { continue }
            if let wanted = source.device, wanted != device { continue }
            return (bus, device)
        }
        return nil
    }

    /// Whether the PCI function at `address` can be given to the guest: the host has VFIO with
    /// IOMMU groups, the function exists, and it is bound to vfio-pci. A managed device (which
    /// libvirt would unbind from its host driver and bind to vfio-pci itself) is refused:
    /// Corral does not rebind host drivers.
    func checkPCI(_ address: DomainDefinition.PCIAddress, managed: Bool) throws(Failure) {
        let groups = (try? FileManager.default.contentsOfDirectory(atPath: root + "sys/kernel/iommu_groups")) ?? []
        guard FileManager.default.fileExists(atPath: root + "dev/vfio/vfio"), !groups.isEmpty else {
            throw Failure(message: "host doesn't support passthrough of host PCI devices")
        }
        let device = root + "sys/bus/pci/devices/" + address.description
        guard FileManager.default.fileExists(atPath: device + "/config") else {
            throw Failure(message: "Device \(address.description) not found: could not access \(device)/config: No such file or directory")
        }
        let driver = (try? FileManager.default.destinationOfSymbolicLink(atPath: device + "/driver")).map { ($0 as NSString).lastPathComponent }
        guard driver == "vfio-pci" else {
            let bound = driver.map { "is bound to \($0)" } ?? "has no driver"
            throw Failure(
                message: managed
                    ? "PCI device \(address.description) \(bound): Corral does not rebind host drivers (managed='yes'); bind it to vfio-pci and use managed='no'"
                    : "PCI device \(address.description) \(bound), not vfio-pci")
        }
    }
}
