"""What a disk shows the guest: <blockio> block sizes and a <geometry> reach QEMU's device on a
real guest, and dumpxml keeps them as libvirt writes them."""
import json
import re

from conftest import run
from guest import domain_xml, wait_for_boot


def qom_get(daemon, name, path, prop):
    message = {"execute": "qom-get", "arguments": {"path": path, "property": prop}}
    return json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, json.dumps(message)).stdout)["return"]


def test_block_sizes_and_geometry_reach_the_device(daemon, tmp_path):
    image = tmp_path / "disk.img"
    run("qemu-img", "create", "-q", "-f", "raw", str(image), "16M")
    serial = str(tmp_path / "serial.log")
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{image}'/>"
            f"<target dev='vda' bus='virtio'/><blockio logical_block_size='512' physical_block_size='4096'/>"
            f"<geometry cyls='520' heads='16' secs='4'/></disk>")
    (tmp_path / "g.xml").write_text(domain_xml("frontend", serial, devices=disk))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "frontend").stdout
        assert re.search(r"<source file='[^']*'/>\s*<geometry cyls='520' heads='16' secs='4'/>\s*"
                         r"<blockio logical_block_size='512' physical_block_size='4096'/>\s*<target dev='vda'", inactive), inactive
        run("virsh", "-c", daemon.uri, "start", "frontend")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        device = "/machine/peripheral/virtio-disk0"
        assert qom_get(daemon, "frontend", device, "logical_block_size") == 512
        assert qom_get(daemon, "frontend", device, "physical_block_size") == 4096
        assert [qom_get(daemon, "frontend", device, p) for p in ("cyls", "heads", "secs")] == [520, 16, 4]
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "frontend", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "frontend", check=False)


def test_transitional_virtio_devices_reach_the_guest_on_conventional_pci(daemon, tmp_path):
    """`model='virtio-transitional'` disks and NICs (and balloon, RNG): QEMU's transitional
    devices, behind the PCIe-to-PCI bridge libvirt adds; the guest reads the disk through them."""
    image = tmp_path / "disk.img"
    run("qemu-img", "create", "-q", "-f", "raw", str(image), "16M")
    serial = str(tmp_path / "serial.log")
    devices = (f"<disk type='file' device='disk' model='virtio-transitional'><driver name='qemu' type='raw'/><source file='{image}'/>"
               f"<target dev='vda' bus='virtio'/></disk>"
               "<interface type='user'><model type='virtio-transitional'/></interface>"
               "<memballoon model='virtio-transitional'/>"
               "<rng model='virtio-non-transitional'><backend model='random'>/dev/urandom</backend></rng>")
    (tmp_path / "g.xml").write_text(domain_xml("transitional", serial, devices=devices))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        assert "<controller type='pci' index='2' model='pcie-to-pci-bridge'>" in run("virsh", "-c", daemon.uri, "dumpxml", "transitional").stdout
        run("virsh", "-c", daemon.uri, "start", "transitional")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        kinds = {alias: qom_get(daemon, "transitional", f"/machine/peripheral/{alias}", "type") for alias in ("virtio-disk0", "net0", "balloon0", "rng0")}
        assert kinds == {"virtio-disk0": "virtio-blk-pci-transitional", "net0": "virtio-net-pci-transitional",
                         "balloon0": "virtio-balloon-pci-transitional", "rng0": "virtio-rng-pci-non-transitional"}, kinds
        stats = run("virsh", "-c", daemon.uri, "domblkstat", "transitional", "vda").stdout
        assert int(re.search(r"rd_req (\d+)", stats).group(1)) >= 1, stats
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "transitional", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "transitional", check=False)
