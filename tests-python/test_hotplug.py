"""Hotplug: disks, CD-ROM media, interfaces, RNGs and SCSI controllers attached to and detached
from running guests with the real virsh and libvirt-python, seen from inside the guest through
its console; the persistent definition follows `--config`; events as libvirt sends them; and
libvirt's refusals."""
import json
import os
import re
import socket
import subprocess
import time

import pytest

from block_io import block_nodes, chained_disk, make_chain
from conftest import run
from guest import guest_files, read_until, wait_for
from test_console import Terminal

# Five root ports: the USB controller and the memory balloon libvirt adds take two at define
# (as they would under libvirtd), three stay free for hot-plug.
ROOT_PORTS = "".join(f"<controller type='pci' index='{n}' model='pcie-root-port'/>" for n in range(1, 6))


def hotplug_xml(name, devices=""):
    kernel, initrd = guest_files()
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>160</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='pty'/>{ROOT_PORTS}{devices}</devices>
</domain>"""


def image(path, size="16M", fmt="raw"):
    run("qemu-img", "create", "-q", "-f", fmt, str(path), size)
    return str(path)


@pytest.fixture
def guest(daemon, tmp_path):
    """"hp" defined with three free root ports and started, with a shell on its console."""
    (tmp_path / "hp.xml").write_text(hotplug_xml("hp", f"<disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "hp.xml"))
    console = boot_with_console(daemon, "hp")
    yield daemon, console, tmp_path
    console.close()
    run("virsh", "-c", daemon.uri, "destroy", "hp", check=False)
    run("virsh", "-c", daemon.uri, "undefine", "hp", check=False)


def boot_with_console(daemon, name):
    """Starts the defined domain `name` paused, opens `virsh console` on it, lets it run and waits
    for its shell; returns the terminal (the caller closes it)."""
    virsh(daemon, "start", name, "--paused")
    console = Terminal(["virsh", "-c", daemon.uri, "console", name])
    console.expect("Escape character")
    virsh(daemon, "resume", name)
    console.expect("/ # ", timeout=120)
    return console


def in_guest(console, command, expect, timeout=30):
    """Runs `command` in the guest's shell until its output holds `expect`."""
    deadline = time.time() + timeout
    while True:
        console.output = b""
        console.type(command + "\r")
        console.read_for(1.0)
        if expect.encode() in console.output:
            return
        assert time.time() < deadline, f"{expect!r} not seen in the guest: {console.output.decode(errors='replace')[-600:]}"


def virsh(daemon, *args, check=True):
    return run("virsh", "-c", daemon.uri, *args, check=check)


def test_a_disk_attached_live_is_seen_by_the_guest_and_detached_again(guest):
    daemon, console, tmp = guest
    disk = image(tmp / "extra.img")
    virsh(daemon, "attach-disk", "hp", disk, "vdb", "--live")
    live = virsh(daemon, "dumpxml", "hp").stdout
    assert "<target dev='vdb' bus='virtio'/>" in live and "<alias name='virtio-disk1'/>" in live
    # On a q35 guest it sits on the first free root port, as libvirt places it.
    assert "bus='0x01' slot='0x00'" in live
    assert "vdb" not in virsh(daemon, "dumpxml", "hp", "--inactive").stdout
    # The guest has no other virtio disk: its kernel calls the new one vda.
    in_guest(console, "cat /sys/block/vda/size", "32768")
    assert "vdb" in virsh(daemon, "domblklist", "hp").stdout
    stats = virsh(daemon, "domblkstat", "hp", "vdb").stdout
    assert "rd_req" in stats
    virsh(daemon, "detach-disk", "hp", "vdb", "--live")
    in_guest(console, "ls /sys/block/ | grep -c vda || true", "\n0")
    assert "vdb" not in virsh(daemon, "dumpxml", "hp").stdout
    # The block nodes went with the device: the same image attaches again.
    virsh(daemon, "attach-disk", "hp", disk, "vdc", "--live")
    in_guest(console, "cat /sys/block/vda/size", "32768")


def test_a_disk_attached_live_brings_its_described_backing_chain(guest):
    """A disk whose <backingStore> chain names images the headers do not: the guest reads each
    layer's bytes, so QEMU opened the layers the XML names; unplugged (after a daemon restart),
    every layer's node goes."""
    daemon, console, tmp = guest
    base, middle, top = make_chain(tmp)
    (tmp / "chain.xml").write_text(chained_disk(base, middle, top, target="vdb"))
    virsh(daemon, "attach-device", "hp", str(tmp / "chain.xml"), "--live")
    live = virsh(daemon, "dumpxml", "hp").stdout
    # The empty CD-ROM has node 1, so the image and its layers take 2, 3 and 4.
    assert f"<source file='{top}' index='2'/>" in live and "<backingStore type='file' index='4'>" in live
    # The raw base's 0x11 (octal 021), the middle's 0x22 ('"') and the top's 0x33 ('3').
    for skip, byte in ((0, "\\021"), (1, '"'), (2, "3")):
        in_guest(console, f"dd if=/dev/vda bs=65536 skip={skip} count=1 2>/dev/null | tr -d '{byte}' | wc -c; echo checked-$((6*7))", "\n0\r\nchecked-42")
    # A restarted daemon reads the layers' numbers back from the guest's status, so the unplug
    # below still frees every node.
    daemon.restart()
    assert virsh(daemon, "dumpxml", "hp").stdout == live
    # (The console went with the daemon it ran through: the guest is watched from QEMU's side.)
    virsh(daemon, "detach-device", "hp", str(tmp / "chain.xml"), "--live")
    chain_nodes = {f"libvirt-{number}-{kind}" for number in (2, 3, 4) for kind in ("format", "storage")}
    wait_for(lambda: not set(block_nodes(daemon, "hp")) & chain_nodes, what="the chain's block nodes to go")
    assert "vdb" not in virsh(daemon, "dumpxml", "hp").stdout


def test_a_transient_disk_attached_live_takes_the_guests_writes_in_its_overlay(guest):
    """The overlay (IMAGE.TRANSIENT-hp) is made before QEMU opens the disk; the guest's own
    writes land in it; it goes with the detached disk, and the image is untouched."""
    daemon, console, tmp = guest
    disk = image(tmp / "transient.qcow2", fmt="qcow2")
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x77 0 1M", disk)
    overlay = disk + ".TRANSIENT-hp"
    (tmp / "transient.xml").write_text(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>"
        "<target dev='vdb' bus='virtio'/><transient/></disk>")
    virsh(daemon, "attach-device", "hp", str(tmp / "transient.xml"), "--live")
    assert os.path.exists(overlay)
    assert "<transient/>" in virsh(daemon, "dumpxml", "hp").stdout
    in_guest(console, "cat /sys/block/vda/size", "32768")
    # The guest overwrites the first MiB, and reads its own writes back.
    in_guest(console, "dd if=/dev/zero of=/dev/vda bs=1M count=1 conv=fsync && echo written-$((6*7))", "written-42")
    in_guest(console, "echo 3 > /proc/sys/vm/drop_caches; head -c 1048576 /dev/vda | tr -d '\\000' | wc -c", "\n0")
    assert os.path.getsize(overlay) > 1024 * 1024
    virsh(daemon, "detach-disk", "hp", "vdb", "--live")
    in_guest(console, "ls /sys/block/ | grep -c vda || true", "\n0")
    deadline = time.time() + 10
    while os.path.exists(overlay) and time.time() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(overlay)
    check = run("qemu-io", "-f", "qcow2", "-r", "-c", "read -P 0x77 0 1M", disk, check=False)
    assert check.returncode == 0 and "Pattern verification failed" not in check.stdout, check.stdout


def test_live_and_config_together_keep_the_root_port_across_a_restart(guest):
    daemon, console, tmp = guest
    disk = image(tmp / "kept.qcow2", fmt="qcow2")
    virsh(daemon, "attach-disk", "hp", disk, "vdb", "--subdriver", "qcow2", "--live", "--config")
    inactive = virsh(daemon, "dumpxml", "hp", "--inactive").stdout
    assert "<target dev='vdb' bus='virtio'/>" in inactive and "bus='0x01'" in inactive
    assert "virtio-disk1" not in inactive  # libvirt's own aliases stay out of definitions
    virsh(daemon, "destroy", "hp")
    virsh(daemon, "start", "hp")
    live = virsh(daemon, "dumpxml", "hp").stdout
    assert "bus='0x01'" in live and "<alias name='virtio-disk1'/>" in live
    # Detached from the definition only: the running guest keeps it until it stops.
    virsh(daemon, "detach-disk", "hp", "vdb", "--config")
    assert "vdb" not in virsh(daemon, "dumpxml", "hp", "--inactive").stdout
    assert "vdb" in virsh(daemon, "dumpxml", "hp").stdout


def test_a_daemon_restart_keeps_hot_plugged_devices_and_their_node_names(guest):
    daemon, console, tmp = guest
    virsh(daemon, "attach-disk", "hp", image(tmp / "a.img"), "vdb", "--live")
    daemon.restart()
    live = virsh(daemon, "dumpxml", "hp").stdout
    assert "<alias name='virtio-disk1'/>" in live and "index=" in live
    # Statistics name the disk's node correctly after the restart, and it detaches.
    virsh(daemon, "domblkinfo", "hp", "vdb")
    virsh(daemon, "detach-disk", "hp", "vdb", "--live")
    assert "vdb" not in virsh(daemon, "dumpxml", "hp").stdout


def test_cdrom_media_change_and_eject(guest):
    daemon, console, tmp = guest
    iso = image(tmp / "media.iso", size="4M")
    virsh(daemon, "change-media", "hp", "sda", iso, "--insert", "--live")
    live = virsh(daemon, "dumpxml", "hp").stdout
    assert f"<source file='{iso}'" in live
    blk = virsh(daemon, "domblkinfo", "hp", "sda").stdout
    assert "4194304" in blk
    virsh(daemon, "change-media", "hp", "sda", "--eject", "--live")
    assert iso not in virsh(daemon, "dumpxml", "hp").stdout
    # Again, so the freed nodes' names do not collide.
    virsh(daemon, "change-media", "hp", "sda", iso, "--insert", "--live", "--config")
    assert iso in virsh(daemon, "dumpxml", "hp", "--inactive").stdout


def test_floppy_media_change_on_a_q35_guest(daemon, tmp_path):
    """A floppy drive (on q35's explicit isa-fdc) starts empty, takes a medium and gives it up."""
    (tmp_path / "fd.xml").write_text(hotplug_xml("fd", "<disk type='file' device='floppy'><target dev='fda'/></disk>"))
    virsh(daemon, "define", str(tmp_path / "fd.xml"))
    try:
        virsh(daemon, "start", "fd", "--paused")
        assert "<target dev='fda' bus='fdc'/>" in virsh(daemon, "dumpxml", "fd").stdout
        disk = image(tmp_path / "floppy.img", size="1440K")
        virsh(daemon, "change-media", "fd", "fda", disk, "--insert", "--live")
        blocks = json.loads(virsh(daemon, "qemu-monitor-command", "fd", '{"execute":"query-block"}').stdout)["return"]
        assert any(b.get("qdev", "").endswith("fdc0-0-0") and b.get("inserted", {}).get("file") == disk for b in blocks), blocks
        assert "1474560" in virsh(daemon, "domblkinfo", "fd", "fda").stdout
        virsh(daemon, "change-media", "fd", "fda", "--eject", "--live")
        assert disk not in virsh(daemon, "dumpxml", "fd").stdout
    finally:
        virsh(daemon, "destroy", "fd", check=False)
        virsh(daemon, "undefine", "fd", check=False)


def test_interfaces_and_rngs_plug_and_unplug_with_events(guest):
    daemon, console, tmp = guest
    # Events through a second virsh process: `virsh event --all` prints them as they come.
    watcher = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "hp", "--all", "--loop", "--timeout", "60"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    (tmp / "nic.xml").write_text("<interface type='user'><mac address='52:54:00:00:00:42'/><model type='virtio'/></interface>")
    virsh(daemon, "attach-device", "hp", str(tmp / "nic.xml"), "--live")
    live = virsh(daemon, "dumpxml", "hp").stdout
    assert "<mac address='52:54:00:00:00:42'/>" in live and "<alias name='net0'/>" in live
    in_guest(console, "cat /sys/class/net/*/address", "52:54:00:00:00:42")
    (tmp / "rng.xml").write_text("<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>")
    virsh(daemon, "attach-device", "hp", str(tmp / "rng.xml"), "--live")
    assert "<alias name='rng0'/>" in virsh(daemon, "dumpxml", "hp").stdout
    virsh(daemon, "detach-interface", "hp", "user", "--mac", "52:54:00:00:00:42", "--live")
    virsh(daemon, "detach-device-alias", "hp", "rng0", "--live")
    deadline = time.time() + 20
    while "rng0" in virsh(daemon, "dumpxml", "hp").stdout:
        assert time.time() < deadline, "rng0 never went"
        time.sleep(0.2)
    watcher.terminate()
    events = watcher.communicate(timeout=20)[0]
    assert "device-added" in events and "net0" in events and "rng0" in events
    assert events.count("device-removed") == 2


def test_refusals_match_libvirt(guest):
    daemon, console, tmp = guest
    disk = image(tmp / "r.img")
    # A target in use.
    result = virsh(daemon, "attach-disk", "hp", disk, "sda", "--live", check=False)
    assert result.returncode != 0 and "target sda already exists" in result.stderr
    # SATA disks do not hotplug; devices that are not there do not detach.
    result = virsh(daemon, "attach-disk", "hp", disk, "sdb", "--targetbus", "sata", "--live", check=False)
    assert "disk bus 'sata' cannot be hotplugged." in result.stderr
    # (virsh's detach-disk looks first; detach-device asks the daemon.)
    (tmp / "vdz.xml").write_text("<disk type='file' device='disk'><target dev='vdz'/></disk>")
    result = virsh(daemon, "detach-device", "hp", str(tmp / "vdz.xml"), "--live", check=False)
    assert "device not found: disk vdz not found" in result.stderr
    result = virsh(daemon, "detach-device", "hp", str(tmp / "vdz.xml"), "--config", check=False)
    assert "device not found: no target device vdz" in result.stderr
    result = virsh(daemon, "detach-device-alias", "hp", "nothing", "--live", check=False)
    assert "no device found with alias nothing" in result.stderr
    (tmp / "hostdev.xml").write_text("<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0' slot='1' function='0'/></source></hostdev>")
    result = virsh(daemon, "attach-device", "hp", str(tmp / "hostdev.xml"), "--live", check=False)
    assert "not supported" in result.stderr
    # No root port left after three.
    for n, target in enumerate(["vdb", "vdc", "vdd"]):
        virsh(daemon, "attach-disk", "hp", image(tmp / f"p{n}.img"), target, "--live")
    result = virsh(daemon, "attach-disk", "hp", disk, "vde", "--live", check=False)
    assert "No more available PCI slots" in result.stderr
    assert daemon.alive()


def test_interface_link_state_live_and_at_start(guest):
    daemon, console, tmp = guest
    (tmp / "nic.xml").write_text("<interface type='user'><mac address='52:54:00:00:00:43'/><model type='virtio'/></interface>")
    virsh(daemon, "attach-device", "hp", str(tmp / "nic.xml"), "--live", "--config")
    in_guest(console, "ip link set eth0 up; cat /sys/class/net/eth0/carrier", "\n1")
    virsh(daemon, "domif-setlink", "hp", "52:54:00:00:00:43", "down")
    assert "<link state='down'/>" in virsh(daemon, "dumpxml", "hp").stdout
    assert "down" in virsh(daemon, "domif-getlink", "hp", "52:54:00:00:00:43").stdout
    in_guest(console, "cat /sys/class/net/eth0/carrier", "\n0")
    virsh(daemon, "domif-setlink", "hp", "52:54:00:00:00:43", "up")
    in_guest(console, "cat /sys/class/net/eth0/carrier", "\n1")
    # Only the link changes live.
    (tmp / "model.xml").write_text("<interface type='user'><mac address='52:54:00:00:00:43'/><model type='e1000'/></interface>")
    result = virsh(daemon, "update-device", "hp", str(tmp / "model.xml"), "--live", check=False)
    assert "cannot modify network device model from virtio to e1000" in result.stderr
    # Down in the definition: down from the start.
    virsh(daemon, "domif-setlink", "hp", "52:54:00:00:00:43", "down", "--config")
    assert "<link state='down'/>" in virsh(daemon, "dumpxml", "hp", "--inactive").stdout
    virsh(daemon, "destroy", "hp")
    again = boot_with_console(daemon, "hp")
    try:
        assert "down" in virsh(daemon, "domif-getlink", "hp", "52:54:00:00:00:43").stdout
        in_guest(again, "ip link set eth0 up; cat /sys/class/net/eth0/carrier", "\n0")
    finally:
        again.close()


def test_a_channel_plugs_in_carries_bytes_and_unplugs(daemon, tmp_path):
    agent = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
    (tmp_path / "ch.xml").write_text(hotplug_xml("ch", agent))
    virsh(daemon, "define", str(tmp_path / "ch.xml"))
    console = boot_with_console(daemon, "ch")
    try:
        socket_path = str(tmp_path / "test-channel.sock")
        (tmp_path / "channel.xml").write_text(
            f"<channel type='unix'><source mode='bind' path='{socket_path}'/><target type='virtio' name='org.corral.test'/></channel>")
        virsh(daemon, "attach-device", "ch", str(tmp_path / "channel.xml"), "--live")
        live = virsh(daemon, "dumpxml", "ch").stdout
        assert "name='org.corral.test'" in live and "<alias name='channel1'/>" in live and "type='virtio-serial'" in live
        in_guest(console, "cat /sys/class/virtio-ports/*/name", "org.corral.test")
        # Bytes from the guest's port come out of the host's socket.
        host = socket.socket(socket.AF_UNIX)
        host.connect(socket_path)
        host.settimeout(20)
        console.type("for p in /sys/class/virtio-ports/*; do [ \"$(cat $p/name)\" = org.corral.test ] && echo hello-from-guest > /dev/$(basename $p); done\r")
        assert b"hello-from-guest" in host.recv(100)
        host.close()
        virsh(daemon, "detach-device", "ch", str(tmp_path / "channel.xml"), "--live")
        in_guest(console, "cat /sys/class/virtio-ports/*/name | grep -c org.corral.test", "\n0")
        assert "org.corral.test" not in virsh(daemon, "dumpxml", "ch").stdout
        # A UDP channel plugs in (QMP's `udp` chardev with its remote end) and unplugs. QEMU's
        # udp chardev never reports its host side open, so the guest's port waits to write, as
        # under libvirtd; test_serial_transports.py sends a serial port's bytes over UDP.
        (tmp_path / "udp.xml").write_text(
            "<channel type='udp'><source mode='connect' host='127.0.0.1' service='4599'/>"
            "<source mode='bind' host='127.0.0.1' service='4598'/><target type='virtio' name='org.corral.udp'/></channel>")
        virsh(daemon, "attach-device", "ch", str(tmp_path / "udp.xml"), "--live")
        in_guest(console, "cat /sys/class/virtio-ports/*/name", "org.corral.udp")
        chardevs = json.loads(virsh(daemon, "qemu-monitor-command", "ch", '{"execute":"query-chardev"}').stdout)["return"]
        assert {"label": "charchannel1", "filename": "udp"} in [{k: c[k] for k in ("label", "filename")} for c in chardevs], chardevs
        live = virsh(daemon, "dumpxml", "ch").stdout
        assert "<source mode='bind' host='127.0.0.1' service='4598'/>\n      <source mode='connect' host='127.0.0.1' service='4599'/>" in live
        virsh(daemon, "detach-device", "ch", str(tmp_path / "udp.xml"), "--live")
        in_guest(console, "cat /sys/class/virtio-ports/*/name | grep -c org.corral.udp", "\n0")
        # A pipe channel (QMP's `pipe` backend): the guest's bytes come out of PATH.out (with
        # one FIFO for both ways QEMU would read its own output back).
        fifo = str(tmp_path / "channel-pipe")
        os.mkfifo(fifo + ".in")
        os.mkfifo(fifo + ".out")
        reader = os.open(fifo + ".out", os.O_RDWR | os.O_NONBLOCK)
        feeder = os.open(fifo + ".in", os.O_RDWR | os.O_NONBLOCK)
        def plugged_channel_carries(kind, source, received):
            """A `kind` channel on `source` plugs in, the guest's bytes come out of the
            descriptor `received`, and it unplugs."""
            port = f"org.corral.{kind}"
            (tmp_path / f"{kind}.xml").write_text(f"<channel type='{kind}'>{source}<target type='virtio' name='{port}'/></channel>")
            virsh(daemon, "attach-device", "ch", str(tmp_path / f"{kind}.xml"), "--live")
            in_guest(console, "cat /sys/class/virtio-ports/*/name", port)
            console.type(f"for p in /sys/class/virtio-ports/*; do [ \"$(cat $p/name)\" = {port} ] && echo {kind}-from-guest > /dev/$(basename $p); done\r")
            read_until(received, f"{kind}-from-guest".encode(), timeout=20)
            virsh(daemon, "detach-device", "ch", str(tmp_path / f"{kind}.xml"), "--live")
            in_guest(console, f"cat /sys/class/virtio-ports/*/name | grep -c {port}", "\n0")

        plugged_channel_carries("pipe", f"<source path='{fifo}'/>", reader)
        os.close(reader)
        os.close(feeder)
        # A channel on a host serial line (QMP's `serial` backend; a pseudo-terminal here).
        controller, line = os.openpty()
        try:
            plugged_channel_carries("dev", f"<source path='{os.ttyname(line)}'/>", controller)
        finally:
            os.close(controller)
            os.close(line)
        # The guest agent's channel is untouched.
        assert virsh(daemon, "qemu-agent-command", "ch", '{"execute":"guest-ping"}').returncode == 0
    finally:
        console.close()
        virsh(daemon, "destroy", "ch", check=False)


def test_a_scsi_controller_then_a_scsi_disk(guest):
    daemon, console, tmp = guest
    disk = image(tmp / "scsi.img")
    result = virsh(daemon, "attach-disk", "hp", disk, "sdb", "--targetbus", "scsi", "--live", check=False)
    assert "the guest has no SCSI controller for sdb" in result.stderr
    (tmp / "scsi.xml").write_text("<controller type='scsi' index='0' model='virtio-scsi'/>")
    virsh(daemon, "attach-device", "hp", str(tmp / "scsi.xml"), "--live")
    virsh(daemon, "attach-disk", "hp", disk, "sdb", "--targetbus", "scsi", "--live")
    live = virsh(daemon, "dumpxml", "hp").stdout
    assert "<alias name='scsi0'/>" in live and "<alias name='scsi0-0-0-1'/>" in live
    blocks = json.loads(virsh(daemon, "qemu-monitor-command", "hp", '{"execute":"query-block"}').stdout)["return"]
    assert any(b.get("qdev") == "scsi0-0-0-1" and b["inserted"]["file"].endswith("scsi.img") for b in blocks if "inserted" in b)
    # A controller with a disk on it stays; without, it goes.
    result = virsh(daemon, "detach-device", "hp", str(tmp / "scsi.xml"), "--live", check=False)
    assert "device cannot be detached: device is busy" in result.stderr
    virsh(daemon, "detach-disk", "hp", "sdb", "--live")
    virsh(daemon, "detach-device", "hp", str(tmp / "scsi.xml"), "--live")
    assert "scsi0" not in virsh(daemon, "dumpxml", "hp").stdout


def test_a_guestfwd_channel_plugs_in_as_a_network_and_unplugs(guest):
    """libvirt's hot-plug of a guestfwd channel: its chardev (`chardev-add`), then a user-mode
    network whose guestfwd rule ends in it (`netdev_add`), no device; unplugged with
    `netdev_del` and `chardev-remove` at once, with the events; in the definition too."""
    daemon, console, tmp = guest
    watcher = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "hp", "--all", "--loop", "--timeout", "60"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    socket_path = str(tmp / "fwd.sock")
    fwd = (f"<channel type='unix'><source mode='bind' path='{socket_path}'/>"
           "<target type='guestfwd' address='10.0.2.1' port='4600'/></channel>")
    (tmp / "fwd.xml").write_text(fwd)
    virsh(daemon, "attach-device", "hp", str(tmp / "fwd.xml"), "--live")
    live = virsh(daemon, "dumpxml", "hp").stdout
    assert "<target type='guestfwd' address='10.0.2.1' port='4600'/>" in live and "<alias name='channel0'/>" in live
    assert "virtio-serial" not in live
    network = virsh(daemon, "qemu-monitor-command", "hp", "--hmp", "info network").stdout
    assert "channel0:" in network and "type=user" in network, network
    chardevs = json.loads(virsh(daemon, "qemu-monitor-command", "hp", '{"execute":"query-chardev"}').stdout)["return"]
    assert any(c["label"] == "charchannel0" and socket_path in c["filename"] for c in chardevs), chardevs
    # A second forward to another port is another channel; the first is found by its port.
    (tmp / "fwd2.xml").write_text(fwd.replace("4600", "4601").replace("fwd.sock", "fwd2.sock"))
    virsh(daemon, "attach-device", "hp", str(tmp / "fwd2.xml"), "--live", "--config")
    assert "<alias name='channel1'/>" in virsh(daemon, "dumpxml", "hp").stdout
    assert "port='4601'" in virsh(daemon, "dumpxml", "hp", "--inactive").stdout
    virsh(daemon, "detach-device", "hp", str(tmp / "fwd.xml"), "--live")
    live = virsh(daemon, "dumpxml", "hp").stdout
    assert "port='4600'" not in live and "port='4601'" in live
    network = virsh(daemon, "qemu-monitor-command", "hp", "--hmp", "info network").stdout
    assert "channel0:" not in network and "channel1:" in network, network
    chardevs = json.loads(virsh(daemon, "qemu-monitor-command", "hp", '{"execute":"query-chardev"}').stdout)["return"]
    assert not any(c["label"] == "charchannel0" for c in chardevs)
    virsh(daemon, "detach-device", "hp", str(tmp / "fwd2.xml"), "--live", "--config")
    assert "guestfwd" not in virsh(daemon, "dumpxml", "hp").stdout
    assert "guestfwd" not in virsh(daemon, "dumpxml", "hp", "--inactive").stdout
    watcher.terminate()
    events = watcher.communicate(timeout=20)[0]
    assert events.count("device-added") == 2 and events.count("device-removed") == 2, events
    assert daemon.alive()


def test_copy_on_read_and_sliced_disks_attach_and_leave_no_block_node_behind(guest):
    """A copy-on-read disk (its `libvirt-CoR-vdb` node above the format node) and a qcow2 image
    inside a storage slice (its `libvirt-N-slice-sto` node): the guest reads both, what it read
    through copy-on-read is now in the overlay, and the unplug frees every node of both."""
    daemon, console, tmp = guest
    base = image(tmp / "cor-base.qcow2", size="4M", fmt="qcow2")
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 64k", base)
    overlay = str(tmp / "cor-overlay.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay)
    (tmp / "cor.xml").write_text(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2' copy_on_read='on'/><source file='{overlay}'/>"
        "<target dev='vdb' bus='virtio'/></disk>")
    inner = image(tmp / "inner.qcow2", size="4M", fmt="qcow2")
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 64k", inner)
    data = open(inner, "rb").read()
    size = (len(data) + 511) // 512 * 512
    container = tmp / "container.img"
    container.write_bytes(b"\0" * 65536 + data + b"\0" * (size - len(data)))
    (tmp / "sliced.xml").write_text(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{container}'>"
        f"<slices><slice type='storage' offset='65536' size='{size}'/></slices></source><target dev='vdc' bus='virtio'/></disk>")
    before = set(block_nodes(daemon, "hp"))
    virsh(daemon, "attach-device", "hp", str(tmp / "cor.xml"), "--live")
    in_guest(console, "dd if=/dev/vda bs=65536 count=1 2>/dev/null | tr -d '\\021' | wc -c; echo checked-$((6*7))", "\n0\r\nchecked-42")
    virsh(daemon, "attach-device", "hp", str(tmp / "sliced.xml"), "--live")
    in_guest(console, "dd if=/dev/vdb bs=65536 count=1 2>/dev/null | tr -d '3' | wc -c; echo checked-$((6*7))", "\n0\r\nchecked-42")
    added = set(block_nodes(daemon, "hp")) - before
    sliced = int(re.search(rf"<source file='{container}' index='(\d+)'", virsh(daemon, "dumpxml", "hp").stdout).group(1))
    assert {"libvirt-CoR-vdb", f"libvirt-{sliced}-slice-sto", f"libvirt-{sliced}-storage"} <= added, added
    for name in ("cor.xml", "sliced.xml"):
        virsh(daemon, "detach-device", "hp", str(tmp / name), "--live")
    wait_for(lambda: not set(block_nodes(daemon, "hp")) & added, what="the disks' block nodes to go")
    # Copy-on-read wrote what the guest read into the overlay itself (depth 0).
    extents = json.loads(run("qemu-img", "map", "--output=json", "-f", "qcow2", overlay).stdout)
    assert any(extent["start"] == 0 and extent["depth"] == 0 and extent["data"] for extent in extents), extents
