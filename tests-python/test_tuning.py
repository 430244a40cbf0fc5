"""Tunables and the smaller domain calls: block I/O limits (`blkdeviotune`) live, in the
definition and at start, checked in QEMU; `domblkerror`, `iothreadinfo`; `domrename` with its
events; `send-key` read back from the guest's own input device; VNC client events."""
import glob
import json
import os
import socket
import struct
import subprocess
import time

import libvirt
import pytest

import rawrpc
from test_hotplug import boot_with_console, hotplug_xml, image, in_guest, virsh


@pytest.fixture
def guest(daemon, tmp_path):
    disk = image(tmp_path / "t.img")
    devices = f"<disk type='file' device='disk'><source file='{disk}'/><target dev='vda' bus='virtio'/></disk><graphics type='vnc' port='-1' listen='127.0.0.1'/>"
    (tmp_path / "t.xml").write_text(hotplug_xml("tune", devices))
    virsh(daemon, "define", str(tmp_path / "t.xml"))
    virsh(daemon, "start", "tune")
    yield daemon, tmp_path
    virsh(daemon, "destroy", "tune", check=False)
    virsh(daemon, "undefine", "tune", check=False)


def throttle(daemon, name="tune"):
    reply = json.loads(virsh(daemon, "qemu-monitor-command", name, '{"execute":"query-block"}').stdout)
    return next(b["inserted"] for b in reply["return"] if "virtio-disk0" in b.get("qdev", ""))


def table(output):
    """virsh's `name : value` lines as a dict."""
    values = {}
    for line in output.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            values[key.strip()] = value.strip()
    return values


def iotune(daemon, *extra):
    return table(virsh(daemon, "blkdeviotune", "tune", "vda", *extra).stdout)


def test_block_io_limits_live_config_and_at_start(guest):
    daemon, tmp = guest
    assert iotune(daemon)["total_bytes_sec"] == "0" and len(iotune(daemon)) == 20
    watcher = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "tune", "--event", "tunable", "--timeout", "20"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    virsh(daemon, "blkdeviotune", "tune", "vda", "--total-bytes-sec", "10485760", "--read-iops-sec", "300", "--live")
    assert throttle(daemon)["bps"] == 10485760 and throttle(daemon)["iops_rd"] == 300
    assert iotune(daemon)["total_bytes_sec"] == "10485760" and iotune(daemon)["read_iops_sec"] == "300"
    assert "<total_bytes_sec>10485760</total_bytes_sec>" in virsh(daemon, "dumpxml", "tune").stdout
    events = watcher.communicate(timeout=30)[0]
    assert "blkdeviotune.disk: vda" in events and "blkdeviotune.total_bytes_sec: 10485760" in events
    # A read limit replaces the total one (libvirt's rule).
    virsh(daemon, "blkdeviotune", "tune", "vda", "--read-bytes-sec", "2097152", "--live")
    assert throttle(daemon)["bps"] == 0 and throttle(daemon)["bps_rd"] == 2097152
    # In the definition, then at the next start.
    virsh(daemon, "blkdeviotune", "tune", "vda", "--write-iops-sec", "77", "--config")
    assert "<write_iops_sec>77</write_iops_sec>" in virsh(daemon, "dumpxml", "tune", "--inactive").stdout
    assert iotune(daemon, "--config")["write_iops_sec"] == "77"
    virsh(daemon, "destroy", "tune")
    virsh(daemon, "start", "tune")
    assert throttle(daemon)["iops_wr"] == 77
    result = virsh(daemon, "blkdeviotune", "tune", "vda", "--total-bytes-sec", "1", "--read-bytes-sec", "1", "--live", check=False)
    assert "total and read/write of bytes_sec cannot be set at the same time" in result.stderr
    result = virsh(daemon, "blkdeviotune", "tune", "vdz", "--live", "--total-iops-sec", "5", check=False)
    assert "disk 'vdz' not found in domain" in result.stderr


def test_typed_parameters_are_checked_by_the_daemon(guest):
    daemon, tmp = guest
    conn = libvirt.open(daemon.uri)
    dom = conn.lookupByName("tune")
    client = rawrpc.RawClient(daemon.socket)
    client.open()
    domain = rawrpc.xdr_domain("tune", dom.UUID())

    def param(name, kind, value):
        return rawrpc.xdr_string(name) + struct.pack(">i", kind) + value

    for params, message in [
        ([param("total_bytes_sec", 1, struct.pack(">i", 5))], "invalid type 'int' for parameter 'total_bytes_sec', expected 'ullong'"),
        ([param("no_such_limit", 4, struct.pack(">Q", 5))], "parameter 'no_such_limit' not supported"),
        ([param("total_iops_sec", 4, struct.pack(">Q", 5))] * 2, "parameter 'total_iops_sec' occurs multiple times"),
        ([param("total_iops_sec", 4, struct.pack(">Q", 10**16))], "must be no more than 1000000000000000"),
    ]:
        body = domain + rawrpc.xdr_string("vda") + struct.pack(">I", len(params)) + b"".join(params) + struct.pack(">I", 1)
        header, payload = client.call(rawrpc.REMOTE, 252, body)
        assert header["status"] == rawrpc.ERROR and message in rawrpc.parse_error(payload)[2], message
    client.close()
    conn.close()
    assert daemon.alive()


def test_disk_errors_and_io_threads(guest):
    daemon, tmp = guest
    assert "No errors found" in virsh(daemon, "domblkerror", "tune").stdout
    assert "No IOThreads found for the domain" in virsh(daemon, "iothreadinfo", "tune").stdout


def test_rename_a_shut_off_domain_with_its_events(guest):
    daemon, tmp = guest
    result = virsh(daemon, "domrename", "tune", "other", check=False)
    assert "cannot rename active domain" in result.stderr
    virsh(daemon, "destroy", "tune")
    virsh(daemon, "autostart", "tune")
    watcher = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "--event", "lifecycle", "--loop", "--timeout", "10"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    virsh(daemon, "domrename", "tune", "renamed")
    listing = virsh(daemon, "list", "--all", "--name").stdout.split()
    assert "renamed" in listing and "tune" not in listing
    assert "<name>renamed</name>" in virsh(daemon, "dumpxml", "renamed", "--inactive").stdout
    assert "enable" in virsh(daemon, "dominfo", "renamed").stdout.split("Autostart:")[1].split("\n")[0]
    events = watcher.communicate(timeout=20)[0]
    assert "'tune': Undefined Renamed" in events and "'renamed': Defined Renamed" in events
    # The definition moved, autostart with it: after a daemon restart it starts under its new name.
    daemon.restart()
    deadline = time.time() + 30
    while "renamed" not in virsh(daemon, "list", "--name").stdout.split():
        assert time.time() < deadline, "the renamed domain did not autostart"
        time.sleep(0.2)
    virsh(daemon, "destroy", "renamed")
    virsh(daemon, "define", str(tmp / "t.xml"))
    result = virsh(daemon, "domrename", "renamed", "tune", check=False)
    assert "domain with name 'tune' already exists" in result.stderr
    # The daemon's own refusals: read-only connections (after libvirt's name check), no name.
    conn = libvirt.open(daemon.uri)
    uuid = conn.lookupByName("renamed").UUID()
    conn.close()
    readonly = rawrpc.RawClient(daemon.socket_ro)
    readonly.open(read_only=True)
    body = rawrpc.xdr_domain("renamed", uuid) + struct.pack(">I", 1) + rawrpc.xdr_string("x") + struct.pack(">I", 0)
    header, payload = readonly.call(rawrpc.REMOTE, 358, body)
    assert header["status"] == rawrpc.ERROR and "read only access prevents virDomainRename" in rawrpc.parse_error(payload)[2]
    header, payload = readonly.call(rawrpc.REMOTE, 358, rawrpc.xdr_domain("renamed", uuid) + struct.pack(">II", 0, 0))
    assert "new_name in virDomainRename must not be NULL" in rawrpc.parse_error(payload)[2]
    readonly.close()
    virsh(daemon, "undefine", "renamed")


def test_send_key_reaches_the_guest_keyboard(daemon, tmp_path):
    (tmp_path / "k.xml").write_text(hotplug_xml("keys"))
    virsh(daemon, "define", str(tmp_path / "k.xml"))
    console = boot_with_console(daemon, "keys")
    try:
        # The AT keyboard's event device, read in the guest: each press is an input_event
        # with type EV_KEY (1), the key's code and value 1.
        in_guest(console, "grep -l 'AT Translated' /sys/class/input/event*/device/name", "event")
        device = console.output.decode(errors="replace").split("/sys/class/input/")[-1].split("/")[0]
        console.type(f"od -An -tx1 -w24 /dev/input/{device} &\r")
        time.sleep(1)
        console.output = b""
        virsh(daemon, "send-key", "keys", "KEY_A")          # linux codeset, by name
        virsh(daemon, "send-key", "keys", "--codeset", "usb", "5")  # usb 5 = B
        console.expect(" 01 00 1e 00 01 00 00 00")   # KEY_A (30) pressed
        console.expect(" 01 00 30 00 01 00 00 00")   # KEY_B (48) pressed
        result = virsh(daemon, "send-key", "keys", "--codeset", "win32", "4095", check=False)
        assert "cannot translate keycode 4095 of win32 codeset to qnum keycode" in result.stderr
    finally:
        console.close()
        virsh(daemon, "destroy", "keys", check=False)


def test_vnc_clients_give_graphics_events(guest):
    daemon, tmp = guest
    display = virsh(daemon, "vncdisplay", "tune").stdout.strip()
    port = 5900 + int(display.split(":")[-1])
    watcher = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "tune", "--event", "graphics", "--loop", "--timeout", "10"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    with socket.create_connection(("127.0.0.1", port)) as client:
        assert client.recv(12).startswith(b"RFB ")
    events = watcher.communicate(timeout=20)[0]
    assert "graphics" in events and "connect" in events and "disconnect" in events


def cgroup_file(controller, name, file):
    """A file of the guest's control group, wherever the controller is mounted (v1 or v2)."""
    for root in (f"/sys/fs/cgroup/{controller}", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        matches = glob.glob(f"{root}/corral/qemu-*-{name}/{file}")
        if matches:
            return open(matches[0]).read().strip()
    raise AssertionError(f"no control group file {file} for {name}")


NO_BLOCK_WEIGHT = "blkio device weight is valid only for bfq or cfq scheduler"


def has_block_weight(name):
    """Whether the guest's group has a block I/O weight file (BFQ's or the generic one, v1 or v2)."""
    for file in ("blkio.bfq.weight", "blkio.weight", "io.bfq.weight", "io.weight"):
        try:
            cgroup_file("blkio", name, file)
            return True
        except AssertionError:
            pass
    return False


def quota_of(name, group):
    """The CFS quota (µs, -1 for none) of one of a guest's per-thread groups."""
    if os.path.exists("/sys/fs/cgroup/cpu/cpu.shares"):
        return int(cgroup_file("cpu", name, f"{group}/cpu.cfs_quota_us"))
    quota = cgroup_file("cpu", name, f"{group}/cpu.max").split()[0]
    return -1 if quota == "max" else int(quota)


def test_tunables_live_through_the_control_group_and_in_the_definition(guest):
    daemon, tmp = guest
    live = table(virsh(daemon, "schedinfo", "tune").stdout)
    assert live["Scheduler"] == "posix" and live["vcpu_quota"] == "-1" and int(live["cpu_shares"]) > 0
    virsh(daemon, "schedinfo", "tune", "--set", "cpu_shares=512", "--live")
    virsh(daemon, "schedinfo", "tune", "--set", "global_quota=50000", "--live")
    assert table(virsh(daemon, "schedinfo", "tune").stdout)["cpu_shares"] == "512"
    shares_file = "cpu.shares" if os.path.exists("/sys/fs/cgroup/cpu/cpu.shares") else "cpu.weight"
    assert cgroup_file("cpu", "tune", shares_file) == "512"
    assert table(virsh(daemon, "schedinfo", "tune").stdout)["global_quota"] == "50000"
    # Per-vCPU and emulator bandwidth, on libvirt's per-thread groups: each vCPU thread is in
    # its own group, every other thread of QEMU in the emulator's.
    virsh(daemon, "schedinfo", "tune", "--set", "vcpu_quota=20000", "--live")
    virsh(daemon, "schedinfo", "tune", "--set", "emulator_period=50000", "--set", "emulator_quota=10000", "--live")
    live = table(virsh(daemon, "schedinfo", "tune").stdout)
    assert (live["vcpu_quota"], live["emulator_period"], live["emulator_quota"]) == ("20000", "50000", "10000"), live
    v1cpu = os.path.exists("/sys/fs/cgroup/cpu/cpu.shares")
    assert quota_of("tune", "vcpu0") == 20000 and quota_of("tune", "emulator") == 10000
    vcpus = json.loads(virsh(daemon, "qemu-monitor-command", "tune", '{"execute":"query-cpus-fast"}').stdout)["return"]
    threads_file = "tasks" if v1cpu else "cgroup.threads"
    for cpu in vcpus:
        assert str(cpu["thread-id"]) in cgroup_file("cpu", "tune", f"vcpu{cpu['cpu-index']}/{threads_file}").split()
    emulator_threads = cgroup_file("cpu", "tune", f"emulator/{threads_file}").split()
    assert emulator_threads and not {str(cpu["thread-id"]) for cpu in vcpus} & set(emulator_threads)
    assert "<quota>20000</quota>" in virsh(daemon, "dumpxml", "tune").stdout
    result = virsh(daemon, "schedinfo", "tune", "--set", "vcpu_quota=5", "--live", check=False)
    assert "value of 'vcpu_quota' is out of range [1000, 17592186044415]" in result.stderr
    result = virsh(daemon, "schedinfo", "tune", "--set", "global_period=10", "--live", check=False)
    assert "value of 'global_period' is out of range [1000, 1000000]" in result.stderr
    # Memory limits, checked in the group.
    virsh(daemon, "memtune", "tune", "--hard-limit", "1048576", "--live")
    assert table(virsh(daemon, "memtune", "tune").stdout)["hard_limit"] == "1048576"
    v1 = os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert cgroup_file("memory", "tune", "memory.limit_in_bytes" if v1 else "memory.max") == str(1048576 * 1024)
    result = virsh(daemon, "memtune", "tune", "--hard-limit", "2097152", "--swap-hard-limit", "1048576", "--live", check=False)
    assert "must be lower than or equal to swap_hard_limit" in result.stderr
    # Block I/O weight and NUMA nodes. The weight needs BFQ's (or the generic) weight file in
    # the block I/O controller; a kernel without BFQ has neither, and then libvirt refuses.
    weighable = has_block_weight("tune")
    result = virsh(daemon, "blkiotune", "tune", "--weight", "300", "--live", check=weighable)
    if weighable:
        assert table(virsh(daemon, "blkiotune", "tune").stdout)["weight"] == "300"
    else:
        assert NO_BLOCK_WEIGHT in result.stderr, result.stderr
    result = virsh(daemon, "blkiotune", "tune", "--weight", "5", "--live", check=False)
    assert "out of blkio weight range." in result.stderr
    virsh(daemon, "numatune", "tune", "--nodeset", "0", "--live")
    assert table(virsh(daemon, "numatune", "tune").stdout) == {"numa_mode": "strict", "numa_nodeset": "0"}
    assert cgroup_file("cpuset", "tune", "cpuset.mems") == "0"
    result = virsh(daemon, "numatune", "tune", "--nodeset", "7", "--live", check=False)
    assert "NUMA node 7 is unavailable" in result.stderr
    # In the definition; a start applies it to the new group.
    virsh(daemon, "schedinfo", "tune", "--set", "cpu_shares=777", "--config")
    virsh(daemon, "schedinfo", "tune", "--set", "vcpu_period=200000", "--set", "vcpu_quota=30000", "--config")
    virsh(daemon, "memtune", "tune", "--soft-limit", "524288", "--config")
    if weighable:
        virsh(daemon, "blkiotune", "tune", "--weight", "600", "--config")
    virsh(daemon, "numatune", "tune", "--mode", "strict", "--nodeset", "0", "--config")
    inactive = virsh(daemon, "dumpxml", "tune", "--inactive").stdout
    for piece in ["<shares>777</shares>", "<period>200000</period>", "<quota>30000</quota>", "<soft_limit unit='KiB'>524288</soft_limit>", "<memory mode='strict' nodeset='0'/>"]:
        assert piece in inactive, piece
    assert ("<weight>600</weight>" in inactive) == weighable
    assert table(virsh(daemon, "schedinfo", "tune", "--config").stdout)["cpu_shares"] == "777"
    virsh(daemon, "destroy", "tune")
    virsh(daemon, "start", "tune")
    assert table(virsh(daemon, "schedinfo", "tune").stdout)["cpu_shares"] == "777"
    assert quota_of("tune", "vcpu0") == 30000 and table(virsh(daemon, "schedinfo", "tune").stdout)["vcpu_period"] == "200000"
    assert table(virsh(daemon, "memtune", "tune").stdout)["soft_limit"] == "524288"
    if weighable:
        assert table(virsh(daemon, "blkiotune", "tune").stdout)["weight"] == "600"
    virsh(daemon, "destroy", "tune")
    if not weighable:
        # A weight in the definition that this host cannot apply fails the start, as libvirt's.
        virsh(daemon, "blkiotune", "tune", "--weight", "600", "--config")
        result = virsh(daemon, "start", "tune", check=False)
        assert result.returncode != 0 and NO_BLOCK_WEIGHT in result.stderr, result.stderr
        assert virsh(daemon, "domstate", "tune").stdout.strip() == "shut off"
    # The group goes with the guest.
    assert not glob.glob("/sys/fs/cgroup/*/corral/qemu-*-tune") and not glob.glob("/sys/fs/cgroup/corral/qemu-*-tune")
