"""Character devices on QEMU's own displays: `type='vc'` (a text console of the guest's VNC,
SPICE or SDL display) and `type='spiceport'` (a named SPICE port channel), as libvirt runs them;
and libvirt's refusal, at define, of a SPICE channel or port in a guest without SPICE graphics."""
import json
import struct
import time
import zlib

import pytest

from conftest import run
from guest import domain_xml, remove_guests, wait_for


def png_pixels(data):
    """The unfiltered pixel bytes of an 8-bit RGB or RGBA PNG (what `virsh screenshot` writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6), header
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return b"".join(rows)


def lit_pixels(daemon, tmp_path, name):
    """How many bytes of the guest's screenshot are not black."""
    target = tmp_path / "shot.png"
    run("virsh", "-c", daemon.uri, "screenshot", name, str(target))
    return sum(1 for byte in png_pixels(target.read_bytes()) if byte > 0x20)


def test_a_vc_serial_port_shows_the_guest_console_on_its_vnc_display(daemon, tmp_path):
    """No video card: the serial port's text console is the display's only console, so what the
    guest writes to ttyS0 is drawn on it (read back with `virsh screenshot`)."""
    devices = ("<serial type='vc'/><console type='vc'/><graphics type='vnc' autoport='yes' listen='127.0.0.1'/>"
               "<video><model type='none'/></video>")
    (tmp_path / "vcs.xml").write_text(domain_xml("vcs", None, devices=devices))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "vcs.xml"))
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "vcs").stdout
        assert "<serial type='vc'>" in inactive and "<console type='vc'>" in inactive
        run("virsh", "-c", daemon.uri, "start", "vcs", "--paused")
        chardevs = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "vcs", '{"execute":"query-chardev"}').stdout)["return"]
        assert {"label": "charserial0", "filename": "vc", "frontend-open": True} in chardevs
        # Nothing from the guest yet: QEMU's title line of the console ("serial0 console") only.
        title = lit_pixels(daemon, tmp_path, "vcs")
        assert 0 < title < 10000
        run("virsh", "-c", daemon.uri, "resume", "vcs")
        # The guest's boot lines (CORRAL-GUEST-BOOTED …) are drawn in the console's text.
        wait_for(lambda: lit_pixels(daemon, tmp_path, "vcs") > 3 * title, timeout=90, what="the guest's text on the vc console")
        assert run("virsh", "-c", daemon.uri, "domstate", "vcs").stdout.strip() == "running"
    finally:
        remove_guests(daemon, "vcs")
    assert daemon.alive()


def test_spiceport_devices_are_named_spice_port_channels(daemon, tmp_path):
    devices = ("<serial type='spiceport'><source channel='org.qemu.console.serial.0'/></serial>"
               "<channel type='spiceport'><source channel='org.example.port.0'/><target type='virtio' name='org.example.port.0'/></channel>"
               "<graphics type='spice' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>")
    (tmp_path / "spp.xml").write_text(domain_xml("spp", None, devices=devices))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "spp.xml"))
        assert "<source channel='org.qemu.console.serial.0'/>" in run("virsh", "-c", daemon.uri, "dumpxml", "spp").stdout
        run("virsh", "-c", daemon.uri, "start", "spp")
        chardevs = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "spp", '{"execute":"query-chardev"}').stdout)["return"]
        assert {"label": "charserial0", "filename": "spiceport", "frontend-open": True} in chardevs
        assert {"label": "charchannel0", "filename": "spiceport", "frontend-open": False} in chardevs
        qtree = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "spp", "--hmp", "info qtree").stdout
        assert 'name = "org.example.port.0"' in qtree and 'chardev = "charchannel0"' in qtree
        # A spiceport cannot be plugged in later (libvirt's words).
        (tmp_path / "port.xml").write_text("<channel type='spiceport'><source channel='org.example.port.1'/><target type='virtio' name='org.example.port.1'/></channel>")
        refused = run("virsh", "-c", daemon.uri, "attach-device", "spp", str(tmp_path / "port.xml"), check=False)
        assert refused.returncode != 0 and "Hotplug unsupported for char device type 'spiceport'" in refused.stderr
        assert run("virsh", "-c", daemon.uri, "domstate", "spp").stdout.strip() == "running"
    finally:
        remove_guests(daemon, "spp")
    assert daemon.alive()


@pytest.mark.parametrize("device", [
    "<serial type='spiceport'><source channel='org.qemu.console.serial.0'/></serial>",
    "<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>",
    "<redirdev bus='usb' type='spicevmc'/>",
])
def test_a_spice_channel_without_spice_graphics_is_refused_at_define(daemon, tmp_path, device):
    (tmp_path / "nospice.xml").write_text(domain_xml("nospice", None, devices=device + "<graphics type='vnc'/>"))
    refused = run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nospice.xml"), check=False)
    kind = "spiceport" if "spiceport" in device else "spicevmc"
    assert refused.returncode != 0
    assert f"unsupported configuration: chardev '{kind}' not supported without spice graphics" in refused.stderr
    assert "nospice" not in run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout
    assert daemon.alive()
