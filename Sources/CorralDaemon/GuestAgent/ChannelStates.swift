import CorralProtocol
import DomainXML
import QEMUCommandLine
import XMLTree

/// A virtio channel's guest side opened or closed (QEMU's `VSERPORT_CHANGE`): the live document
/// says so on the channel's `<target state>`, as libvirt's does, and when the channel is the guest
/// agent's, clients get the agent lifecycle event.
extension DomainDriver {
    func serialPortChanged(alias: String, open: Bool, of record: DomainRecord) {
        guard let guest = record.runtime, let channel = guest.devices.characterDevices.first(where: { $0.role == .channel && $0.alias == alias }) else { return }
        let index = channel.index
        registry.updateGuest(record.uuid) { guest in
            guest.liveXML = DomainDocumentEdits.editingLive(guest.liveXML, id: guest.id) { document in
                document = DeviceXML.editing("channel", at: index, in: document) { element in
                    var element = element
                    element.updateElements { if $0.name == "target" && $0.namespace == nil { $0[attribute: "state"] = open ? "connected" : "disconnected" } }
                    return element
                }
            }
        }
        liveXMLChanged(record.uuid)
        if channel.targetName == "org.qemu.guest_agent.0" {
            // VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL = 2.
            events.agentLifecycle(record.handle, connected: open, reason: 2)
        }
    }
}
