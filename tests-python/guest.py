"""The test guest (Scripts/build-test-guest.sh) and domain XML for it."""
import os
import re
import pathlib
import select
import subprocess
import time

import pytest

from conftest import run

ROOT = pathlib.Path(__file__).resolve().parent.parent
GUEST = ROOT / ".test-guest"


def guest_files():
    if not (GUEST / "vmlinuz").exists():
        subprocess.run(["bash", str(ROOT / "Scripts" / "build-test-guest.sh")], check=True)
    return str(GUEST / "vmlinuz"), str(GUEST / "initramfs.gz")


def domain_xml(name, serial, extra="", namespace="", devices="", machine="q35", serial_append=False):
    """The test guest's domain XML; `serial`: the file its serial console writes, or None for
    no serial port of that kind (`devices` may give one). The file is truncated at each start,
    as libvirt does, unless `serial_append` (a log read across QEMU runs: restores, snapshots)."""
    kernel, initrd = guest_files()
    append = " append='on'" if serial_append else ""
    serial_port = f"<serial type='file'><source path='{serial}'{append}/></serial>" if serial is not None else ""
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='{machine}'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
  {"" if "<features>" in extra else "<features><acpi/></features>"}
  {extra}
  <devices>
    {serial_port}
    {devices}
  </devices>
  {namespace}
</domain>
"""


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def definition_files(state_dir):
    """The names of the domain definitions' files in a daemon's state directory. corrald answers
    a define once its journal holds the definition, and writes the file when the journal is
    idle, a moment later: a test that reads the files waits for them (`wait_for`)."""
    directory = os.path.join(state_dir, "domains")
    return sorted(f for f in os.listdir(directory) if f.endswith(".xml") and not f.startswith("."))


def read_until(fd, marker, timeout=60):
    """Reads the descriptor `fd` (a pipe or terminal) until `marker` has come, within `timeout`
    seconds; returns everything read."""
    received = b""
    deadline = time.time() + timeout
    while marker not in received:
        assert time.time() < deadline, received[-500:]
        if select.select([fd], [], [], 1)[0]:
            received += os.read(fd, 65536)
    return received


def booted(serial):
    return os.path.exists(serial) and "button=/dev/input" in open(serial, errors="replace").read()


def wait_for_boot(serial, timeout=60, what="the guest to boot", uri=None, name=None):
    """Waits for the test guest's boot line on `serial`; on a timeout the assertion carries the
    end of what the guest printed there (and, given `uri` and `name`, the domain's state and
    reason), so a paused, hung or half-booted guest can be told apart."""
    try:
        wait_for(lambda: booted(serial), timeout=timeout, what=what)
    except AssertionError as error:
        printed = open(serial, errors="replace").read()[-3000:] if os.path.exists(serial) else "(no serial file)"
        state = ""
        if uri and name:
            result = subprocess.run(["virsh", "-c", uri, "domstate", "--reason", name], capture_output=True, text=True, timeout=30)
            state = f"; domstate: {result.stdout.strip() or result.stderr.strip()}"
        raise AssertionError(f"{error}{state}; the serial console's last output:\n{printed}") from None


def qemu_pid(daemon, name, run_dir=None):
    """The pid of a running guest's QEMU, from its status file in the daemon's run directory
    (`run_dir`, else the daemon's `run`). The daemon writes that file in the background after
    the start has answered, so it is waited for a moment."""
    path = os.path.join(run_dir or os.path.join(daemon.dir, "run"), "domains", name, "status.xml")
    found = {}

    def status_names_a_pid():
        try:
            found["pid"] = re.search(r"pid='(\d+)'", open(path).read())
        except OSError:
            return False
        return found["pid"] is not None
    wait_for(status_names_a_pid, timeout=15, what=f"{path} to name QEMU's pid")
    return int(found["pid"].group(1))


def define_guest(daemon, tmp_path, name, devices):
    """Defines the test guest `name` (domain_xml) with `devices` on `daemon`."""
    path = tmp_path / f"{name}.xml"
    path.write_text(domain_xml(name, str(tmp_path / f"{name}.log"), devices=devices))
    run("virsh", "-c", daemon.uri, "define", str(path))


def remove_guests(daemon, *names):
    """Destroys and undefines the guests `names` (with their snapshots' metadata), whatever state
    they are in."""
    for name in names:
        run("virsh", "-c", daemon.uri, "destroy", name, check=False)
        run("virsh", "-c", daemon.uri, "undefine", name, "--snapshots-metadata", check=False)
