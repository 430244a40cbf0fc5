"""iSCSI on real guests, against a real target: tgtd (the user-space iSCSI target of the `tgt`
package) on a free port of the loopback address, its LUN backed by a file. As a disk: QEMU's
libiscsi client logs in (with CHAP and the password from a secret, and the initiator name the
XML gives), the guest writes through the LUN, and a wrong password fails the start in QEMU's
words. Given whole (`<hostdev type='scsi'>` with an iSCSI source): the guest's SCSI layer sees
the target's own device (its vendor, its data) through scsi-generic. The daemon serves on."""
import json
import random
import re
import subprocess

import libvirt
import pytest

from conftest import free_port, run
from guest import domain_xml, qemu_pid, remove_guests, wait_for, wait_for_boot
from test_guest_events import AGENT, guest_shell

TARGET = "iqn.2026-12.org.corral:tests"


class Target:
    """tgtd with one target and one LUN (`image`), on its own control port."""

    def __init__(self, tmp_path, image):
        self.port = free_port()
        self.control = str(random.randint(100, 9999))
        self.daemon = subprocess.Popen(["tgtd", "-f", "-C", self.control, "--iscsi", f"portal=127.0.0.1:{self.port}"],
                                       stdout=open(tmp_path / "tgtd.log", "w"), stderr=subprocess.STDOUT)
        wait_for(lambda: self.admin("--op", "show", "--mode", "target", check=False).returncode == 0, timeout=15, what="tgtd's control socket")
        self.admin("--op", "new", "--mode", "target", "--tid", "1", "-T", TARGET)
        self.admin("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", str(image))
        self.admin("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL")

    def admin(self, *args, check=True):
        return run("tgtadm", "-C", self.control, "--lld", "iscsi", *args, check=check)

    def require_chap(self, user, password):
        self.admin("--op", "new", "--mode", "account", "--user", user, "--password", password)
        self.admin("--op", "bind", "--mode", "account", "--tid", "1", "--user", user)

    def initiators(self):
        """The initiator names logged in now."""
        return re.findall(r"Initiator: (\S+)", self.admin("--op", "show", "--mode", "target").stdout)

    def close(self):
        self.daemon.terminate()
        try:
            self.daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()


@pytest.fixture
def lun(tmp_path):
    image = tmp_path / "lun.img"
    run("qemu-img", "create", "-q", "-f", "raw", str(image), "8M")
    target = Target(tmp_path, image)
    yield target, image
    target.close()


def test_guest_writes_through_an_iscsi_lun_with_chap(daemon, tmp_path, lun):
    target, image = lun
    target.require_chap("corral", "iscsi-secret-1")
    conn = libvirt.open(daemon.uri)
    secret = conn.secretDefineXML("<secret private='yes'><usage type='iscsi'><target>lun-password</target></usage></secret>")
    secret.setValue(b"iscsi-secret-1")
    serial = str(tmp_path / "iscsi.log")
    initiator = "iqn.2026-12.org.corral:guest-1"
    disk = (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='iscsi' name='{TARGET}/1'><host name='127.0.0.1' port='{target.port}'/>"
            f"<auth username='corral'><secret type='iscsi' usage='lun-password'/></auth>"
            f"<initiator><iqn name='{initiator}'/></initiator></source>"
            f"<target dev='vda' bus='virtio'/></disk>")
    xml = domain_xml("iscsiguest", serial, devices=disk).replace("quiet panic=-1", "quiet panic=-1 corral.counter")
    (tmp_path / "iscsi.xml").write_text(xml)
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "iscsi.xml"))
        run("virsh", "-c", daemon.uri, "start", "iscsiguest")
        # QEMU logged in under the XML's initiator name; the password is in no argument.
        assert initiator in target.initiators()
        pid = qemu_pid(daemon, "iscsiguest")
        assert "iscsi-secret-1" not in open(f"/proc/{pid}/cmdline").read()
        wait_for_boot(serial, timeout=90, what="the guest to boot")
        # The guest's counter lands in the LUN's backing file, one sector per count.
        wait_for(lambda: b"COUNTER 5" in image.read_bytes()[5 * 512:6 * 512], timeout=60, what="the guest's writes through iSCSI")
        stats = run("virsh", "-c", daemon.uri, "domblkstat", "iscsiguest", "vda").stdout
        assert int(re.search(r"wr_req (\d+)", stats).group(1)) > 0, stats
        run("virsh", "-c", daemon.uri, "destroy", "iscsiguest")
        wait_for(lambda: initiator not in target.initiators(), timeout=15, what="QEMU's session to end")
        # The wrong password: the target turns QEMU away and the start fails, saying so.
        secret.setValue(b"not-the-password")
        refused = run("virsh", "-c", daemon.uri, "start", "iscsiguest", check=False)
        assert refused.returncode != 0 and "Failed to log in to target. Status: Authentication failure" in refused.stderr, refused.stderr
        assert run("virsh", "-c", daemon.uri, "domstate", "iscsiguest").stdout.strip() == "shut off"
    finally:
        remove_guests(daemon, "iscsiguest")
        secret.undefine()
        conn.close()
    assert daemon.alive()


def test_an_iscsi_disk_plugged_into_a_running_guest(daemon, tmp_path, lun):
    target, image = lun
    serial = str(tmp_path / "hot.log")
    (tmp_path / "hot.xml").write_text(domain_xml("iscsihot", serial))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "hot.xml"))
        run("virsh", "-c", daemon.uri, "start", "iscsihot")
        wait_for_boot(serial, timeout=90, what="the guest to boot")
        (tmp_path / "disk.xml").write_text(
            f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='iscsi' name='{TARGET}/1'><host name='127.0.0.1' port='{target.port}'/></source>"
            f"<target dev='vdb' bus='virtio'/></disk>")
        run("virsh", "-c", daemon.uri, "attach-device", "iscsihot", str(tmp_path / "disk.xml"), "--live")
        assert target.initiators(), "QEMU did not log in to the target"
        blocks = run("virsh", "-c", daemon.uri, "domblklist", "iscsihot").stdout
        assert re.search(rf"vdb\s+{re.escape(TARGET)}/1", blocks), blocks
        run("virsh", "-c", daemon.uri, "detach-disk", "iscsihot", "vdb", "--live")
        wait_for(lambda: not target.initiators(), timeout=30, what="QEMU to log out when the disk goes")
    finally:
        remove_guests(daemon, "iscsihot")
    assert daemon.alive()


def test_an_iscsi_lun_given_whole_as_a_scsi_host_device(daemon, tmp_path, lun):
    target, image = lun
    with open(image, "r+b") as f:
        f.write(b"CORRAL-ISCSI-LUN")
    target.require_chap("corral", "iscsi-secret-2")
    conn = libvirt.open(daemon.uri)
    secret = conn.secretDefineXML("<secret private='yes'><usage type='iscsi'><target>whole-lun</target></usage></secret>")
    secret.setValue(b"iscsi-secret-2")
    serial = str(tmp_path / "whole.log")
    devices = ("<controller type='scsi' model='virtio-scsi'/>"
               f"<hostdev mode='subsystem' type='scsi'><source protocol='iscsi' name='{TARGET}/1'>"
               f"<host name='127.0.0.1' port='{target.port}'/><auth username='corral'><secret type='iscsi' usage='whole-lun'/></auth>"
               "</source></hostdev>" + AGENT)
    xml = domain_xml("wholelun", serial, devices=devices).replace("quiet panic=-1", "quiet panic=-1 corral.scsi")
    (tmp_path / "whole.xml").write_text(xml)
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "whole.xml"))
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "wholelun").stdout
        assert "<hostdev mode='subsystem' type='scsi' managed='no'>" in inactive
        assert "<address type='drive' controller='0' bus='0' target='0' unit='0'/>" in inactive
        run("virsh", "-c", daemon.uri, "start", "wholelun")
        assert target.initiators(), "QEMU did not log in to the target"
        wait_for(lambda: "agent=/dev/vport" in open(serial, errors="replace").read(), timeout=120, what="the guest agent")
        # The guest's SCSI layer reads the target's inquiry data and the LUN's first sector.
        guest_shell(daemon.uri, "wholelun",
                    "for d in /sys/bus/scsi/devices/*/vendor; do echo SCSI-VENDOR $(cat $d); done > /dev/ttyS0; "
                    "ls /sys/class/scsi_generic > /dev/ttyS0; head -c 16 /dev/sda > /dev/ttyS0; echo > /dev/ttyS0")
        wait_for(lambda: "CORRAL-ISCSI-LUN" in open(serial, errors="replace").read(), timeout=60, what="the guest to read the LUN")
        printed = open(serial, errors="replace").read()
        assert "SCSI-VENDOR IET" in printed and "sg0" in printed, printed[-2000:]
        nodes = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "wholelun",
                               '{"execute":"query-named-block-nodes","arguments":{"flat":true}}').stdout)["return"]
        assert any(node["node-name"] == "libvirt-1-backend" and node["drv"] == "iscsi" for node in nodes), nodes
        pid = qemu_pid(daemon, "wholelun")
        assert "iscsi-secret-2" not in open(f"/proc/{pid}/cmdline").read()
        # A SCSI device of a host adapter this host does not have: the start says which.
        (tmp_path / "local.xml").write_text(domain_xml("locallun", None, devices=(
            "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host7'/><address bus='0' target='1' unit='2'/></source></hostdev>")))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "local.xml"))
        refused = run("virsh", "-c", daemon.uri, "start", "locallun", check=False)
        assert refused.returncode != 0 and "SCSI device 7:0:1:2 of adapter scsi_host7 was not found on the host" in refused.stderr, refused.stderr
    finally:
        remove_guests(daemon, "wholelun", "locallun")
        secret.undefine()
        conn.close()
    assert daemon.alive()
