"""<cpu><numa> with memory-side caches and interconnects: the guest's firmware gets an ACPI
HMAT (QEMU's hmat-lb and hmat-cache), which the test guest's kernel exposes as
/sys/firmware/acpi/tables/HMAT. The table is read in the guest and decoded here: every latency
and bandwidth the XML gives is there for its initiator, target and memory level, and every cache
with its size, level, associativity, policy and line; the node without vCPUs is reached from the
initiator libvirt picks (its lowest latency). The daemon serves on."""
import re
import struct

from conftest import run
from guest import remove_guests, wait_for
from test_guest_events import boot_with_agent, guest_shell, log_text

NUMA = """<vcpu>2</vcpu><cpu><numa>
  <cell id='0' cpus='0' memory='64' unit='MiB'>
    <cache level='1' associativity='direct' policy='writeback'><size value='10'/><line value='8'/></cache>
  </cell>
  <cell id='1' cpus='1' memory='64' unit='MiB'>
    <cache level='1' associativity='full' policy='writethrough'><size value='64'/><line value='64'/></cache>
  </cell>
  <cell id='2' memory='64' unit='MiB'/>
  <interconnects>
    <latency initiator='0' target='0' type='access' value='5'/>
    <latency initiator='0' target='0' cache='1' type='access' value='10'/>
    <bandwidth initiator='0' target='0' type='access' value='200' unit='MiB'/>
    <latency initiator='1' target='1' type='access' value='6'/>
    <bandwidth initiator='1' target='1' type='access' value='100' unit='MiB'/>
    <latency initiator='1' target='2' type='access' value='30'/>
    <latency initiator='0' target='2' type='access' value='40'/>
  </interconnects>
</numa></cpu>"""

# ACPI 6.3, 5.2.27: the structures of the HMAT, and the codes of their fields.
LOCALITY, CACHE = 1, 2
DATA_TYPES = {0: "access-latency", 3: "access-bandwidth"}
ASSOCIATIVITY = {1: "direct", 2: "complex"}
POLICY = {1: "write-back", 2: "write-through"}


def hmat_structures(table):
    """(type, body) of each structure after the HMAT's 40-byte header."""
    assert table[:4] == b"HMAT", table[:4]
    offset, found = 40, []
    while offset + 8 <= len(table):
        kind, _, length = struct.unpack_from("<HHI", table, offset)
        found.append((kind, table[offset:offset + length]))
        offset += length
    return found


def localities(structures):
    """{(hierarchy, data type, initiator, target): value in QEMU's units (ps, MB/s)}."""
    figures = {}
    for kind, body in structures:
        if kind != LOCALITY:
            continue
        flags, data_type, _, _, initiators, targets, _, base = struct.unpack_from("<BBBBIIIQ", body, 8)
        at = 8 + 24
        initiator_ids = struct.unpack_from(f"<{initiators}I", body, at)
        target_ids = struct.unpack_from(f"<{targets}I", body, at + 4 * initiators)
        entries = struct.unpack_from(f"<{initiators * targets}H", body, at + 4 * (initiators + targets))
        for i, initiator in enumerate(initiator_ids):
            for t, target in enumerate(target_ids):
                entry = entries[i * targets + t]
                if entry:
                    figures[(flags & 0xF, DATA_TYPES.get(data_type, data_type), initiator, target)] = entry * base
    return figures


def caches(structures):
    """{node: (size in bytes, level, associativity, policy, line)}."""
    found = {}
    for kind, body in structures:
        if kind != CACHE:
            continue
        node, _, size, attributes = struct.unpack_from("<IIQI", body, 8)
        found[node] = (size, (attributes >> 4) & 0xF, ASSOCIATIVITY.get((attributes >> 8) & 0xF), POLICY.get((attributes >> 12) & 0xF), attributes >> 16)
    return found


def test_the_guest_reads_its_numa_caches_and_interconnects_from_the_hmat(daemon, tmp_path):
    serial = str(tmp_path / "hmat.log")
    try:
        boot_with_agent(daemon.uri, "hmat", serial, tmp_path, extra=NUMA)
        guest_shell(daemon.uri, "hmat", "echo HMAT-BEGIN $(od -An -v -tx1 /sys/firmware/acpi/tables/HMAT) HMAT-END > /dev/ttyS0")
        wait_for(lambda: "HMAT-END" in log_text(serial), timeout=30, what="the guest's HMAT")
        hex_text = re.search(r"HMAT-BEGIN (.*?) HMAT-END", log_text(serial), re.S).group(1)
        structures = hmat_structures(bytes.fromhex("".join(hex_text.split())))
        figures = localities(structures)
        # Latencies in picoseconds (QEMU's base unit for nanoseconds); hierarchy 0 memory, 1 level 1.
        assert figures[(0, "access-latency", 0, 0)] == 5000, figures
        assert figures[(1, "access-latency", 0, 0)] == 10000, figures
        assert figures[(0, "access-latency", 1, 1)] == 6000
        assert figures[(0, "access-latency", 1, 2)] == 30000 and figures[(0, "access-latency", 0, 2)] == 40000, figures
        # 200 MiB/s: QEMU writes bandwidths in MB/s of 2^20 bytes.
        assert figures[(0, "access-bandwidth", 0, 0)] == 200 and figures[(0, "access-bandwidth", 1, 1)] == 100, figures
        assert caches(structures) == {0: (10 * 1024, 1, "direct", "write-back", 8), 1: (64 * 1024, 1, "complex", "write-through", 64)}
        # The memory-only node is reached from node 1, its lowest latency.
        live = run("virsh", "-c", daemon.uri, "dumpxml", "hmat").stdout
        assert "<latency initiator='1' target='2' type='access' value='30'/>" in live
    finally:
        remove_guests(daemon, "hmat")
    assert daemon.alive()
