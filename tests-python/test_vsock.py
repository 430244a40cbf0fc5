"""<vsock>: the daemon binds the guest's context ID on /dev/vhost-vsock and hands QEMU the
descriptor; on a host without the device (this one's kernel has no vhost_vsock) the start is
refused in libvirt's words and nothing is left behind."""
import os

from conftest import run
from guest import domain_xml


def test_vsock_start_follows_the_host(daemon, tmp_path):
    (tmp_path / "vs.xml").write_text(domain_xml("vs", str(tmp_path / "vs.log"), devices="<vsock model='virtio'><cid auto='yes'/></vsock>"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "vs.xml"))
    started = run("virsh", "-c", daemon.uri, "start", "vs", check=False)
    try:
        if not os.path.exists("/dev/vhost-vsock"):
            assert started.returncode != 0 and "unable to open vhost-vsock device" in started.stderr
            assert run("virsh", "-c", daemon.uri, "domstate", "vs").stdout.strip() == "shut off"
        else:
            assert started.returncode == 0, started.stderr
            live = run("virsh", "-c", daemon.uri, "dumpxml", "vs").stdout
            assert "<cid auto='yes' address='" in live
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "vs", check=False)
    assert daemon.alive()
