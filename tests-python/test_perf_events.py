"""<perf> events: host counters (perf_event_open) on the guest's QEMU process, opened at start
and again when the daemon reattaches, turned on and off by `virsh perf` live and in the
definition, and reported by `virsh domstats --perf`, with libvirt's refusals."""
import re
import struct
import time

import libvirt

import rawrpc
from conftest import run
from guest import domain_xml

PERF = "<perf><event name='page_faults' enabled='no'/><event name='task_clock' enabled='yes'/></perf>"


def virsh(daemon, *args, check=True):
    return run("virsh", "-c", daemon.uri, *args, check=check)


def perf_states(daemon, *flags):
    """`virsh perf` as {event: enabled}."""
    lines = virsh(daemon, "perf", "p", *flags).stdout.splitlines()
    return {m.group(1): m.group(2) == "enabled" for m in (re.match(r"\s*(\w+)\s*:\s*(\w+)", line) for line in lines) if m}


def perf_stats(daemon):
    """`virsh domstats --perf` as {event: value}."""
    lines = virsh(daemon, "domstats", "--perf", "p").stdout.splitlines()
    return {m.group(1): int(m.group(2)) for m in (re.match(r"\s*perf\.(\w+)=(\d+)", line) for line in lines) if m}


def typed_boolean(field, value, kind=6):
    return rawrpc.xdr_string(field) + struct.pack(">ii", kind, int(value))


def test_perf_events_count_live_in_the_definition_and_across_a_daemon_restart(daemon, tmp_path):
    (tmp_path / "p.xml").write_text(domain_xml("p", str(tmp_path / "serial.log"), extra=PERF))
    virsh(daemon, "define", str(tmp_path / "p.xml"))
    inactive = virsh(daemon, "dumpxml", "p").stdout
    # libvirt's order, not the document's.
    assert "<perf>\n    <event name='task_clock' enabled='yes'/>\n    <event name='page_faults' enabled='no'/>\n  </perf>" in inactive
    states = perf_states(daemon)
    assert len(states) == 22 and states["task_clock"] and not states["page_faults"] and not states["cmt"]
    virsh(daemon, "start", "p")
    try:
        first = perf_stats(daemon)
        assert set(first) == {"task_clock"}
        time.sleep(0.5)
        second = perf_stats(daemon)
        # task_clock is QEMU's CPU time in ns; a running TCG guest keeps using some.
        assert second["task_clock"] > first["task_clock"] > 0, (first, second)

        # On live: counted at once, in the live XML only.
        virsh(daemon, "perf", "p", "--enable", "context_switches,page_faults", "--live")
        assert perf_states(daemon)["context_switches"] and perf_states(daemon)["page_faults"]
        assert not perf_states(daemon, "--config")["context_switches"]
        time.sleep(0.3)
        assert set(perf_stats(daemon)) == {"task_clock", "page_faults", "context_switches"}
        live = virsh(daemon, "dumpxml", "p").stdout
        assert "<event name='page_faults' enabled='yes'/>\n    <event name='context_switches' enabled='yes'/>" in live
        assert "context_switches" not in virsh(daemon, "dumpxml", "--inactive", "p").stdout

        # Off in the definition only: the live counter keeps counting.
        virsh(daemon, "perf", "p", "--disable", "task_clock", "--config")
        assert "<event name='task_clock' enabled='no'/>" in virsh(daemon, "dumpxml", "--inactive", "p").stdout
        assert "task_clock" in perf_stats(daemon)
        virsh(daemon, "perf", "p", "--disable", "page_faults", "--live")
        assert set(perf_stats(daemon)) == {"task_clock", "context_switches"}

        # Linux counts no RDT events through perf any more: libvirt's refusal, nothing changed.
        refused = virsh(daemon, "perf", "p", "--enable", "cmt", "--live", check=False)
        assert refused.returncode != 0 and "unable to enable host cpu perf event for cmt" in refused.stderr
        assert not perf_states(daemon)["cmt"]

        # A restarted daemon opens the live counters again.
        daemon.restart(kill=True)
        assert set(perf_stats(daemon)) == {"task_clock", "context_switches"}
        states = perf_states(daemon)
        assert states["task_clock"] and states["context_switches"] and not states["page_faults"]

        # The daemon's own refusals, in raw frames.
        handle = rawrpc.xdr_domain("p", libvirt.open(daemon.uri).lookupByName("p").UUID())
        client = rawrpc.RawClient(daemon.socket_ro).open()
        header, payload = client.call(rawrpc.REMOTE, 366, handle + struct.pack(">I", 1) + typed_boolean("cpu_clock", True) + struct.pack(">I", 1))
        assert header["status"] == rawrpc.ERROR and "read only access prevents virDomainSetPerfEvents" in rawrpc.parse_error(payload)[2]
        client = rawrpc.RawClient(daemon.socket).open()
        for params, flags, message in [
            (typed_boolean("cpu_cyclez", True), 1, "parameter 'cpu_cyclez' not supported"),
            (typed_boolean("cpu_clock", 1, kind=2), 1, "invalid type 'uint' for parameter 'cpu_clock', expected 'boolean'"),
            (typed_boolean("cpu_clock", True), 8, "unsupported flags (0x8) in function qemuDomainSetPerfEvents"),
        ]:
            header, payload = client.call(rawrpc.REMOTE, 366, handle + struct.pack(">I", 1) + params + struct.pack(">I", flags))
            assert header["status"] == rawrpc.ERROR and message in rawrpc.parse_error(payload)[2], (message, rawrpc.parse_error(payload))
        header, payload = client.call(rawrpc.REMOTE, 365, handle + struct.pack(">I", 3))
        assert header["status"] == rawrpc.ERROR and "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive" in rawrpc.parse_error(payload)[2]
        assert "task_clock" in perf_stats(daemon)
    finally:
        virsh(daemon, "destroy", "p", check=False)

    # A start whose counter cannot be opened fails with libvirt's message and leaves nothing.
    virsh(daemon, "perf", "p", "--enable", "mbmt", "--config")
    failed = virsh(daemon, "start", "p", check=False)
    assert failed.returncode != 0 and "unable to enable host cpu perf event for mbmt" in failed.stderr
    assert virsh(daemon, "domstate", "p").stdout.strip() == "shut off"
    virsh(daemon, "undefine", "p")
