"""virt-install (Debian's virtinst) against corrald: it manages every disk through a storage pool,
so these need the storage driver. Each mode defines and starts the test guest."""
import os

import pytest

from conftest import run
from guest import guest_files


def virt_install(daemon, name, disk):
    kernel, initrd = guest_files()
    return run("virt-install", "--connect", daemon.uri, "--name", name, "--memory", "128", "--vcpus", "1", "--import",
               "--disk", disk, "--boot", f"kernel={kernel},initrd={initrd},kernel_args=console=ttyS0",
               "--osinfo", "detect=on,require=off", "--network", "none", "--graphics", "none", "--noautoconsole", check=False)


def qemu_command_line(name):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = open(f"/proc/{entry}/cmdline").read()
            except OSError:
                continue
            if f"guest={name}," in text:
                return text
    raise AssertionError(f"no QEMU runs {name}")


@pytest.mark.parametrize("mode", ["import", "size", "pool"])
def test_virt_install_defines_and_starts_the_guest(daemon, tmp_path, mode):
    name = f"vi-{mode}"
    if mode == "import":
        image = tmp_path / "existing.qcow2"
        run("qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M")
        disk, expected = str(image), str(image)
    elif mode == "size":
        disk, expected = "size=1", os.path.join(daemon.dir, "state", "images", f"{name}.qcow2")
    else:
        run("virsh", "-c", daemon.uri, "pool-define-as", "extra", "dir", "--target", str(tmp_path / "extra"))
        run("virsh", "-c", daemon.uri, "pool-build", "extra")
        run("virsh", "-c", daemon.uri, "pool-start", "extra")
        disk, expected = "pool=extra,size=1", str(tmp_path / "extra" / f"{name}.qcow2")
    result = virt_install(daemon, name, disk)
    assert result.returncode == 0 and "Domain creation completed" in result.stdout, result.stdout + result.stderr
    try:
        assert run("virsh", "-c", daemon.uri, "domstate", name).stdout.strip() == "running"
        assert os.path.exists(expected) and expected in qemu_command_line(name)
        if mode != "import":
            # The new disk is a volume of its pool, 1 GiB, qcow2.
            info = run("virsh", "-c", daemon.uri, "vol-info", expected, "--bytes").stdout
            assert "1073741824 bytes" in info
    finally:
        run("virsh", "-c", daemon.uri, "destroy", name, check=False)
