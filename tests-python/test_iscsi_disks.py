"""iSCSI disks on real guests, against a real target: tgtd (the user-space iSCSI target of the
`tgt` package) on a free port of the loopback address, its LUN backed by a file. QEMU's
libiscsi client logs in (with CHAP and the password from a secret, and the initiator name the
XML gives), the guest writes through the LUN, and a wrong password fails the start in QEMU's
words; the daemon serves on."""
import os
import random
import re
import socket
import subprocess
import time

import libvirt
import pytest

from conftest import free_port, run
from guest import domain_xml, remove_guests, wait_for, wait_for_boot

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
        pid = int(re.search(r"pid='(\d+)'", open(os.path.join(daemon.dir, "run", "domains", "iscsiguest", "status.xml")).read()).group(1))
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
