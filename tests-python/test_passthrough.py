"""Monitor passthrough through the QEMU program: virsh qemu-monitor-command and libvirt_qemu."""
import json
import re

import libvirt
import libvirt_qemu
import pytest

from conftest import binary, run
from guest import domain_xml


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
    import threading
    import time
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.open(running.uri)
    seen = []
    loop_running = True

    def loop():
        while loop_running:
            libvirt.virEventRunDefaultImpl()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
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
        loop_running = False
        conn.close()
