"""Statistics of running guests, as monitoring systems poll them: block and memory counters,
block sizes and resizing, vCPUs and pinning, CPU time, control and job state, and
`virsh domstats` with every group; and the daemon's own range checks, on raw frames."""
import os
import re
import struct
import subprocess

import libvirt
import pytest

import rawrpc
from conftest import run
from guest import guest_files, wait_for, wait_for_boot


def stats_xml(name, directory, serial):
    kernel, initrd = guest_files()
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{directory}/full.img'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{directory}/sparse.img'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{directory}/image.qcow2'/><target dev='vdc' bus='virtio'/></disk>
    <interface type='user'><mac address='52:54:00:12:34:56'/></interface>
    <serial type='file'><source path='{serial}'/></serial>
  </devices>
</domain>"""


@pytest.fixture
def stats_guest(daemon, tmp_path):
    """corrald running "st" with three disks (raw, sparse raw, qcow2), booted."""
    subprocess.run(["dd", "if=/dev/zero", f"of={tmp_path}/full.img", "bs=1M", "count=50", "status=none"], check=True)
    subprocess.run(["truncate", "-s", "50M", f"{tmp_path}/sparse.img"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", f"{tmp_path}/image.qcow2", "50M"], check=True)
    serial = str(tmp_path / "serial.log")
    (tmp_path / "st.xml").write_text(stats_xml("st", tmp_path, serial))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "st.xml"))
    run("virsh", "-c", daemon.uri, "start", "st")
    wait_for_boot(serial, timeout=90, what="the guest to boot", uri=daemon.uri, name="st")
    yield daemon, tmp_path
    run("virsh", "-c", daemon.uri, "destroy", "st", check=False)


def values(text):
    """`key value` or `key=value` lines as a dict of strings."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^(\S+)[ =](.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def test_block_statistics_and_sizes(stats_guest):
    daemon, directory = stats_guest
    uri = daemon.uri
    # The guest's kernel read the partition tables: reads were counted on every disk.
    for disk in ("vda", "vdb", "vdc"):
        assert int(re.search(r"rd_req (\d+)", run("virsh", "-c", uri, "domblkstat", "st", disk).stdout).group(1)) >= 1, disk
    total = run("virsh", "-c", uri, "domblkstat", "st").stdout
    assert int(re.search(r"rd_bytes (\d+)", total).group(1)) >= 3 * 512
    # By image path as well as by target, as libvirt accepts.
    assert "rd_req" in run("virsh", "-c", uri, "domblkstat", "st", f"{directory}/full.img").stdout
    conn = libvirt.open(uri)
    dom = conn.lookupByName("st")
    flags = dom.blockStatsFlags("vdb")
    assert set(flags) == {"rd_bytes", "rd_operations", "rd_total_times", "wr_bytes", "wr_operations", "wr_total_times",
                          "flush_operations", "flush_total_times"}
    # Block sizes as libvirt-tck's 121-block-info expects them.
    capacity, allocation, physical = dom.blockInfo("vda")
    assert capacity == 50 << 20 and allocation >= 50 << 20 and physical >= 50 << 20
    capacity, allocation, physical = dom.blockInfo("vdb")
    assert capacity == 50 << 20 and physical == 50 << 20
    capacity, _, _ = dom.blockInfo("vdc")
    assert capacity == 50 << 20
    # A live resize reaches the file and QEMU.
    dom.blockResize("vda", 25 * 1024)
    assert os.path.getsize(f"{directory}/full.img") == 25 << 20
    assert dom.blockInfo("vda")[0] == 25 << 20
    run("virsh", "-c", uri, "blockresize", "st", "vda", "50M")
    assert os.path.getsize(f"{directory}/full.img") == 50 << 20
    # Peeking reads raw images only.
    with open(f"{directory}/full.img", "r+b") as image:
        image.write(b"peek")
    assert dom.blockPeek("vda", 0, 4, 0) == b"peek"
    with pytest.raises(libvirt.libvirtError, match="peeking is only supported for disk with 'raw' format not 'qcow2'"):
        dom.blockPeek("vdc", 0, 4, 0)
    with pytest.raises(libvirt.libvirtError, match="invalid path: nosuch"):
        dom.blockStats("nosuch")
    conn.close()


def test_memory_vcpus_cpu_control_and_jobs(stats_guest):
    daemon, _ = stats_guest
    uri = daemon.uri
    memory = values(run("virsh", "-c", uri, "dommemstat", "st").stdout)
    assert memory["actual"] == str(128 * 1024) and int(memory["rss"]) > 0
    # Once QEMU polls the balloon driver, the guest's own figures appear.
    run("virsh", "-c", uri, "dommemstat", "st", "--period", "1", "--live")
    wait_for(lambda: "usable" in run("virsh", "-c", uri, "dommemstat", "st").stdout, timeout=20, what="balloon statistics")
    memory = values(run("virsh", "-c", uri, "dommemstat", "st").stdout)
    assert 0 < int(memory["available"]) <= 128 * 1024 and int(memory["last_update"]) > 0
    vcpus = run("virsh", "-c", uri, "vcpuinfo", "st").stdout
    assert vcpus.count("State:          running") == 2 and "CPU time:" in vcpus
    pins = run("virsh", "-c", uri, "vcpupin", "st").stdout
    cpus = os.cpu_count()
    assert re.search(r"^\s*1\s+0" + (f"-{cpus - 1}" if cpus > 1 else "") + r"\s*$", pins, re.M), pins
    assert "*: 0" in run("virsh", "-c", uri, "emulatorpin", "st").stdout
    total = run("virsh", "-c", uri, "cpu-stats", "st", "--total").stdout
    assert re.search(r"cpu_time\s+[1-9]", total) and "user_time" in total and "system_time" in total
    assert run("virsh", "-c", uri, "domcontrol", "st").stdout.strip() == "ok"
    assert "Job type:         None" in run("virsh", "-c", uri, "domjobinfo", "st").stdout
    conn = libvirt.open(uri)
    dom = conn.lookupByName("st")
    info = dom.vcpus()
    assert len(info[0]) == 2 and info[0][0][1] == libvirt.VIR_VCPU_RUNNING and info[0][0][2] > 0
    assert dom.jobStats() == {"type": libvirt.VIR_DOMAIN_JOB_NONE}
    with pytest.raises(libvirt.libvirtError, match="user-mode networking|no host network device"):
        dom.interfaceStats("52:54:00:12:34:56")
    with pytest.raises(libvirt.libvirtError, match="'eth9' is not a known interface"):
        dom.interfaceStats("eth9")
    conn.close()


def test_domstats_every_group_and_filters(stats_guest, tmp_path):
    daemon, directory = stats_guest
    uri = daemon.uri
    # A second, stopped domain: the filters tell them apart.
    (tmp_path / "off.xml").write_text(stats_xml("off", directory, str(tmp_path / "off.log")))
    run("virsh", "-c", uri, "define", str(tmp_path / "off.xml"))
    text = run("virsh", "-c", uri, "domstats").stdout
    assert "Domain: 'st'" in text and "Domain: 'off'" in text
    running = run("virsh", "-c", uri, "domstats", "--list-running").stdout
    assert "Domain: 'st'" in running and "Domain: 'off'" not in running
    stats = values(run("virsh", "-c", uri, "domstats", "st").stdout)
    for key in ("state.state", "cpu.time", "cpu.user", "balloon.current", "balloon.maximum", "vcpu.current", "vcpu.maximum",
                "vcpu.0.state", "vcpu.1.time", "vcpu.0.wait", "net.count", "block.count", "block.0.name", "block.0.path",
                "block.0.rd.reqs", "block.2.capacity", "block.1.physical", "block.0.allocation", "cpu.cache.monitor.count",
                "cpu.haltpoll.success.time", "dirtyrate.calc_status", "dirtyrate.calc_mode"):
        assert key in stats, key
    # No cache monitors; a TCG guest does not halt-poll; QEMU has not measured its dirty rate.
    assert stats["cpu.cache.monitor.count"] == "0" and stats["cpu.haltpoll.fail.time"] == "0"
    assert stats["dirtyrate.calc_status"] == "0" and stats["dirtyrate.calc_mode"] == "page-sampling"
    assert stats["state.state"] == "1" and stats["block.count"] == "3" and stats["block.2.name"] == "vdc"
    assert int(stats["block.2.capacity"]) == 50 << 20 and stats["vcpu.current"] == "2"
    # Groups one at a time; the stopped domain reports its definition.
    only_vcpu = values(run("virsh", "-c", uri, "domstats", "--vcpu", "off").stdout)
    assert only_vcpu == {"Domain:": "'off'", "vcpu.current": "2", "vcpu.maximum": "2"}
    conn = libvirt.open(uri)
    records = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE)
    assert [(dom.name(), params["state.state"]) for dom, params in records] == [("off", libvirt.VIR_DOMAIN_SHUTOFF)]
    # Asking for groups the daemon does not know: ignored, or refused with ENFORCE_STATS.
    assert conn.getAllDomainStats(1 << 20, 0) is not None
    with pytest.raises(libvirt.libvirtError, match="not supported by this daemon"):
        conn.getAllDomainStats(1 << 20, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS)
    conn.close()


def test_statistics_refusals_on_raw_frames(daemon):
    """The daemon's own checks (libvirt's client refuses some of these before sending)."""
    client = rawrpc.RawClient(daemon.socket)
    client.open()
    missing = rawrpc.xdr_domain()
    cases = [
        # GET_VCPUS: maxinfo * maplen beyond REMOTE_CPUMAPS_MAX (and no overflow on the way).
        (20, missing + struct.pack(">ii", 16384, 0x7FFFFFFF), "REMOTE_CPUMAPS_MAX"),
        (20, missing + struct.pack(">ii", 16385, 1), "REMOTE_VCPUINFO_MAX"),
        (20, missing + struct.pack(">ii", 0, 1), "maxinfo in virDomainGetVcpus must be greater than zero"),
        # MEMORY_STATS: maxStats beyond the protocol's maximum.
        (159, missing + struct.pack(">II", 1025, 0), "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX"),
        # GET_CPU_STATS: ncpus and nparams * ncpus bounds.
        (262, missing + struct.pack(">IiII", 0, 0, 129, 0), "REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX"),
        (262, missing + struct.pack(">IiII", 0xFFFFFFFF, 0, 128, 0), "REMOTE_DOMAIN_GET_CPU_STATS_MAX"),
        # BLOCK_PEEK: the buffer limit, before anything else.
        (103, missing + rawrpc.xdr_string("vda") + struct.pack(">QII", 0, 4194305, 0), "size > maximum buffer size"),
        # BLOCK_RESIZE: KiB that overflow bytes.
        (251, missing + rawrpc.xdr_string("vda") + struct.pack(">QI", 0xFFFFFFFFFFFFFFFF, 0), "size must be less than"),
        # Unknown stats flags.
        (344, struct.pack(">I", 0) + struct.pack(">II", 0, 1 << 28), "unsupported flags (0x10000000)"),
        # A missing domain.
        (64, missing + rawrpc.xdr_string("vda"), "Domain not found"),
    ]
    for procedure, body, message in cases:
        header, payload = client.call(rawrpc.REMOTE, procedure, body)
        assert header["status"] == rawrpc.ERROR, procedure
        assert message in rawrpc.parse_error(payload)[2], (procedure, rawrpc.parse_error(payload))
    header, _ = client.call(rawrpc.REMOTE, 59)
    assert header["status"] == rawrpc.OK
    client.close()
    assert daemon.alive()


def test_setmem_and_setmaxmem_live_and_config(stats_guest):
    daemon, _ = stats_guest
    uri = daemon.uri
    # Live: the balloon gives the guest less; the live XML follows, the definition does not.
    run("virsh", "-c", uri, "setmem", "st", "100M", "--live")
    wait_for(lambda: values(run("virsh", "-c", uri, "dommemstat", "st").stdout).get("actual") == str(100 * 1024),
             timeout=30, what="the balloon to deflate")
    assert "<currentMemory unit='KiB'>102400</currentMemory>" in run("virsh", "-c", uri, "dumpxml", "st").stdout
    assert "<currentMemory unit='KiB'>131072</currentMemory>" in run("virsh", "-c", uri, "dumpxml", "--inactive", "st").stdout
    # Config: the next start's memory; the maximum only while stopped, or in the definition.
    run("virsh", "-c", uri, "setmaxmem", "st", "256M", "--config")
    run("virsh", "-c", uri, "setmem", "st", "96M", "--config")
    inactive = run("virsh", "-c", uri, "dumpxml", "--inactive", "st").stdout
    assert "<memory unit='KiB'>262144</memory>" in inactive and "<currentMemory unit='KiB'>98304</currentMemory>" in inactive
    result = run("virsh", "-c", uri, "setmem", "st", "200M", "--live", check=False)
    assert result.returncode != 0 and "cannot set memory higher than max memory" in result.stderr
    result = run("virsh", "-c", uri, "setmaxmem", "st", "512M", "--live", check=False)
    assert result.returncode != 0 and "cannot resize the maximum memory on an active domain" in result.stderr
