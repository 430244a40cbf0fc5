"""libvirt's whole PCI topology for x86 guests: PCIe switches (an upstream port on a root port,
downstream ports on it), the DMI-to-PCI bridge, and the expander buses (`pxb` on i440fx,
`pxb-pcie` on q35) with their bus numbers and NUMA nodes. The guest finds each device where the
definition put it; a device hot-plugged into a q35 guest takes a free downstream port as it
takes a free root port; the daemon serves on."""
import re

from conftest import run
from guest import remove_guests, wait_for
from test_guest_events import boot_with_agent, guest_shell, log_text

# PCI vendor:device IDs the guest reads in sysfs.
X3130_UPSTREAM, XIO3130_DOWNSTREAM = "0x104c:0x8232", "0x104c:0x8233"
VIRTIO_NET, E1000 = "0x1af4:0x1041", "0x8086:0x100e"
NUMA = "<cpu><numa><cell id='0' cpus='0' memory='64' unit='MiB'/><cell id='1' cpus='1' memory='64' unit='MiB'/></numa></cpu><vcpu>2</vcpu>"


def guest_pci_devices(uri, name, serial, marker):
    """The guest's PCI devices: {sysfs path below /sys/devices: (vendor:device, numa_node)}."""
    guest_shell(uri, name, f"for d in /sys/bus/pci/devices/*; do echo {marker} $(readlink -f $d) $(cat $d/vendor):$(cat $d/device) "
                           f"$(cat $d/numa_node); done > /dev/ttyS0; echo {marker}-END > /dev/ttyS0")
    wait_for(lambda: f"{marker}-END" in log_text(serial), timeout=30, what="the guest's PCI device list")
    found = {}
    for path, ids, node in re.findall(rf"{marker} /sys/devices/(\S+) (\S+) (-?\d+)", log_text(serial)):
        found[path] = (ids, int(node))
    return found


def nic(mac, model, address=""):
    return f"<interface type='user'><mac address='{mac}'/><model type='{model}'/>{address}</interface>"


def test_a_device_behind_a_pcie_switch_and_one_hot_plugged_there(daemon, tmp_path):
    serial = str(tmp_path / "sw.log")
    controllers = ("<controller type='pci' index='1' model='pcie-root-port'/>"
                   "<controller type='pci' index='2' model='pcie-switch-upstream-port'/>"
                   "<controller type='pci' index='3' model='pcie-switch-downstream-port'/>"
                   "<controller type='pci' index='4' model='pcie-switch-downstream-port'/>"
                   "<controller type='pci' index='5' model='pcie-switch-downstream-port'/>")
    try:
        # The NIC and the agent's virtio-serial controller take two downstream ports; no balloon
        # and no USB controller take the third.
        boot_with_agent(daemon.uri, "sw", serial, tmp_path, devices=controllers + nic("52:54:00:5e:00:01", "virtio")
                        + "<controller type='usb' model='none'/><memballoon model='none'/>")
        defined = run("virsh", "-c", daemon.uri, "dumpxml", "sw", "--inactive").stdout
        # The switch as libvirt lays it out: the upstream port on the root port, the downstream
        # ports on the upstream port, each with its chassis and port; the NIC on the first.
        assert re.search(r"index='2' model='pcie-switch-upstream-port'>\s*<model name='x3130-upstream'/>\s*"
                         r"<address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>", defined), defined
        assert re.search(r"index='4' model='pcie-switch-downstream-port'>\s*<model name='xio3130-downstream'/>\s*"
                         r"<target chassis='4' port='0x1'/>\s*<address type='pci' domain='0x0000' bus='0x02' slot='0x01'", defined), defined
        assert "bus='0x03' slot='0x00'" in defined.split("<interface")[1].split("</interface>")[0]
        devices = guest_pci_devices(daemon.uri, "sw", serial, "PCI1")
        kinds = sorted(ids for ids, _ in devices.values())
        assert kinds.count(X3130_UPSTREAM) == 1 and kinds.count(XIO3130_DOWNSTREAM) == 3, kinds
        # The NIC sits below root port, upstream port and downstream port.
        [path] = [p for p, (ids, _) in devices.items() if ids == VIRTIO_NET]
        chain = [devices.get("/".join(path.split("/")[:n]), ("", 0))[0] for n in range(3, 5)]
        assert chain == [X3130_UPSTREAM, XIO3130_DOWNSTREAM], (path, chain)
        # A NIC plugged in without an address takes the next free downstream port.
        (tmp_path / "nic.xml").write_text(nic("52:54:00:5e:00:02", "virtio"))
        run("virsh", "-c", daemon.uri, "attach-device", "sw", str(tmp_path / "nic.xml"), "--live")
        live = run("virsh", "-c", daemon.uri, "dumpxml", "sw").stdout
        plugged = [i for i in live.split("<interface")[1:] if "52:54:00:5e:00:02" in i][0]
        assert "bus='0x05' slot='0x00'" in plugged, plugged
        after = guest_pci_devices(daemon.uri, "sw", serial, "PCI2")
        nics = [p for p, (ids, _) in after.items() if ids == VIRTIO_NET]
        assert len(nics) == 2 and all(after.get("/".join(p.split("/")[:4]), ("",))[0] == XIO3130_DOWNSTREAM for p in nics), nics
    finally:
        remove_guests(daemon, "sw")
    assert daemon.alive()


def test_expander_buses_give_the_guest_further_root_buses_on_their_numa_nodes(daemon, tmp_path):
    pc_serial, q35_serial = str(tmp_path / "pxb.log"), str(tmp_path / "pxbe.log")
    try:
        # i440fx: a pxb on NUMA node 1 (bus number 254, libvirt's default), an e1000 on it.
        boot_with_agent(daemon.uri, "pxb", pc_serial, tmp_path, machine="pc", extra=NUMA, devices=(
            "<controller type='pci' index='1' model='pci-expander-bus'><target><node>1</node></target></controller>"
            + nic("52:54:00:5e:00:03", "e1000", "<address type='pci' bus='0x01' slot='0x00'/>")))
        assert "<target busNr='254'>" in run("virsh", "-c", daemon.uri, "dumpxml", "pxb", "--inactive").stdout
        # The guest has a root bus 0xfe, on node 1, with the pxb's own bridge; the NIC is there.
        devices = guest_pci_devices(daemon.uri, "pxb", pc_serial, "PXB")
        [path] = [p for p, (ids, _) in devices.items() if ids == E1000]
        assert path.startswith("pci0000:fe/") and devices[path][1] == 1, devices
        # q35: a pxb-pcie on node 1 with a root port on it, a virtio NIC behind that port.
        boot_with_agent(daemon.uri, "pxbe", q35_serial, tmp_path, extra=NUMA, devices=(
            "<controller type='pci' index='1' model='pcie-expander-bus'><target busNr='200'><node>1</node></target></controller>"
            "<controller type='pci' index='2' model='pcie-root-port'><address type='pci' bus='0x01' slot='0x00'/></controller>"
            + nic("52:54:00:5e:00:04", "virtio", "<address type='pci' bus='0x02' slot='0x00'/>")))
        devices = guest_pci_devices(daemon.uri, "pxbe", q35_serial, "PXBE")
        [path] = [p for p, (ids, _) in devices.items() if ids == VIRTIO_NET]
        assert path.startswith("pci0000:c8/0000:c8:00.0/") and devices[path][1] == 1, devices
    finally:
        remove_guests(daemon, "pxb", "pxbe")
    assert daemon.alive()
