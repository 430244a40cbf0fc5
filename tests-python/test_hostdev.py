"""<hostdev> on this host, which has no USB devices and no IOMMU: a missing USB device refuses the
start in libvirt's words, unless its startupPolicy is optional (the guest then starts with an
empty usb-host port waiting for it); a PCI function is refused as libvirt refuses it here, and
so is a mediated device; and nothing is left running after a refusal."""
import json
import os
import re

from conftest import run
from guest import domain_xml

USB = "<controller type='usb' model='qemu-xhci'/>"


def define(daemon, tmp_path, name, devices):
    (tmp_path / f"{name}.xml").write_text(domain_xml(name, str(tmp_path / f"{name}.log"), devices=USB + devices))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))


def test_missing_usb_device_refuses_the_start_unless_optional(daemon, tmp_path):
    define(daemon, tmp_path, "mandatory", "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>")
    started = run("virsh", "-c", daemon.uri, "start", "mandatory", check=False)
    assert started.returncode != 0 and "Did not find USB device 1234:beef" in started.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "mandatory").stdout.strip() == "shut off"
    assert not os.path.exists(os.path.join(daemon.dir, "run", "domains", "mandatory", "qemu.pid"))

    define(daemon, tmp_path, "optional",
           "<hostdev mode='subsystem' type='usb'><source startupPolicy='optional'><address bus='9' device='9'/></source><alias name='ua-stick'/></hostdev>")
    try:
        run("virsh", "-c", daemon.uri, "start", "optional")
        reply = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "optional",
                    json.dumps({"execute": "qom-get", "arguments": {"path": "/machine/peripheral/ua-stick", "property": "type"}})).stdout
        assert json.loads(reply)["return"] == "usb-host"
        live = run("virsh", "-c", daemon.uri, "dumpxml", "optional").stdout
        assert "<address type='usb' bus='0' port='1'/>" in live and "startupPolicy='optional'" in live
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "optional", check=False)
    assert daemon.alive()


def test_pci_function_is_refused_as_this_host_cannot_pass_it_through(daemon, tmp_path):
    define(daemon, tmp_path, "gpu", "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
           "<address domain='0x0000' bus='0x06' slot='0x02' function='0x0'/></source></hostdev>")
    started = run("virsh", "-c", daemon.uri, "start", "gpu", check=False)
    assert started.returncode != 0
    if not os.path.exists("/dev/vfio/vfio") or not os.listdir("/sys/kernel/iommu_groups"):
        assert "host doesn't support passthrough of host PCI devices" in started.stderr
    else:
        assert "Device 0000:06:02.0 not found" in started.stderr or "Corral does not rebind host drivers" in started.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "gpu").stdout.strip() == "shut off"


def test_a_mediated_device_the_host_lacks_refuses_the_start_in_libvirts_words(daemon, tmp_path):
    """A vGPU (`type='mdev'`): defined with its address on a root port and its UUID as libvirt
    writes it; at start the daemon looks for it under /sys/bus/mdev/devices, and this host has
    none."""
    uuid = "53764d0e-85a0-42b4-af5c-2046b460b1dc"
    define(daemon, tmp_path, "vgpu", f"<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on' ramfb='on'>"
           f"<source><address uuid='{uuid.upper()}'/></source></hostdev><graphics type='vnc' autoport='yes'/>")
    try:
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "vgpu").stdout
        assert "<hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='on' ramfb='on'>" in inactive
        assert f"<address uuid='{uuid}'/>" in inactive
        assert re.search(r"<address uuid='[^']*'/>\s*</source>\s*<address type='pci' domain='0x0000' bus='0x0\d'", inactive), inactive
        started = run("virsh", "-c", daemon.uri, "start", "vgpu", check=False)
        if not os.path.exists(f"/sys/bus/mdev/devices/{uuid}"):
            assert started.returncode != 0 and f"mediated device '{uuid}' not found" in started.stderr, started.stderr
            assert run("virsh", "-c", daemon.uri, "domstate", "vgpu").stdout.strip() == "shut off"
        # A vfio-pci mediated device does not boot (libvirt's check, at define).
        (tmp_path / "boot.xml").write_text(domain_xml("vgpuboot", None, devices=(
            f"<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='{uuid}'/></source><boot order='1'/></hostdev>")))
        refused = run("virsh", "-c", daemon.uri, "define", str(tmp_path / "boot.xml"), check=False)
        assert refused.returncode != 0
        assert "booting from assigned devices is not supported by mediated devices of model vfio-pci" in refused.stderr
    finally:
        run("virsh", "-c", daemon.uri, "undefine", "vgpu", check=False)
    assert daemon.alive()


def test_an_nvme_disk_is_refused_as_this_host_cannot_pass_its_controller_through(daemon, tmp_path):
    """`<disk type='nvme'>`: QEMU's userspace NVMe driver takes the controller through VFIO, as a
    PCI host device; defined as libvirt writes it, refused at start for the same reasons."""
    define(daemon, tmp_path, "nvmeguest", "<disk type='nvme' device='disk'><driver name='qemu' type='raw'/>"
           "<source type='pci' namespace='1'><address domain='0' bus='1' slot='0' function='0'/></source>"
           "<target dev='vdb' bus='virtio'/></disk>")
    try:
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "nvmeguest").stdout
        assert "<source type='pci' managed='yes' namespace='1'>" in inactive
        assert "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>" in inactive
        started = run("virsh", "-c", daemon.uri, "start", "nvmeguest", check=False)
        assert started.returncode != 0
        if not os.path.exists("/dev/vfio/vfio") or not os.listdir("/sys/kernel/iommu_groups"):
            assert "host doesn't support passthrough of host PCI devices" in started.stderr, started.stderr
        assert run("virsh", "-c", daemon.uri, "domstate", "nvmeguest").stdout.strip() == "shut off"
    finally:
        run("virsh", "-c", daemon.uri, "undefine", "nvmeguest", check=False)
    assert daemon.alive()


def test_a_vhost_scsi_device_is_refused_when_the_host_kernel_has_none(daemon, tmp_path):
    define(daemon, tmp_path, "vscsi", "<hostdev mode='subsystem' type='scsi_host'><source protocol='vhost' wwpn='naa.5123456789abcde0'/></hostdev>")
    try:
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "vscsi").stdout
        assert "<hostdev mode='subsystem' type='scsi_host' managed='no'>" in inactive
        assert re.search(r"wwpn='naa.5123456789abcde0'/>\s*<address type='pci'", inactive), inactive
        started = run("virsh", "-c", daemon.uri, "start", "vscsi", check=False)
        assert started.returncode != 0
        if not os.path.exists("/dev/vhost-scsi"):
            assert "vhost-scsi device file '/dev/vhost-scsi' cannot be found" in started.stderr, started.stderr
    finally:
        run("virsh", "-c", daemon.uri, "undefine", "vscsi", check=False)
    assert daemon.alive()
