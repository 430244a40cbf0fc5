"""<disk type='vhostuser'>: a vhost-user-blk server (qemu-storage-daemon) serves the guest's
disk; QEMU has no block nodes for it, only the socket chardev and vhost-user-blk-pci; the
guest's writes land in the server's image; the other disks keep libvirt's node numbers; a
guest without shared memory is refused at define in libvirt's words."""
import json
import re
import subprocess

from conftest import run
from guest import domain_xml, qemu_pid, remove_guests, wait_for, wait_for_boot
from test_network_disks import wait_listening

SHARED_MEMORY = "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"


def vhost_user_disk(socket, target="vda"):
    return (f"<disk type='vhostuser' device='disk'><driver name='qemu' type='raw'/>"
            f"<source type='unix' path='{socket}'><reconnect enabled='yes' timeout='2'/></source>"
            f"<target dev='{target}' bus='virtio'/></disk>")


def test_a_guest_writes_through_a_vhost_user_blk_server(daemon, tmp_path):
    image, socket = tmp_path / "vub.img", tmp_path / "vub.sock"
    run("qemu-img", "create", "-q", "-f", "raw", str(image), "8M")
    server = subprocess.Popen(["qemu-storage-daemon", "--blockdev", f"driver=file,node-name=file0,filename={image}",
                               "--export", f"type=vhost-user-blk,id=export0,node-name=file0,addr.type=unix,addr.path={socket},writable=on"])
    other = tmp_path / "other.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", str(other), "8M")
    serial = str(tmp_path / "vub.log")
    devices = vhost_user_disk(socket) + (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                                         f"<source file='{other}'/><target dev='vdb' bus='virtio'/></disk>")
    xml = domain_xml("vub", serial, extra=SHARED_MEMORY, devices=devices).replace("quiet panic=-1", "quiet panic=-1 corral.counter")
    (tmp_path / "vub.xml").write_text(xml)
    try:
        wait_listening(path=str(socket))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "vub.xml"))
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "vub").stdout
        assert "<disk type='vhostuser' device='disk' snapshot='no'>" in inactive
        run("virsh", "-c", daemon.uri, "start", "vub")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        # The guest's counter lands in the server's image, one sector per count.
        wait_for(lambda: b"COUNTER 5" in image.read_bytes()[5 * 512:6 * 512], timeout=60, what="the guest's writes through vhost-user-blk")
        nodes = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "vub", '{"execute":"query-named-block-nodes"}').stdout)["return"]
        assert sorted(node["node-name"] for node in nodes) == ["libvirt-1-format", "libvirt-1-storage"]
        pid = qemu_pid(daemon, "vub")
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\0")
        assert f"socket,id=chr-vu-virtio-disk0,path={socket},reconnect=2" in cmdline
        assert any('"driver":"vhost-user-blk-pci"' in arg and '"chardev":"chr-vu-virtio-disk0"' in arg for arg in cmdline)
        live = run("virsh", "-c", daemon.uri, "dumpxml", "vub").stdout
        assert re.search(r"<disk type='vhostuser'.*?<alias name='virtio-disk0'/>", live, re.S)
        assert f"<source file='{other}' index='1'/>" in live
    finally:
        remove_guests(daemon, "vub")
        server.terminate()
        server.wait()
    assert daemon.alive()


def test_a_vhost_user_disk_needs_shared_memory(daemon, tmp_path):
    (tmp_path / "nosh.xml").write_text(domain_xml("nosh", None, devices=vhost_user_disk(tmp_path / "none.sock")))
    refused = run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nosh.xml"), check=False)
    assert refused.returncode != 0 and "'vhostuser' requires shared memory" in refused.stderr, refused.stderr
    assert daemon.alive()


def test_a_vhost_user_disk_plugs_in_and_out(daemon, tmp_path):
    image, socket = tmp_path / "hot.img", tmp_path / "hot.sock"
    run("qemu-img", "create", "-q", "-f", "raw", str(image), "8M")
    server = subprocess.Popen(["qemu-storage-daemon", "--blockdev", f"driver=file,node-name=file0,filename={image}",
                               "--export", f"type=vhost-user-blk,id=export0,node-name=file0,addr.type=unix,addr.path={socket},writable=on"])
    serial = str(tmp_path / "hot.log")
    (tmp_path / "hot.xml").write_text(domain_xml("vubhot", serial, extra=SHARED_MEMORY))
    (tmp_path / "disk.xml").write_text(vhost_user_disk(socket, "vdc"))
    try:
        wait_listening(path=str(socket))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "hot.xml"))
        run("virsh", "-c", daemon.uri, "start", "vubhot")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        run("virsh", "-c", daemon.uri, "attach-device", "vubhot", str(tmp_path / "disk.xml"))
        pci = json.dumps(json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "vubhot", '{"execute":"query-pci"}').stdout))
        assert '"qdev_id": "virtio-disk2"' in pci
        live = run("virsh", "-c", daemon.uri, "dumpxml", "vubhot").stdout
        assert re.search(r"<disk type='vhostuser'.*?<target dev='vdc' bus='virtio'/>.*?<alias name='virtio-disk2'/>", live, re.S), live
        run("virsh", "-c", daemon.uri, "detach-device", "vubhot", str(tmp_path / "disk.xml"))
        wait_for(lambda: "vhostuser" not in run("virsh", "-c", daemon.uri, "dumpxml", "vubhot").stdout, timeout=30, what="the disk to go")
        chardevs = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "vubhot", '{"execute":"query-chardev"}').stdout
        assert "chr-vu-virtio-disk2" not in chardevs
    finally:
        remove_guests(daemon, "vubhot")
        server.terminate()
        server.wait()
    assert daemon.alive()
