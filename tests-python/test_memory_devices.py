"""Memory devices on real guests: DIMMs and virtio-mem within <maxMemory slots>, the guest's
memory the sum of its NUMA cells and its devices; a DIMM hot-plugged into the lowest free slot and
unplugged again, each step visible in QEMU and in the live XML; and the refusals libvirt makes."""
import json
import re

from conftest import run
from guest import domain_xml, wait_for, wait_for_boot

NUMA = """<maxMemory slots='4' unit='MiB'>1024</maxMemory>
  <cpu><numa><cell id='0' cpus='0' memory='256' unit='MiB'/></numa></cpu>
  <features><acpi/></features>"""
DEVICES = """<memory model='dimm'><target><size unit='MiB'>64</size><node>0</node></target></memory>
    <memory model='virtio-mem'>
      <target><size unit='MiB'>128</size><node>0</node><block unit='MiB'>2</block><requested unit='MiB'>64</requested></target>
    </memory>"""


def monitor(daemon, name, command, **arguments):
    message = {"execute": command} | ({"arguments": arguments} if arguments else {})
    return json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", name, json.dumps(message)).stdout)["return"]


def memory_devices(daemon, name):
    return {d["data"]["id"]: d for d in monitor(daemon, name, "query-memory-devices")}


def memory_kib(xml, element="memory"):
    return int(re.search(rf"<{element} unit='KiB'>(\d+)</{element}>", xml).group(1))


def test_dimm_and_virtio_mem_start_and_a_dimm_is_plugged_and_unplugged(daemon, tmp_path):
    serial = str(tmp_path / "mem.log")
    (tmp_path / "mem.xml").write_text(domain_xml("mem", serial, extra=NUMA, devices=DEVICES))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "mem.xml"))
    try:
        run("virsh", "-c", daemon.uri, "start", "mem")
        # The guest's memory is its cell's and its devices': 256 + 64 + 128 MiB (the guest's kernel
        # reserves about 115 MiB when memory can be hot-plugged, so 128 MiB would not boot it).
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "mem").stdout
        assert memory_kib(inactive) == 448 * 1024
        assert "<address type='dimm' slot='0'/>" in inactive
        assert re.search(r"<memory model='virtio-mem'>.*?<address type='pci'", inactive, re.S)
        assert "maxMemory slots='4' unit='KiB'>1048576</maxMemory>" in inactive
        devices = memory_devices(daemon, "mem")
        assert devices["dimm0"]["type"] == "dimm" and devices["dimm0"]["data"]["size"] == 64 << 20 and devices["dimm0"]["data"]["slot"] == 0
        virtio = devices["virtiomem0"]["data"]
        assert virtio["max-size"] == 128 << 20 and virtio["requested-size"] == 64 << 20 and virtio["block-size"] == 2 << 20
        summary = monitor(daemon, "mem", "query-memory-size-summary")
        assert summary["base-memory"] == 256 << 20
        live = run("virsh", "-c", daemon.uri, "dumpxml", "mem").stdout
        assert "<alias name='dimm0'/>" in live and "<alias name='virtiomem0'/>" in live
        wait_for_boot(serial, timeout=90, what="the guest to boot")

        # A DIMM plugged in takes the lowest free slot, and the guest's memory grows with it.
        dimm = tmp_path / "dimm.xml"
        dimm.write_text("<memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target></memory>")
        run("virsh", "-c", daemon.uri, "attach-device", "mem", str(dimm), "--live")
        devices = memory_devices(daemon, "mem")
        assert devices["dimm1"]["data"]["slot"] == 1 and devices["dimm1"]["data"]["hotplugged"] is True
        live = run("virsh", "-c", daemon.uri, "dumpxml", "mem").stdout
        assert memory_kib(live) == 576 * 1024
        assert re.search(r"<size unit='KiB'>131072</size>\s*<node>0</node>\s*</target>\s*<alias name='dimm1'/>\s*<address type='dimm' slot='1'/>", live), live
        # The definition is untouched by a live-only change.
        assert memory_kib(run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "mem").stdout) == 448 * 1024

        # Unplugged (the memory was never onlined by the guest, so it lets it go), found by its size.
        run("virsh", "-c", daemon.uri, "detach-device", "mem", str(dimm), "--live")
        wait_for(lambda: "dimm1" not in memory_devices(daemon, "mem"), timeout=20, what="the DIMM to go")
        wait_for(lambda: memory_kib(run("virsh", "-c", daemon.uri, "dumpxml", "mem").stdout) == 448 * 1024,
                 timeout=20, what="the live XML to drop the DIMM")
        assert [o for o in monitor(daemon, "mem", "qom-list", path="/objects") if o["name"] == "memdimm1"] == []

        # virtio-mem devices are resized, not unplugged.
        virtio_xml = tmp_path / "virtio.xml"
        virtio_xml.write_text("<memory model='virtio-mem'><target><size unit='MiB'>128</size><node>0</node></target></memory>")
        refused = run("virsh", "-c", daemon.uri, "detach-device", "mem", str(virtio_xml), "--live", check=False)
        assert refused.returncode != 0 and "virtio-mem devices cannot be hot unplugged" in refused.stderr
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "mem", check=False)


def test_plugging_beyond_the_slots_or_without_max_memory_is_refused(daemon, tmp_path):
    serial = str(tmp_path / "full.log")
    numa = NUMA.replace("slots='4'", "slots='1'")
    (tmp_path / "full.xml").write_text(domain_xml("full", serial, extra=numa, devices=DEVICES.split("\n")[0]))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "full.xml"))
    plain = str(tmp_path / "plain.log")
    (tmp_path / "plain.xml").write_text(domain_xml("plain", plain))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "plain.xml"))
    dimm = tmp_path / "dimm.xml"
    dimm.write_text("<memory model='dimm'><target><size unit='MiB'>64</size><node>0</node></target></memory>")
    try:
        run("virsh", "-c", daemon.uri, "start", "full")
        refused = run("virsh", "-c", daemon.uri, "attach-device", "full", str(dimm), "--live", check=False)
        assert refused.returncode != 0 and "memory device count '2' exceeds slots count '1'" in refused.stderr
        assert list(memory_devices(daemon, "full")) == ["dimm0"]
        run("virsh", "-c", daemon.uri, "start", "plain")
        refused = run("virsh", "-c", daemon.uri, "attach-device", "plain", str(dimm), "--live", check=False)
        assert refused.returncode != 0 and "can't add memory backend as guest has no NUMA nodes configured" in refused.stderr
        nodeless = tmp_path / "nodeless.xml"
        nodeless.write_text("<memory model='dimm'><target><size unit='MiB'>64</size></target></memory>")
        refused = run("virsh", "-c", daemon.uri, "attach-device", "plain", str(nodeless), "--live", check=False)
        assert refused.returncode != 0 and "cannot use/hotplug a memory device when domain 'maxMemory' is not defined" in refused.stderr
        assert daemon.alive()
    finally:
        for name in ("full", "plain"):
            run("virsh", "-c", daemon.uri, "destroy", name, check=False)
