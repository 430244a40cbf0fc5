"""Network disks on real guests: an NBD export (qemu-nbd) the guest writes through, an HTTP
image (Scripts/range-http-server.py) QEMU reads with the guest's cookies, and a hot-plugged
HTTP disk; the cookies stay out of the command line and out of dumpxml without
--security-info; and the start-time refusals name what is missing."""
import json
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import ROOT, run, free_port
from guest import domain_xml, wait_for, qemu_pid, wait_for_boot



def wait_listening(port=None, path=None):
    def ready():
        if path:
            return os.path.exists(path)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(ready, timeout=15, what="the disk server")


def monitor(daemon, name, command, **arguments):
    message = {"execute": command} | ({"arguments": arguments} if arguments else {})
    return json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, json.dumps(message)).stdout)["return"]



@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "http"
    (root / "images").mkdir(parents=True)
    port = free_port()
    server = subprocess.Popen(["python3", str(ROOT / "Scripts" / "range-http-server.py"), str(root), str(port)])
    wait_listening(port=port)
    yield root, port
    server.terminate()
    server.wait()


def test_guest_writes_through_an_nbd_export(daemon, tmp_path):
    image = tmp_path / "export.img"
    run("qemu-img", "create", "-q", "-f", "raw", str(image), "8M")
    sock = tmp_path / "nbd.sock"
    server = subprocess.Popen(["qemu-nbd", "--persistent", "-f", "raw", "-x", "guestdisk", "-k", str(sock), str(image)])
    serial = str(tmp_path / "nbd.log")
    disk = (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='nbd' name='guestdisk'><host transport='unix' socket='{sock}'/></source>"
            f"<target dev='vda' bus='virtio'/></disk>")
    xml = domain_xml("nbdguest", serial, devices=disk).replace("quiet panic=-1", "quiet panic=-1 corral.counter")
    (tmp_path / "nbd.xml").write_text(xml)
    try:
        wait_listening(path=str(sock))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nbd.xml"))
        run("virsh", "-c", daemon.uri, "start", "nbdguest")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        blocks = monitor(daemon, "nbdguest", "query-named-block-nodes")
        storage = next(b for b in blocks if b["node-name"] == "libvirt-1-storage")
        assert storage["drv"] == "nbd" and "guestdisk" in storage["file"], storage
        # The guest's counter lands in the export's image, one sector per count.
        wait_for(lambda: b"COUNTER 5" in image.read_bytes()[5 * 512:6 * 512], timeout=60, what="the guest's writes through NBD")
        live = run("virsh", "-c", daemon.uri, "dumpxml", "nbdguest").stdout
        assert re.search(r"<source protocol='nbd' name='guestdisk' index='1'>\s*<host transport='unix' socket='[^']*nbd.sock'/>", live), live
        stats = run("virsh", "-c", daemon.uri, "domblkstat", "nbdguest", "vda").stdout
        assert int(re.search(r"wr_req (\d+)", stats).group(1)) > 0, stats
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "nbdguest", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "nbdguest", check=False)
        server.terminate()
        server.wait()


def test_http_disk_is_read_with_cookies_kept_secret(daemon, tmp_path, http_server):
    root, port = http_server
    run("qemu-img", "create", "-q", "-f", "raw", str(root / "images" / "base.img"), "4M")
    serial = str(tmp_path / "http.log")
    disk = (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='http' name='images/base.img' query='v=1'><host name='127.0.0.1' port='{port}'/>"
            f"<cookies><cookie name='session'>s3cr3t-cookie</cookie><cookie name='lang'>en</cookie></cookies>"
            f"<timeout seconds='20'/></source><target dev='vda' bus='virtio'/><readonly/></disk>")
    (tmp_path / "http.xml").write_text(domain_xml("httpguest", serial, devices=disk))
    run_dir = os.path.join(daemon.dir, "run", "domains", "httpguest")
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "http.xml"))
        # Without --security-info the cookies are not shown; with it they are.
        assert "s3cr3t-cookie" not in run("virsh", "-c", daemon.uri, "dumpxml", "httpguest").stdout
        assert "<cookie name='session'>s3cr3t-cookie</cookie>" in run("virsh", "-c", daemon.uri, "dumpxml", "--security-info", "httpguest").stdout
        run("virsh", "-c", daemon.uri, "start", "httpguest")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        # The guest's kernel read the disk (its partition table) through QEMU's curl driver,
        # which sent the cookies with each request.
        log = root / "requests.log"
        wait_for(lambda: log.exists() and "GET /images/base.img?v=1 cookie=session=s3cr3t-cookie; lang=en" in log.read_text(),
                 what="a ranged GET with the cookies")
        # The cookies are in a 0600 file of the run directory, not on the command line.
        cmdline = open(f"/proc/{qemu_pid(daemon, 'httpguest')}/cmdline", "rb").read().decode()
        assert "s3cr3t" not in cmdline and "cookie-secret" in cmdline
        secret = os.path.join(run_dir, "libvirt-1-storage-httpcookie-secret0.secret")
        assert os.stat(secret).st_mode & 0o777 == 0o600
        node = next(b for b in monitor(daemon, "httpguest", "query-named-block-nodes") if b["node-name"] == "libvirt-1-storage")
        assert node["drv"] == "http" and node["ro"] is True
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "httpguest", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "httpguest", check=False)
    assert not os.path.exists(os.path.join(run_dir, "libvirt-1-storage-httpcookie-secret0.secret"))


def test_http_disk_hot_plugged_with_a_cookie(daemon, tmp_path, http_server):
    root, port = http_server
    run("qemu-img", "create", "-q", "-f", "raw", str(root / "images" / "extra.img"), "4M")
    serial = str(tmp_path / "plug.log")
    (tmp_path / "plug.xml").write_text(domain_xml("plugguest", serial))
    disk = (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='http' name='/images/extra.img'><host name='127.0.0.1' port='{port}'/>"
            f"<cookies><cookie name='token'>tok-9f3e</cookie></cookies></source><target dev='vdb' bus='virtio'/><readonly/></disk>")
    (tmp_path / "disk.xml").write_text(disk)
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "plug.xml"))
        run("virsh", "-c", daemon.uri, "start", "plugguest")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        run("virsh", "-c", daemon.uri, "attach-device", "plugguest", str(tmp_path / "disk.xml"))
        log = root / "requests.log"
        wait_for(lambda: log.exists() and "/images/extra.img cookie=token=tok-9f3e" in log.read_text(), what="QEMU to open the plugged disk")
        live = run("virsh", "-c", daemon.uri, "dumpxml", "plugguest").stdout
        assert "<source protocol='http' name='/images/extra.img'" in live and "tok-9f3e" not in live
        run("virsh", "-c", daemon.uri, "detach-device", "plugguest", str(tmp_path / "disk.xml"))
        wait_for(lambda: "extra.img" not in run("virsh", "-c", daemon.uri, "dumpxml", "plugguest").stdout, what="the disk to go")
        # Its nodes and its secret went with it.
        names = [b["node-name"] for b in monitor(daemon, "plugguest", "query-named-block-nodes")]
        assert not any(n.startswith("libvirt-") for n in names), names
        assert not any(o["name"].endswith("httpcookie-secret0") for o in monitor(daemon, "plugguest", "qom-list", path="/objects"))
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "plugguest", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "plugguest", check=False)


@pytest.mark.parametrize("source, message", [
    ("<source protocol='iscsi' name='iqn.2013-07.com.example:t/1'><host name='127.0.0.1'/>"
     "<auth username='u'><secret type='iscsi' usage='x'/></auth></source>", "no secret with matching usage 'x'"),
    # TLS with no x509 files in the NBD directory (nbd_tls_x509_cert_dir's default): QEMU says so.
    ("<source protocol='nbd' name='e' tls='yes'><host name='127.0.0.1'/></source>", "Unable to access credentials /etc/pki/qemu/ca-cert.pem"),
    ("<source protocol='http' name='e' tls='yes'><host name='127.0.0.1'/></source>", "TLS transport is not supported for disk protocol 'http'"),
    ("<source protocol='nbd' name='e'><host name='127.0.0.1'/><host name='127.0.0.2'/></source>", "protocol 'nbd' accepts only one host"),
    ("<source protocol='nbd' name='e'><host name='127.0.0.1' port='1'/></source>", "Failed to connect"),
])
def test_start_refusals_say_why(daemon, tmp_path, source, message):
    serial = str(tmp_path / "refused.log")
    disk = f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>{source}<target dev='vda' bus='virtio'/></disk>"
    (tmp_path / "refused.xml").write_text(domain_xml("refused", serial, devices=disk))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "refused.xml"))
        result = run("virsh", "-c", daemon.uri, "start", "refused", check=False)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert "shut off" in run("virsh", "-c", daemon.uri, "domstate", "refused").stdout
    finally:
        run("virsh", "-c", daemon.uri, "undefine", "refused", check=False)


@pytest.mark.parametrize("source, message", [
    ("<source protocol='tftp' name='boot.iso'><host name='127.0.0.1'/></source>", "'tftp' protocol is not supported"),
    ("<source protocol='rbd' name='image'/>", "can't split path 'image' into pool name and image name"),
    ("<source protocol='http'><host name='127.0.0.1'/></source>", "missing name for disk source"),
    ("<source protocol='nbd' name='e'><host name='127.0.0.1' port='70000'/></source>", "port"),
    ("<source protocol='nbd' name='e'><host transport='unix'/></source>", "missing socket for unix transport"),
])
def test_define_refusals(daemon, tmp_path, source, message):
    disk = f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>{source}<target dev='vda' bus='virtio'/></disk>"
    (tmp_path / "bad.xml").write_text(domain_xml("bad", str(tmp_path / "bad.log"), devices=disk))
    result = run("virsh", "-c", daemon.uri, "define", str(tmp_path / "bad.xml"), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr
