"""32-bit x86 guests (`<type arch='i686'>`): as libvirt does, Corral runs them on the host's
32-bit emulator (`qemu-system-i386`), which its capabilities name, with that emulator's default
CPU model (`qemu32`); a definition naming the 64-bit emulator keeps it."""
import os
import re

import pytest

from conftest import run
from guest import guest_files, qemu_pid, remove_guests, wait_for

I386 = "/usr/bin/qemu-system-i386"


def guest_blocks(capabilities):
    """Each <guest> of a capabilities document without its machine list and accelerators (KVM
    is listed where it is usable, and libvirtd lists it where /dev/kvm exists): arch → block."""
    blocks = re.findall(r"<guest>.*?</guest>", capabilities, re.S)
    return {re.search(r"<arch name='([^']+)'>", block).group(1): re.sub(r"\s*<(machine|domain)[^>]*>([^<]*</machine>)?", "", block) for block in blocks}


@pytest.mark.skipif(not os.path.exists(I386), reason="the host has no 32-bit emulator")
def test_capabilities_name_the_32_bit_emulator_as_libvirtd_does(daemon, libvirtd):
    ours = guest_blocks(run("virsh", "-c", daemon.uri, "capabilities").stdout)
    theirs = guest_blocks(run("virsh", "-c", libvirtd, "capabilities").stdout)
    assert ours.keys() >= {"i686", "x86_64"}
    assert ours["i686"] == theirs["i686"], (ours["i686"], theirs["i686"])
    domcaps = run("virsh", "-c", daemon.uri, "domcapabilities", "--arch", "i686").stdout
    assert f"<path>{I386}</path>" in domcaps and "<arch>i686</arch>" in domcaps, domcaps
    refused = run("virsh", "-c", daemon.uri, "domcapabilities", "--emulatorbin", I386, "--arch", "x86_64", check=False)
    assert refused.returncode != 0 and "does not support arch 'x86_64'" in refused.stderr, refused.stderr


@pytest.mark.skipif(not os.path.exists(I386), reason="the host has no 32-bit emulator")
def test_a_32_bit_guest_runs_on_the_32_bit_emulator_with_a_32_bit_cpu(daemon, tmp_path):
    kernel, _ = guest_files()
    serial = tmp_path / "serial.log"
    # The test kernel is 64-bit: its real-mode set-up code checks the CPU first and says, on the
    # early serial console, that this one is 32-bit.
    (tmp_path / "g.xml").write_text(f"""<domain type='qemu'><name>thirty-two</name><memory unit='MiB'>128</memory>
  <os><type arch='i686'>hvm</type><kernel>{kernel}</kernel><cmdline>earlyprintk=serial,ttyS0,115200</cmdline></os>
  <features><acpi/><apic/><pae/></features>
  <devices><serial type='file'><source path='{serial}'/></serial></devices></domain>""")
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "thirty-two").stdout
        assert f"<emulator>{I386}</emulator>" in inactive and "<model fallback='forbid'>qemu32</model>" in inactive, inactive
        assert "<type arch='i686' machine='pc-i440fx-7.2'>hvm</type>" in inactive, inactive
        run("virsh", "-c", daemon.uri, "start", "thirty-two")
        # (Debian's qemu-system-i386 is a script that runs the binary in /usr/libexec.)
        assert os.path.basename(os.path.realpath(f"/proc/{qemu_pid(daemon, 'thirty-two')}/exe")) == "qemu-system-i386"
        wait_for(lambda: serial.exists() and "only detected an i686 CPU" in serial.read_text(errors="replace"), timeout=60,
                 what="the guest's CPU check on its serial console")
    finally:
        remove_guests(daemon, "thirty-two")
