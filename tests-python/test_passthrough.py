"""Monitor passthrough through the QEMU program: virsh qemu-monitor-command and libvirt_qemu."""
import json
import os
import re

import libvirt
import libvirt_qemu
import pytest

from conftest import binary, run
from guest import domain_xml


def run_libvirt_event_loop():
    """Runs libvirt's default event loop on a thread (event callbacks need it); returns the
    function that stops it."""
    import threading
    libvirt.virEventRegisterDefaultImpl()
    running = [True]

    def loop():
        while running[0]:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()

    def stop():
        running[0] = False
    return stop


def test_qmp_and_hmp_through_virsh(running):
    daemon = running
    out = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"query-status"}').stdout
    reply = json.loads(out)
    assert reply["return"]["status"] == "running" and reply["id"].startswith("libvirt-")
    own = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"query-status","id":"mine"}').stdout)
    assert own["id"] == "mine"
    error = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"no-such-command"}').stdout)
    assert error["error"]["class"] == "CommandNotFound"
    hmp = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", "--hmp", "info status").stdout
    assert "VM status: running" in hmp
    # A pause through passthrough is noticed by the daemon (its own session sees the event).
    run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"stop"}')
    assert run("virsh", "-c", daemon.uri, "domstate", "mon", "--reason").stdout.strip().startswith("paused")
    run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", "--hmp", "cont")
    assert run("virsh", "-c", daemon.uri, "domstate", "mon").stdout.strip() == "running"
    assert "tainted: custom monitor control commands issued" in run("virsh", "-c", daemon.uri, "dominfo", "mon").stdout
    ours = run(binary("corral"), "-c", daemon.uri, "qemu-monitor-command", "mon", "--return-value", '{"execute":"query-status"}').stdout
    assert json.loads(ours)["status"] == "running"


def test_libvirt_qemu_monitor_command(running):
    conn = libvirt.open(running.uri)
    try:
        dom = conn.lookupByName("mon")
        reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-version"}', 0))
        assert reply["return"]["qemu"]["major"] >= 7
        assert "running" in libvirt_qemu.qemuMonitorCommand(dom, "info status", libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
    finally:
        conn.close()


def test_read_only_refuses_passthrough(running):
    result = run("virsh", "-r", "-c", running.uri_ro, "qemu-monitor-command", "mon", '{"execute":"query-status"}', check=False)
    assert result.returncode != 0
    assert "read only access prevents virDomainQemuMonitorCommand" in result.stderr


def test_passthrough_needs_a_running_guest(daemon, tmp_path):
    (tmp_path / "g.xml").write_text(domain_xml("off", str(tmp_path / "s.log")))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    result = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "off", '{"execute":"query-status"}', check=False)
    assert "domain is not running" in result.stderr


def test_monitor_events_follow_passthrough(running):
    import subprocess
    import time
    daemon = running
    events = subprocess.Popen(["virsh", "-c", daemon.uri, "qemu-monitor-event", "--loop", "--timeout", "8"],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.7)
    run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"stop"}')
    assert run("virsh", "-c", daemon.uri, "domstate", "mon").stdout.strip() == "paused"
    run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"cont"}')
    assert run("virsh", "-c", daemon.uri, "domstate", "mon", "--reason").stdout.strip() == "running (unpaused)"
    out = events.communicate(timeout=20)[0]
    lines = [l for l in out.splitlines() if l.startswith("event")]
    assert any(re.match(r"event STOP at [0-9.]+ for domain 'mon'", l) for l in lines), out
    assert any(re.match(r"event RESUME at [0-9.]+ for domain 'mon'", l) for l in lines), out
    stop = [i for i, l in enumerate(lines) if "STOP" in l][0]
    resume = [i for i, l in enumerate(lines) if "RESUME" in l][0]
    assert stop < resume


def test_libvirt_qemu_monitor_event_register(running):
    import time
    stop_events = run_libvirt_event_loop()
    conn = libvirt.open(running.uri)
    seen = []
    try:
        callback = libvirt_qemu.qemuMonitorEventRegister(conn, None, "STOP", lambda c, d, e, s, m, details, o: seen.append((d.name(), e)), None, 0)
        dom = conn.lookupByName("mon")
        dom.suspend()
        deadline = time.time() + 10
        while not seen and time.time() < deadline:
            time.sleep(0.05)
        assert seen == [("mon", "STOP")]
        libvirt_qemu.qemuMonitorEventDeregister(conn, callback)
        dom.resume()
    finally:
        stop_events()
        conn.close()


def connected_monitor_clients(run_dir):
    """How many clients each passthrough socket of a guest has now, from /proc/net/unix: QEMU's
    accepted sockets carry the listening socket's path and the connected state (03)."""
    counts = {}
    with open("/proc/net/unix") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[5] == "03" and fields[7].startswith(run_dir + "/passthrough"):
                counts[os.path.basename(fields[7])] = counts.get(os.path.basename(fields[7]), 0) + 1
    return counts


def test_passthrough_monitor_pool(daemon, tmp_path):
    """Clients are spread over the guest's passthrough monitors, each connection always on the
    same one (its commands in order), the pool's size from <qemu:passthrough monitors>; events
    reach each subscriber once; a restarted daemon finds the pool again."""
    import threading
    import time
    (tmp_path / "g.xml").write_text(domain_xml("pool", str(tmp_path / "serial.log"), namespace="<qemu:passthrough monitors='3'/>"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    assert "<qemu:passthrough monitors='3'/>" in run("virsh", "-c", daemon.uri, "dumpxml", "pool", "--inactive").stdout
    run("virsh", "-c", daemon.uri, "start", "pool")
    run_dir = os.path.join(daemon.dir, "run", "domains", "pool")
    sockets = sorted(f for f in os.listdir(run_dir) if f.startswith("passthrough"))
    assert sockets == ["passthrough-1.sock", "passthrough-2.sock", "passthrough.sock"]
    connections = [libvirt.open(daemon.uri) for _ in range(6)]
    try:
        domains = [c.lookupByName("pool") for c in connections]
        for dom in domains:
            assert json.loads(libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-status"}', 0))["return"]["running"]
        # Six connections on three monitors: the daemon holds one session on each (and its own
        # monitor is another socket).
        assert connected_monitor_clients(run_dir) == {"passthrough.sock": 1, "passthrough-1.sock": 1, "passthrough-2.sock": 1}
        # One connection's commands stay in order while others run on other monitors.
        failures = []

        def ordered(index, dom):
            try:
                for n in range(40):
                    reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps({"execute": "query-status", "id": f"c{index}-{n}"}), 0))
                    if reply.get("id") != f"c{index}-{n}":
                        failures.append(reply)
            except libvirt.libvirtError as error:
                failures.append(str(error))
        threads = [threading.Thread(target=ordered, args=(i, d)) for i, d in enumerate(domains)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        # Events: two subscribers on two connections, a stop and a cont issued on two monitors;
        # each subscriber sees each event once.
        stop_events = run_libvirt_event_loop()
        seen = {0: [], 1: []}
        subscribers = [libvirt.open(daemon.uri) for _ in range(2)]
        try:
            for i, c in enumerate(subscribers):
                libvirt_qemu.qemuMonitorEventRegister(c, None, None, lambda c, d, e, s, m, details, o: seen[o].append(e), i, 0)
            libvirt_qemu.qemuMonitorCommand(domains[1], '{"execute":"stop"}', 0)
            libvirt_qemu.qemuMonitorCommand(domains[2], '{"execute":"cont"}', 0)
            deadline = time.time() + 10
            while (seen[0].count("RESUME") < 1 or seen[1].count("RESUME") < 1) and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            for i in (0, 1):
                assert [e for e in seen[i] if e in ("STOP", "RESUME")] == ["STOP", "RESUME"], seen
        finally:
            stop_events()
            for c in subscribers:
                c.close()
    finally:
        for c in connections:
            c.close()
    # A daemon killed and started again finds the three monitors from the guest's sockets.
    daemon.restart(kill=True)
    connections = [libvirt.open(daemon.uri) for _ in range(4)]
    try:
        for c in connections:
            reply = json.loads(libvirt_qemu.qemuMonitorCommand(c.lookupByName("pool"), '{"execute":"query-status"}', 0))
            assert reply["return"]["running"]
        assert connected_monitor_clients(run_dir) == {"passthrough.sock": 1, "passthrough-1.sock": 1, "passthrough-2.sock": 1}
    finally:
        for c in connections:
            c.close()
    run("virsh", "-c", daemon.uri, "destroy", "pool")


def test_default_passthrough_pool(running):
    run_dir = os.path.join(running.dir, "run", "domains", "mon")
    assert sum(1 for f in os.listdir(run_dir) if f.startswith("passthrough")) == 4
