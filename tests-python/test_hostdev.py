"""<hostdev> on this host, which has no USB devices and no IOMMU: a missing USB device refuses the
start in libvirt's words, unless its startupPolicy is optional (the guest then starts with an
empty usb-host port waiting for it); a PCI function is refused as libvirt refuses it here; and
nothing is left running after a refusal."""
import json
import os

from conftest import run
from guest import domain_xml

USB = "<controller type='usb' model='qemu-xhci'/>"


def define(daemon, tmp_path, name, devices):
    (tmp_path / f"{name}.xml").write_text(domain_xml(name, str(tmp_path / f"{name}.log"), devices=USB + devices))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))


def test_missing_usb_device_refuses_the_start_unless_optional(daemon, tmp_path):
    define(daemon, tmp_path, "mandatory", "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>")
    started = run("virsh", "-c", daemon.uri, "start", "mandatory", check=False)
    assert started.returncode != 0 and "Did not find USB device 1234:beef" in started.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "mandatory").stdout.strip() == "shut off"
    assert not os.path.exists(os.path.join(daemon.dir, "run", "domains", "mandatory", "qemu.pid"))

    define(daemon, tmp_path, "optional",
           "<hostdev mode='subsystem' type='usb'><source startupPolicy='optional'><address bus='9' device='9'/></source><alias name='ua-stick'/></hostdev>")
    try:
        run("virsh", "-c", daemon.uri, "start", "optional")
        reply = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "optional",
                    json.dumps({"execute": "qom-get", "arguments": {"path": "/machine/peripheral/ua-stick", "property": "type"}})).stdout
        assert json.loads(reply)["return"] == "usb-host"
        live = run("virsh", "-c", daemon.uri, "dumpxml", "optional").stdout
        assert "<address type='usb' bus='0' port='1'/>" in live and "startupPolicy='optional'" in live
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "optional", check=False)
    assert daemon.alive()


def test_pci_function_is_refused_as_this_host_cannot_pass_it_through(daemon, tmp_path):
    define(daemon, tmp_path, "gpu", "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
           "<address domain='0x0000' bus='0x06' slot='0x02' function='0x0'/></source></hostdev>")
    started = run("virsh", "-c", daemon.uri, "start", "gpu", check=False)
    assert started.returncode != 0
    if not os.path.exists("/dev/vfio/vfio") or not os.listdir("/sys/kernel/iommu_groups"):
        assert "host doesn't support passthrough of host PCI devices" in started.stderr
    else:
        assert "Device 0000:06:02.0 not found" in started.stderr or "Corral does not rebind host drivers" in started.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "gpu").stdout.strip() == "shut off"
