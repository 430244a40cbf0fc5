"""I/O threads and where they run: <iothreadpin> applied to QEMU's threads at start,
`virsh iothreadinfo` live and from the definition, and `virsh iothreadpin` live (the thread's
affinity and the live XML) and in the definition, with libvirt's refusals."""
import json
import re
import struct

import libvirt

import rawrpc
from conftest import run
from guest import domain_xml

EXTRA = "<iothreads>2</iothreads><cputune><iothreadpin iothread='1' cpuset='1'/></cputune>"


def virsh(daemon, *args, check=True):
    return run("virsh", "-c", daemon.uri, *args, check=check)


def affinity(daemon, ioThread):
    """The CPUs the host thread of I/O thread `ioThread` may run on, from /proc."""
    reply = json.loads(virsh(daemon, "qemu-monitor-command", "io", json.dumps({"execute": "query-iothreads"})).stdout)["return"]
    thread = next(t["thread-id"] for t in reply if t["id"] == f"iothread{ioThread}")
    status = open(f"/proc/{thread}/status").read()
    return re.search(r"Cpus_allowed_list:\s*(\S+)", status).group(1)


def qom_get(daemon, thread, prop):
    command = {"execute": "qom-get", "arguments": {"path": f"/objects/{thread}", "property": prop}}
    return json.loads(virsh(daemon, "qemu-monitor-command", "io", json.dumps(command)).stdout)["return"]


def info(daemon, *flags):
    """`virsh iothreadinfo` as {id: affinity}."""
    lines = virsh(daemon, "iothreadinfo", "io", *flags).stdout.splitlines()
    return {int(m.group(1)): m.group(2) for m in (re.match(r"\s*(\d+)\s+(\S+)", line) for line in lines) if m}


def test_io_threads_are_pinned_at_start_and_repinned_live_and_in_the_definition(daemon, tmp_path):
    (tmp_path / "io.xml").write_text(domain_xml("io", str(tmp_path / "io.log"), extra=EXTRA))
    virsh(daemon, "define", str(tmp_path / "io.xml"))
    # The definition's view before the start: iothread 1 pinned, iothread 2 anywhere.
    assert info(daemon, "--config") == {1: "1", 2: "0-1"}
    try:
        virsh(daemon, "start", "io")
        assert affinity(daemon, 1) == "1" and affinity(daemon, 2) == "0-1"
        assert info(daemon) == {1: "1", 2: "0-1"}

        virsh(daemon, "iothreadpin", "io", "2", "0", "--live")
        assert affinity(daemon, 2) == "0" and info(daemon) == {1: "1", 2: "0"}
        live = virsh(daemon, "dumpxml", "io").stdout
        assert re.search(r"<iothreadpin iothread='1' cpuset='1'/>\s*<iothreadpin iothread='2' cpuset='0'/>", live), live
        assert "iothread='2'" not in virsh(daemon, "dumpxml", "--inactive", "io").stdout

        virsh(daemon, "iothreadpin", "io", "2", "1", "--config")
        assert info(daemon, "--config") == {1: "1", 2: "1"}
        assert affinity(daemon, 2) == "0"

        refused = virsh(daemon, "iothreadpin", "io", "5", "0", "--live", check=False)
        assert refused.returncode != 0 and "iothread 5 not found" in refused.stderr
        refused = virsh(daemon, "iothreadpin", "io", "5", "0", "--config", check=False)
        assert refused.returncode != 0 and "iothreadid 5 not found" in refused.stderr

        # The daemon's own refusals of DOMAIN_PIN_IOTHREAD (352), as raw frames.
        handle = rawrpc.xdr_domain("io", libvirt.open(daemon.uri).lookupByName("io").UUID())
        def pin_frame(iothread, cpumap, flags):
            return handle + struct.pack(">I", iothread) + struct.pack(">I", len(cpumap)) + cpumap + b"\0" * (-len(cpumap) % 4) + struct.pack(">I", flags)
        client = rawrpc.RawClient(daemon.socket_ro).open()
        header, payload = client.call(rawrpc.REMOTE, 352, pin_frame(1, b"\1", 1))
        assert header["status"] == rawrpc.ERROR and "read only access prevents virDomainPinIOThread" in rawrpc.parse_error(payload)[2]
        client = rawrpc.RawClient(daemon.socket).open()
        for frame, message in [
            (pin_frame(0xFFFFFFFF, b"\1", 1), "iothread 4294967295 not found"),
            (pin_frame(1, b"\0", 1), "Empty iothread cpumap list for pinning"),
            (pin_frame(1, b"\1", 0x100), "unsupported flags (0x100)"),
        ]:
            header, payload = client.call(rawrpc.REMOTE, 352, frame)
            assert header["status"] == rawrpc.ERROR and message in rawrpc.parse_error(payload)[2], (message, rawrpc.parse_error(payload))
        assert affinity(daemon, 1) == "1" and daemon.alive()
    finally:
        virsh(daemon, "destroy", "io", check=False)
    # A pin of an I/O thread the domain does not have is refused at define, as libvirt does.
    (tmp_path / "bad.xml").write_text(domain_xml("bad", str(tmp_path / "bad.log"), extra=EXTRA.replace("iothread='1'", "iothread='3'")))
    refused = virsh(daemon, "define", str(tmp_path / "bad.xml"), check=False)
    assert refused.returncode != 0 and "Cannot find 'iothread' : 3" in refused.stderr


def iothread_elements(xml):
    """The <iothreads> count and the <iothreadids> ids of a domain document (None: no list)."""
    count = re.search(r"<iothreads>(\d+)</iothreads>", xml)
    listed = re.search(r"<iothreadids>(.*?)</iothreadids>", xml, re.S)
    return (int(count.group(1)) if count else 0, [int(i) for i in re.findall(r"<iothread id='(\d+)'", listed.group(1))] if listed else None)


def test_io_threads_are_added_removed_and_tuned_live_and_in_the_definition(daemon, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * (1 << 20))
    (tmp_path / "io.xml").write_text(domain_xml("io", str(tmp_path / "io.log"), extra=EXTRA).replace(
        "</devices>", f"<disk type='file' device='disk'><driver name='qemu' type='raw' iothread='1'/><source file='{disk}'/><target dev='vdb' bus='virtio'/></disk></devices>"))
    virsh(daemon, "define", str(tmp_path / "io.xml"))
    try:
        virsh(daemon, "start", "io")
        # Added live: QEMU gets the thread, the live document lists every id; the definition keeps its own.
        virsh(daemon, "iothreadadd", "io", "5", "--live")
        threads = {t["id"] for t in json.loads(virsh(daemon, "qemu-monitor-command", "io", '{"execute":"query-iothreads"}').stdout)["return"]}
        assert threads == {"iothread1", "iothread2", "iothread5"}
        assert iothread_elements(virsh(daemon, "dumpxml", "io").stdout) == (3, [1, 2, 5])
        assert iothread_elements(virsh(daemon, "dumpxml", "--inactive", "io").stdout) == (2, None)
        assert info(daemon) == {1: "1", 2: "0-1", 5: "0-1"}
        # Added to the definition only.
        virsh(daemon, "iothreadadd", "io", "7", "--config")
        assert iothread_elements(virsh(daemon, "dumpxml", "--inactive", "io").stdout) == (3, [1, 2, 7])
        assert 7 not in info(daemon)

        # libvirt's refusals, live and in the definition.
        for args, message in [
            (("iothreadadd", "io", "5", "--live"), "an IOThread is already using iothread_id '5'"),
            (("iothreadadd", "io", "7", "--config"), "an IOThread is already using iothread_id '7'"),
            (("iothreaddel", "io", "1", "--live"), "cannot remove IOThread 1 since it is being used by disk 'vdb'"),
            (("iothreaddel", "io", "9", "--config"), "cannot find IOThread '9' in iothreadids list"),
            (("iothreadset", "io", "9", "--poll-max-ns", "100", "--live"), "cannot find IOThread '9' in iothreadids"),
            (("iothreadset", "io", "2", "--poll-max-ns", "100", "--config"), "configuring persistent polling values is not supported"),
        ]:
            refused = virsh(daemon, *args, check=False)
            assert refused.returncode != 0 and message in refused.stderr, (args, refused.stderr)

        # Polling tuned live: QEMU's properties change.
        virsh(daemon, "iothreadset", "io", "2", "--poll-max-ns", "12345", "--poll-grow", "3", "--poll-shrink", "4", "--live")
        stats = {t["id"]: t for t in json.loads(virsh(daemon, "qemu-monitor-command", "io", '{"execute":"query-iothreads"}').stdout)["return"]}
        assert (stats["iothread2"]["poll-max-ns"], stats["iothread2"]["poll-grow"], stats["iothread2"]["poll-shrink"]) == (12345, 3, 4)

        # The worker pool tuned live (maximum first: QEMU's maximum is below the new minimum).
        virsh(daemon, "iothreadset", "io", "1", "--thread-pool-min", "70", "--thread-pool-max", "80", "--live")
        assert (qom_get(daemon, "iothread1", "thread-pool-min"), qom_get(daemon, "iothread1", "thread-pool-max")) == (70, 80)
        assert "<iothread id='1' thread_pool_min='70' thread_pool_max='80'/>" in virsh(daemon, "dumpxml", "io").stdout
        for args, message in [
            (("--thread-pool-max", "-1", "--live"), "thread_pool_max (-1) must be equal to or greater than 0 for live change"),
            (("--thread-pool-min", "90", "--live"), "thread_pool_min (90) can't be greater than thread_pool_max (80)"),
            (("--thread-pool-min", "3", "--config"), "thread_pool_min (3) can't be greater than thread_pool_max (-1)"),
        ]:
            refused = virsh(daemon, "iothreadset", "io", "1", *args, check=False)
            assert refused.returncode != 0 and message in refused.stderr, (args, refused.stderr)

        # Removed live: QEMU drops it and the live ids are kept as they are (1 and 5, not renumbered).
        virsh(daemon, "iothreaddel", "io", "2", "--live")
        threads = {t["id"] for t in json.loads(virsh(daemon, "qemu-monitor-command", "io", '{"execute":"query-iothreads"}').stdout)["return"]}
        assert threads == {"iothread1", "iothread5"}
        assert iothread_elements(virsh(daemon, "dumpxml", "io").stdout) == (2, [1, 5])
        # A removed thread takes its pin along; the other pins stay.
        virsh(daemon, "iothreadpin", "io", "2", "0", "--config")
        virsh(daemon, "iothreaddel", "io", "2", "--config")
        inactive = virsh(daemon, "dumpxml", "--inactive", "io").stdout
        assert iothread_elements(inactive) == (2, [1, 7]) and "<iothreadpin iothread='1' cpuset='1'/>" in inactive
        assert "iothread='2'" not in inactive

        # The daemon's own refusals as raw frames: read-only, huge ids, unknown flags and parameters.
        handle = rawrpc.xdr_domain("io", libvirt.open(daemon.uri).lookupByName("io").UUID())
        client = rawrpc.RawClient(daemon.socket_ro).open()
        header, payload = client.call(rawrpc.REMOTE, 355, handle + struct.pack(">II", 3, 1))
        assert header["status"] == rawrpc.ERROR and "read only access prevents virDomainAddIOThread" in rawrpc.parse_error(payload)[2]
        client = rawrpc.RawClient(daemon.socket).open()
        field = b"thread_pool_max"
        param = struct.pack(">I", len(field)) + field + b"\0" * (-len(field) % 4) + struct.pack(">Ii", 1, -5)
        for procedure, frame, message in [
            (355, handle + struct.pack(">II", 0xFFFFFFFF, 1), "iothread_id 4294967295 is larger than"),
            (355, handle + struct.pack(">II", 0, 1), "invalid value of 0 for iothread_id"),  # virsh refuses 0 itself
            (356, handle + struct.pack(">II", 1, 0x100), "unsupported flags (0x100)"),
            (402, handle + struct.pack(">II", 1, 1) + param + struct.pack(">I", 1), "thread_pool_max (-5) must be a positive number or -1"),
        ]:
            header, payload = client.call(rawrpc.REMOTE, procedure, frame)
            assert header["status"] == rawrpc.ERROR and message in rawrpc.parse_error(payload)[2], (message, rawrpc.parse_error(payload))
        assert daemon.alive()
        # A pool set in the definition: the attribute on its <iothread>, QEMU's property at the next start.
        virsh(daemon, "iothreadset", "io", "7", "--thread-pool-max", "4", "--config")
        assert "<iothread id='7' thread_pool_max='4'/>" in virsh(daemon, "dumpxml", "--inactive", "io").stdout
    finally:
        virsh(daemon, "destroy", "io", check=False)
    # The next start has the definition's threads.
    virsh(daemon, "start", "io")
    try:
        threads = {t["id"] for t in json.loads(virsh(daemon, "qemu-monitor-command", "io", '{"execute":"query-iothreads"}').stdout)["return"]}
        assert threads == {"iothread1", "iothread7"}
        assert qom_get(daemon, "iothread7", "thread-pool-max") == 4
    finally:
        virsh(daemon, "destroy", "io", check=False)
