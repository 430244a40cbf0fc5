"""<bios useserial='yes'>: SeaBIOS writes its own messages to the guest's first serial port
(QEMU's `-machine graphics=off`), which a guest without it keeps silent until the kernel."""
from conftest import run
from guest import domain_xml, wait_for_boot


def boot(daemon, tmp_path, name, bios):
    serial = tmp_path / f"{name}.log"
    xml = domain_xml(name, str(serial)).replace("</os>", f"{bios}</os>")
    (tmp_path / f"{name}.xml").write_text(xml)
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))
    run("virsh", "-c", daemon.uri, "start", name)
    wait_for_boot(str(serial), timeout=60, what=f"{name} to boot")
    run("virsh", "-c", daemon.uri, "destroy", name)
    return serial.read_text(errors="replace")


def test_firmware_messages_reach_the_serial_port_only_when_asked(daemon, tmp_path):
    assert "SeaBIOS" in boot(daemon, tmp_path, "chatty", "<bios useserial='yes'/>")
    assert "SeaBIOS" not in boot(daemon, tmp_path, "quiet", "")
