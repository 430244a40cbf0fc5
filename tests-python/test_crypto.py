"""<crypto>: a virtio-crypto device on a QEMU cryptodev backend (libvirt 9.1's element; libvirt
9.0 drops it). The guest sees the device on its virtio bus; a backend this QEMU was built
without is refused before QEMU runs, and one QEMU refuses fails the start with QEMU's words; the
daemon serves on."""
import json
import re

from conftest import run
from guest import remove_guests, wait_for
from test_guest_events import boot_with_agent, guest_shell, log_text

# The virtio device ID of a crypto device (virtio 1.1, 5.9).
VIRTIO_ID_CRYPTO = "0x0014"


def qmp(uri, name, command, arguments=None):
    message = {"execute": command, **({"arguments": arguments} if arguments else {})}
    return json.loads(run("virsh", "-c", uri, "qemu-monitor-command", name, json.dumps(message)).stdout)["return"]


def test_a_crypto_device_reaches_the_guest(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    devices = "<crypto model='virtio' type='qemu'><backend model='builtin' queues='1'/></crypto>"
    try:
        boot_with_agent(daemon.uri, "cr", serial, tmp_path, devices=devices)
        # QEMU has the backend object and the device on it.
        assert "objcrypto0" in [entry["name"] for entry in qmp(daemon.uri, "cr", "qom-list", {"path": "/objects"})]
        assert qmp(daemon.uri, "cr", "qom-get", {"path": "/machine/peripheral/crypto0", "property": "cryptodev"}) == "/objects/objcrypto0"
        # The live XML names it as libvirt names it; the definition has its PCI address.
        live = run("virsh", "-c", daemon.uri, "dumpxml", "cr").stdout
        crypto = re.search(r"<crypto model='virtio' type='qemu'>.*?</crypto>", live, re.S).group(0)
        assert "<backend model='builtin' queues='1'/>" in crypto and "<alias name='crypto0'/>" in crypto
        assert "<address type='pci'" in run("virsh", "-c", daemon.uri, "dumpxml", "cr", "--inactive").stdout.split("<crypto")[1]
        # The guest finds a virtio device of the crypto kind on its bus.
        guest_shell(daemon.uri, "cr", "echo CORRAL-VIRTIO-IDS $(cat /sys/bus/virtio/devices/*/device) > /dev/ttyS0")
        wait_for(lambda: "CORRAL-VIRTIO-IDS" in log_text(serial), timeout=30, what="the guest's virtio device list")
        ids = re.search(r"CORRAL-VIRTIO-IDS ([^\r\n]*)", log_text(serial)).group(1).split()
        assert VIRTIO_ID_CRYPTO in ids, ids
    finally:
        remove_guests(daemon, "cr")
    assert daemon.alive()


def define_and_start(daemon, tmp_path, name, backend):
    """Defines the test guest `name` with a crypto device on `backend` and starts it; returns
    virsh's result of the start."""
    from guest import domain_xml
    device = f"<crypto model='virtio' type='qemu'>{backend}</crypto>"
    (tmp_path / f"{name}.xml").write_text(domain_xml(name, str(tmp_path / f"{name}.log"), devices=device))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))
    return run("virsh", "-c", daemon.uri, "start", name, check=False)


def test_a_backend_this_qemu_lacks_is_refused_before_qemu_runs(daemon, tmp_path):
    objects = run("qemu-system-x86_64", "-object", "help").stdout
    try:
        started = define_and_start(daemon, tmp_path, "lk", "<backend model='lkcf'/>")
        if "cryptodev-backend-lkcf" in objects:
            assert started.returncode == 0, started.stderr
        else:
            assert started.returncode != 0
            assert "has no object type 'cryptodev-backend-lkcf'" in started.stderr, started.stderr
            assert run("virsh", "-c", daemon.uri, "domstate", "lk").stdout.strip() == "shut off"
            assert not (tmp_path / "lk.log").exists()
    finally:
        remove_guests(daemon, "lk")
    assert daemon.alive()


def test_queues_qemu_refuses_fail_the_start_with_its_words(daemon, tmp_path):
    try:
        started = define_and_start(daemon, tmp_path, "q2", "<backend model='builtin' queues='2'/>")
        # QEMU 7.2's builtin backend has one queue.
        assert started.returncode != 0
        assert "Only support one queue in cryptdov-builtin backend" in started.stderr, started.stderr
        assert run("virsh", "-c", daemon.uri, "domstate", "q2").stdout.strip() == "shut off"
        assert "<backend model='builtin' queues='2'/>" in run("virsh", "-c", daemon.uri, "dumpxml", "q2").stdout
    finally:
        remove_guests(daemon, "q2")
    assert daemon.alive()
