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
