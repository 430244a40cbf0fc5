"""A serial port's ISA address (<address type='isa' iobase irq>): dumpxml writes it as libvirt
does, and QEMU's isa-serial sits at that I/O base and IRQ."""
import json

from conftest import run
from guest import domain_xml, remove_guests


def test_a_serial_port_at_its_isa_address(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    # The first port where the second usually is.
    xml = domain_xml("isa", serial).replace(
        f"<source path='{serial}'/></serial>", f"<source path='{serial}'/><address type='isa' iobase='0x2f8' irq='3'/></serial>")
    (tmp_path / "g.xml").write_text(xml)
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        assert "<address type='isa' iobase='0x2f8' irq='0x3'/>" in run("virsh", "-c", daemon.uri, "dumpxml", "isa").stdout
        run("virsh", "-c", daemon.uri, "start", "isa")
        for prop, value in (("iobase", 0x2F8), ("irq", 3)):
            query = {"execute": "qom-get", "arguments": {"path": "/machine/peripheral/serial0", "property": prop}}
            assert json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "isa", json.dumps(query)).stdout)["return"] == value
    finally:
        remove_guests(daemon, "isa")
