"""The domain XML virt-install writes for real operating systems (its --osinfo profiles, with
UEFI, Secure Boot, a TPM, SPICE and shared folders over 9p and virtiofs) is defined and started by corrald, with the
test kernel as the boot source; what each profile asks for is checked in the running QEMU. Two
guests are followed until their kernel has booted (SeaBIOS; UEFI Secure Boot with a TPM)."""
import json
import os
import time

import pytest

from conftest import Daemon, run
from guest import guest_files

# (name, --osinfo, extra virt-install arguments, what the running QEMU must show)
PROFILES = [
    ("win10", "win10", [], ["hv-relaxed=on", "hv-spinlocks=0x1fff", "hv-time=on", "-no-hpet"]),
    ("win11", "win11", ["--boot", "uefi", "--tpm", "emulator"], ["OVMF_CODE_4M.ms.fd", "tpm", "smm=on"]),
    ("win2k22", "win2k22", ["--graphics", "spice"], ["-spice", "hv-vapic=on"]),
    ("win2k19", "win2k19", [], ["hv-relaxed=on"]),
    ("win7", "win7", [], ["hv-relaxed=on"]),
    ("rhel9", "rhel9.0", ["--boot", "uefi"], ["OVMF_CODE"]),
    ("rhel8", "rhel8.6", [], ["qemu-xhci"]),
    # OpenStack Nova's default CPU mode: the host model, started as a named model with features.
    ("rhel8-host-model", "rhel8.6", ["--cpu", "host-model"], ["-cpu "]),
    ("rhel7", "rhel7.9", [], ["virtio-blk-pci"]),
    ("centos-stream9", "centos-stream9", [], ["virtio-rng-pci"]),
    ("almalinux9", "almalinux9", [], ["driftfix=slew"]),
    ("debian11", "debian11", ["--filesystem", "{tmp},shared"], ["virtio-9p-pci", "mount_tag"]),
    ("debian10", "debian10", [], ["virtio-net-pci"]),
    ("debian11-virtiofs", "debian11", ["--filesystem", "{tmp},hostshare,driver.type=virtiofs", "--memorybacking", "source.type=memfd,access.mode=shared"],
     ["vhost-user-fs-pci", "hostshare", "memory-backend-memfd"]),
    ("ubuntu22.04", "ubuntu22.04", ["--graphics", "spice"], ["-spice", "spicevmc", "usb-redir"]),
    ("ubuntu20.04", "ubuntu20.04", [], ["virtio-balloon-pci"]),
    ("fedora37", "fedora37", ["--boot", "uefi", "--tpm", "emulator"], ["OVMF_CODE", "tpm"]),
    ("fedora36", "fedora36", ["--vcpus", "2,maxvcpus=4"], ["maxcpus=4"]),
    ("freebsd13", "freebsd13.1", [], ["pc-i440fx"]),
    ("freebsd12", "freebsd12.3", [], ["-machine"]),
    ("opensuse15", "opensuse15.4", [], ["pcie-root-port"]),
    ("alpine", "alpinelinux3.17", [], ["virtio-serial-pci"]),
    ("archlinux", "archlinux", [], ["virtio-vga"]),
    ("generic", "generic", [], ["-machine"]),
    ("generic-uefi-spice", "generic", ["--boot", "uefi", "--graphics", "spice"], ["OVMF_CODE", "-spice"]),
]
BOOTED = {"generic", "win11", "rhel8-host-model"}


@pytest.fixture(scope="module")
def corrald():
    d = Daemon()
    yield d
    d.stop()


def qemu_argv(name):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            text = b" ".join(argv).decode(errors="replace")
            if f"guest={name}," in text and "qemu-system" in text:
                return text
    raise AssertionError(f"no QEMU runs {name}")


def monitor(daemon, name, command):
    out = run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, json.dumps({"execute": command})).stdout
    return json.loads(out)["return"]


@pytest.mark.parametrize("name,osinfo,extra,expected", PROFILES, ids=[p[0] for p in PROFILES])
def test_virt_install_profile_defines_and_starts(corrald, tmp_path, name, osinfo, extra, expected):
    kernel, initrd = guest_files()
    image = tmp_path / "disk.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M")
    serial = tmp_path / "serial.log"
    extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]
    boot = f"kernel={kernel},initrd={initrd},kernel_args=console=ttyS0"
    if "--boot" in extra:
        position = extra.index("--boot") + 1
        extra[position] = f"{extra[position]},{boot}"
    else:
        extra = ["--boot", boot] + extra
    xml = run("virt-install", "--connect", corrald.uri, "--print-xml", "--name", name, "--memory", "256", "--osinfo", osinfo,
              "--import", "--disk", str(image), "--network", "user", "--serial", f"file,path={serial}", "--noautoconsole", *extra).stdout
    (tmp_path / "domain.xml").write_text(xml)
    run("virsh", "-c", corrald.uri, "define", str(tmp_path / "domain.xml"))
    try:
        result = run("virsh", "-c", corrald.uri, "start", name, check=False)
        assert result.returncode == 0, result.stderr + "\n" + xml
        assert run("virsh", "-c", corrald.uri, "domstate", name).stdout.strip() == "running"
        argv = qemu_argv(name)
        for text in expected:
            assert text in argv, (text, argv)
        if "--tpm" in extra:
            tpms = monitor(corrald, name, "query-tpm")
            assert len(tpms) == 1 and tpms[0]["options"]["type"] == "emulator", tpms
        if "spice" in extra:
            spice = monitor(corrald, name, "query-spice")
            assert spice["enabled"] and spice["port"] >= 5900, spice
        if "uefi" in " ".join(extra):
            nvram = os.path.join(corrald.dir, "state", "nvram", f"{name}_VARS.fd")
            assert os.path.getsize(nvram) > 0 and nvram in argv
        if name in BOOTED:
            deadline = time.time() + 150
            while time.time() < deadline and b"CORRAL-GUEST-BOOTED" not in (serial.read_bytes() if serial.exists() else b""):
                time.sleep(1)
            assert b"CORRAL-GUEST-BOOTED" in serial.read_bytes(), serial.read_bytes()[-2000:]
    finally:
        run("virsh", "-c", corrald.uri, "destroy", name, check=False)
        run("virsh", "-c", corrald.uri, "undefine", "--nvram", "--tpm", name, check=False)
    # undefine took the variable store and the TPM's state with it.
    assert not os.path.exists(os.path.join(corrald.dir, "state", "nvram", f"{name}_VARS.fd"))
    assert not os.listdir(os.path.join(corrald.dir, "state", "swtpm")) if os.path.isdir(os.path.join(corrald.dir, "state", "swtpm")) else True


def device_addresses(uri, xml_path, name):
    """(device, PCI or drive address) for every device of the defined domain, as dumpxml --inactive shows them."""
    import xml.etree.ElementTree as ET
    run("virsh", "-c", uri, "define", str(xml_path))
    try:
        root = ET.fromstring(run("virsh", "-c", uri, "dumpxml", "--inactive", name).stdout)
    finally:
        run("virsh", "-c", uri, "undefine", "--nvram", name, check=False)
    found = []
    for device in root.find("devices"):
        address = device.find("address")
        if address is None or address.get("type") not in ("pci", "drive"):
            continue
        key = [device.tag, device.get("type") or "", device.get("model") or "", device.get("index") or ""]
        if device.tag == "controller" and device.find("target") is not None:
            key.append(str(sorted(device.find("target").attrib.items())))
        found.append((" ".join(key), sorted(address.attrib.items())))
    return found


@pytest.mark.parametrize("name,osinfo,extra", [(p[0], p[1], p[2]) for p in PROFILES if "--vcpus" not in p[2]], ids=[p[0] for p in PROFILES if "--vcpus" not in p[2]])
def test_profile_addresses_equal_libvirtds(corrald, libvirtd, tmp_path, name, osinfo, extra):
    """Every controller and device gets the PCI (and drive) address libvirtd 9.0 gives it."""
    image = tmp_path / "disk.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M")
    extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]
    xml = run("virt-install", "--connect", corrald.uri, "--print-xml", "--name", f"addr-{name}", "--memory", "256", "--osinfo", osinfo,
              "--import", "--disk", str(image), "--network", "user", "--noautoconsole", *extra).stdout
    (tmp_path / "domain.xml").write_text(xml)
    ours = device_addresses(corrald.uri, tmp_path / "domain.xml", f"addr-{name}")
    theirs = device_addresses(libvirtd, tmp_path / "domain.xml", f"addr-{name}")
    assert ours == theirs
