import CProcessDescriptors
import DomainXML
import Foundation

/// The host side of a guest's vsock, as libvirt sets it up (`qemuProcessOpenVhostVsock`): the
/// daemon opens `/dev/vhost-vsock`, binds the guest's context ID to it (the lowest free one
/// from 3 when automatic), and hands QEMU the descriptor.
enum VhostVsock {
    struct Failure: Error {
        var message: String
    }

    /// The lowest context ID a guest may have (0–2 are the hypervisor's, the loopback's and the host's).
    static let firstGuestCID: UInt32 = 3

    /// Opens the device and binds the context ID (blocking); the caller closes the descriptor
    /// once QEMU has it.
    static func acquire(_ vsock: DomainDefinition.Vsock, device: String = "/dev/vhost-vsock") throws(Failure) -> (descriptor: Int32, cid: UInt32) {
        let descriptor = open(device, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(message: "unable to open vhost-vsock device") }
        if vsock.autoCID {
            var cid = firstGuestCID
            while corral_vhost_vsock_set_guest_cid(descriptor, UInt64(cid)) != 0 {
                guard errno == EADDRINUSE, cid < UInt32.max - 1 else {
                    let reason = String(cString: strerror(errno))
                    close(descriptor)
                    throw Failure(message: "failed to set guest cid: \(reason)")
                }
                cid += 1
            }
            return (descriptor, cid)
        }
        let cid = vsock.cid ?? 0
        guard corral_vhost_vsock_set_guest_cid(descriptor, UInt64(cid)) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw Failure(message: "failed to set guest cid: \(reason)")
        }
        return (descriptor, cid)
    }
}
