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
