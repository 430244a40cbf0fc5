"""vhost-user interfaces with a real backend, DPDK's testpmd (no huge pages): QEMU negotiates
with it through its vhost-user netdev, connecting to the backend's socket (`mode='client'`,
the daemon's start returning once QEMU runs) or listening for it (`mode='server'`, the start
waiting for the backend, as libvirt's does); a vhost-user NIC plugs in and out of a running
guest, its socket chardev with it, and the backend sees the connection go.

The guests do not drive the NIC: on this machine (TCG, no KVM) QEMU 7.2 crashes in its vCPU
thread when a guest's virtio-net driver starts a vhost-user device — libvirtd's guest with the
same XML crashes the same way — so the guests boot with `corral.noload=virtio_net`."""
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from guest import guest_files
from test_hotplug import ROOT_PORTS, boot_with_console, in_guest, virsh

TESTPMD = "/usr/bin/dpdk-testpmd"


class DPDKBackend:
    """testpmd with one vhost-user port on `path` (connecting to it when `client`), its log
    holding the vhost-user messages it reads (a stats period keeps it running without input)."""

    def __init__(self, tmp_path, path, client=False):
        assert os.path.exists(TESTPMD), "dpdk-testpmd is missing: Scripts/install-dependencies.sh installs dpdk-dev"
        self.prefix = f"corral-{os.getpid()}-{tmp_path.name}"[:60]
        self.log = open(tmp_path / "testpmd.log", "w+")
        vdev = f"net_vhost0,iface={path}" + (",client=1" if client else "")
        self.process = subprocess.Popen(
            [TESTPMD, "--no-huge", "-m", "128", "--no-pci", f"--file-prefix={self.prefix}", "--log-level=lib.eal:error", "--vdev", vdev,
             "--", "--total-num-mbufs=2048", "--forward-mode=io", "--auto-start", "--stats-period=3600"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        if not client:
            deadline = time.time() + 20
            while not os.path.exists(path):
                assert time.time() < deadline and self.process.poll() is None, self.output()
                time.sleep(0.05)

    def output(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as handle:
            return handle.read()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)


def vhost_xml(name, interface):
    """A guest whose memory QEMU shares (memfd), as a vhost-user backend needs to reach it; its
    kernel leaves virtio-net NICs alone (see above)."""
    kernel, initrd = guest_files()
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>160</memory>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 corral.noload=virtio_net</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='pty'/>{ROOT_PORTS}{interface}</devices>
</domain>"""


def nic(path, mode, mac="52:54:00:77:00:01"):
    return f"<interface type='vhostuser'><mac address='{mac}'/><source type='unix' path='{path}' mode='{mode}'/><model type='virtio'/></interface>"


def wait_for_log(backend, text, what, timeout=20):
    deadline = time.time() + timeout
    while text not in backend.output():
        assert time.time() < deadline, f"{what}: {backend.output()[-1500:]}"
        time.sleep(0.1)


def negotiated(backend):
    """QEMU and the backend went through vhost-user's handshake (features, owner, memory)."""
    wait_for_log(backend, "VHOST_USER_GET_FEATURES", "QEMU never asked the backend for its features")
    wait_for_log(backend, "VHOST_USER_SET_OWNER", "QEMU never took the backend's device")


@pytest.mark.parametrize("mode", ["client", "server"])
def test_qemu_and_the_backend_meet_on_the_socket(daemon, tmp_path, mode):
    path = str(tmp_path / "vhost.sock")
    name = f"vhu{mode}"
    (tmp_path / "g.xml").write_text(vhost_xml(name, nic(path, mode)))
    virsh(daemon, "define", str(tmp_path / "g.xml"))
    backend = None
    try:
        if mode == "client":
            # The backend listens; QEMU connects at start.
            backend = DPDKBackend(tmp_path, path)
            virsh(daemon, "start", name)
        else:
            # QEMU listens and waits at start for the backend, which connects once the socket is
            # there: the start returns then.
            started = {}
            starter = threading.Thread(target=lambda: started.setdefault("result", virsh(daemon, "start", name, check=False)))
            starter.start()
            deadline = time.time() + 30
            while not os.path.exists(path):
                assert time.time() < deadline, "QEMU never listened on the vhost-user socket"
                time.sleep(0.05)
            time.sleep(1)
            assert starter.is_alive(), "the start returned before the backend connected"
            backend = DPDKBackend(tmp_path, path, client=True)
            starter.join(60)
            assert started["result"].returncode == 0, started["result"].stderr
        negotiated(backend)
        live = virsh(daemon, "dumpxml", name).stdout
        assert f"<source type='unix' path='{path}' mode='{mode}'/>" in live and "<alias name='net0'/>" in live
        assert "vhost-user" in virsh(daemon, "qemu-monitor-command", name, "--hmp", "info network").stdout
        assert virsh(daemon, "domstate", name).stdout.strip() == "running"
        virsh(daemon, "destroy", name)
        wait_for_log(backend, "vhost peer closed", "the backend never saw QEMU go")
    finally:
        virsh(daemon, "destroy", name, check=False)
        virsh(daemon, "undefine", name, check=False)
        if backend:
            backend.stop()


def test_a_vhost_user_nic_plugs_in_and_out(daemon, tmp_path):
    path = str(tmp_path / "hot.sock")
    backend = DPDKBackend(tmp_path, path)
    (tmp_path / "g.xml").write_text(vhost_xml("vhuhot", ""))
    virsh(daemon, "define", str(tmp_path / "g.xml"))
    console = boot_with_console(daemon, "vhuhot")
    try:
        (tmp_path / "nic.xml").write_text(nic(path, "client", mac="52:54:00:77:00:09"))
        virsh(daemon, "attach-device", "vhuhot", str(tmp_path / "nic.xml"), "--live")
        negotiated(backend)
        chardevs = lambda: [c["label"] for c in json.loads(virsh(daemon, "qemu-monitor-command", "vhuhot", '{"execute":"query-chardev"}').stdout)["return"]]
        assert "charnet0" in chardevs()
        # The guest's PCI hotplug sees the NIC (its driver is not loaded, see above).
        in_guest(console, "grep -l 0x1af4 /sys/bus/pci/devices/*/vendor | wc -l", "\n2")
        virsh(daemon, "detach-device", "vhuhot", str(tmp_path / "nic.xml"), "--live")
        deadline = time.time() + 20
        while "charnet0" in chardevs():
            assert time.time() < deadline, "the NIC's socket chardev stayed after the unplug"
            time.sleep(0.2)
        wait_for_log(backend, "vhost peer closed", "the backend never saw the NIC go")
        assert "vhostuser" not in virsh(daemon, "dumpxml", "vhuhot").stdout
    finally:
        console.close()
        virsh(daemon, "destroy", "vhuhot", check=False)
        virsh(daemon, "undefine", "vhuhot", check=False)
        backend.stop()
