"""<pcihole64> on the PCI root bus: the host bridge's 64-bit PCI window, as QEMU reports it on
both chipsets (the size given in any unit, kept in KiB)."""
import json

import pytest

from conftest import run
from guest import domain_xml, remove_guests


@pytest.mark.parametrize("machine, root, bridge, hole, size", [
    ("q35", "pcie-root", "/machine/q35", "<pcihole64 unit='GiB'>2</pcihole64>", 2 << 30),
    ("pc", "pci-root", "/machine/i440fx", "<pcihole64>1048577</pcihole64>", 1048577 << 10),
])
def test_the_host_bridge_gets_the_64_bit_window(daemon, tmp_path, machine, root, bridge, hole, size):
    name = f"hole-{machine}"
    controller = f"<controller type='pci' index='0' model='{root}'>{hole}</controller>"
    (tmp_path / "g.xml").write_text(domain_xml(name, str(tmp_path / "serial.log"), devices=controller, machine=machine))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        assert f"<pcihole64 unit='KiB'>{size >> 10}</pcihole64>" in run("virsh", "-c", daemon.uri, "dumpxml", name).stdout
        run("virsh", "-c", daemon.uri, "start", name)
        query = {"execute": "qom-get", "arguments": {"path": bridge, "property": "pci-hole64-size"}}
        reply = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, json.dumps(query)).stdout)
        assert reply["return"] == size
    finally:
        remove_guests(daemon, name)
