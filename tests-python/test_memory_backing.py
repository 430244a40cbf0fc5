"""<memoryBacking> on real guests: a shared memfd that is locked, preallocated and kept from page
merging; a file-backed guest whose file goes with it; huge pages the test reserves (and gives
back); and the refusals libvirt makes."""
import json
import os
import re

import pytest

from conftest import run
from guest import domain_xml, wait_for, qemu_pid, wait_for_boot


def monitor(daemon, name, command, **arguments):
    message = {"execute": command} | ({"arguments": arguments} if arguments else {})
    out = run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, json.dumps(message)).stdout
    return json.loads(out)["return"]


def backend_type(daemon, name):
    objects = monitor(daemon, name, "qom-list", path="/objects")
    return next(o["type"] for o in objects if o["name"] == "pc.ram")



def status_field(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def hugepages(field, size_kib=2048):
    return int(open(f"/sys/kernel/mm/hugepages/hugepages-{size_kib}kB/{field}").read())


def start(daemon, tmp_path, name, backing):
    serial = str(tmp_path / f"{name}.log")
    (tmp_path / f"{name}.xml").write_text(domain_xml(name, serial, extra=f"<memoryBacking>{backing}</memoryBacking>"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))
    run("virsh", "-c", daemon.uri, "start", name)
    wait_for_boot(serial, timeout=60, what=f"{name} to boot")


def test_shared_memfd_locked_preallocated_without_merging(daemon, tmp_path):
    backing = "<discard/><allocation mode='immediate' threads='2'/><access mode='shared'/><source type='memfd'/><locked/><nosharepages/>"
    try:
        start(daemon, tmp_path, "shared", backing)
        # dumpxml writes the children in libvirt's order.
        xml = run("virsh", "-c", daemon.uri, "dumpxml", "shared").stdout
        assert re.search(r"<memoryBacking>\s*<nosharepages/>\s*<locked/>\s*<source type='memfd'/>\s*<access mode='shared'/>\s*"
                         r"<allocation mode='immediate' threads='2'/>\s*<discard/>\s*</memoryBacking>", xml), xml
        memdevs = monitor(daemon, "shared", "query-memdev")
        ram = next(m for m in memdevs if m.get("id") == "pc.ram")
        assert ram["share"] is True and ram["prealloc"] is True and ram["merge"] is False
        assert ram["size"] == 128 << 20
        assert backend_type(daemon, "shared") == "child<memory-backend-memfd>"
        # Locked: all of the guest's memory is resident and locked in the QEMU process.
        assert status_field(qemu_pid(daemon, "shared"), "VmLck") >= 128 << 10
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "shared", check=False)


def test_file_backed_memory_lives_and_goes_with_the_guest(daemon, tmp_path):
    memory_file = os.path.join(daemon.dir, "run", "domains", "filed", "pc.ram")
    try:
        start(daemon, tmp_path, "filed", "<source type='file'/><access mode='shared'/>")
        assert os.path.getsize(memory_file) == 128 << 20
        ram = next(m for m in monitor(daemon, "filed", "query-memdev") if m.get("id") == "pc.ram")
        assert ram["share"] is True
        assert backend_type(daemon, "filed") == "child<memory-backend-file>"
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "filed", check=False)
    assert not os.path.exists(memory_file)


def test_numa_cells_decide_their_own_discard(daemon, tmp_path):
    """A file-backed guest's NUMA cells: `discard` of a cell wins over <memoryBacking><discard/>,
    as QEMU's memory backends show."""
    cells = ("<cpu><numa><cell id='0' cpus='0' memory='64' unit='MiB' discard='no'/>"
             "<cell id='1' cpus='1' memory='64' unit='MiB'/></numa></cpu><vcpu>2</vcpu>")
    xml = domain_xml("cells", str(tmp_path / "cells.log"), extra=f"<memoryBacking><source type='file'/><discard/></memoryBacking>{cells}")
    (tmp_path / "cells.xml").write_text(xml)
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "cells.xml"))
        assert "discard='no'/>" in run("virsh", "-c", daemon.uri, "dumpxml", "cells").stdout
        run("virsh", "-c", daemon.uri, "start", "cells")
        discard = {node: monitor(daemon, "cells", "qom-get", path=f"/objects/{node}", property="discard-data") for node in ("ram-node0", "ram-node1")}
        assert discard == {"ram-node0": False, "ram-node1": True}
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "cells", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "cells", check=False)


@pytest.fixture
def reserved_hugepages():
    """Reserves 80 more 2 MiB huge pages for the test (a 128 MiB guest takes 64), then gives them back."""
    before = hugepages("nr_hugepages")
    with open("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "w") as f:
        f.write(str(before + 80))
    try:
        assert hugepages("free_hugepages") >= 64, "the kernel could not reserve the huge pages"
        yield
    finally:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "w") as f:
            f.write(str(before))


def test_huge_pages_back_the_guest(daemon, tmp_path, reserved_hugepages):
    free = hugepages("free_hugepages")
    try:
        start(daemon, tmp_path, "huge", "<hugepages><page size='2' unit='MiB'/></hugepages>")
        # All 64 pages are the guest's from the start (preallocated).
        assert free - hugepages("free_hugepages") == 64
        ram = next(m for m in monitor(daemon, "huge", "query-memdev") if m.get("id") == "pc.ram")
        assert ram["prealloc"] is True
        assert backend_type(daemon, "huge") == "child<memory-backend-memfd>"
        xml = run("virsh", "-c", daemon.uri, "dumpxml", "huge").stdout
        assert "<page size='2048' unit='KiB'/>" in xml
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "huge", check=False)
    wait_for(lambda: hugepages("free_hugepages") == free, what="the huge pages to be free again")


@pytest.mark.parametrize("backing, words, at_define", [
    ("<hugepages/><source type='anonymous'/>", "hugepages are not allowed with anonymous memory source", True),
    ("<hugepages/><allocation mode='ondemand'/>", "hugepages are not allowed with memory allocation ondemand", True),
    ("<source type='tmpfs'/>", "unknown memoryBacking/source/type 'tmpfs'", True),
    ("<hugepages><page size='2048' nodeset='3'/></hugepages>", "hugepages: node 3 not found", True),
    ("<hugepages><page size='3' unit='MiB'/></hugepages>", "Unable to find any usable huge pages of 3072 KiB on this host", False),
])
def test_refusals(daemon, tmp_path, backing, words, at_define):
    (tmp_path / "bad.xml").write_text(domain_xml("bad", str(tmp_path / "bad.log"), extra=f"<memoryBacking>{backing}</memoryBacking>"))
    defined = run("virsh", "-c", daemon.uri, "define", str(tmp_path / "bad.xml"), check=False)
    if at_define:
        assert defined.returncode != 0 and words in defined.stderr
        return
    assert defined.returncode == 0
    started = run("virsh", "-c", daemon.uri, "start", "bad", check=False)
    assert started.returncode != 0 and words in started.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "bad").stdout.strip() == "shut off"
    run("virsh", "-c", daemon.uri, "undefine", "bad")
