"""A hostile QEMU and a hostile guest agent (tests-python/fake_qemu.py, started by corrald as the
domain's <emulator>): truncated, huge, deeply nested, invalid UTF-8 and surrogate replies, and an
event flood. The caller gets an error, every other client keeps being served, and the log gets a
line per incident, not per byte."""
import json
import pathlib
import time

import libvirt
import pytest

from conftest import run
from guest import wait_for

FAKE_QEMU = str(pathlib.Path(__file__).resolve().parent / "fake_qemu.py")


def fake_domain(name):
    return f"""<domain type='qemu'>
  <name>{name}</name><memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><emulator>{FAKE_QEMU}</emulator>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
</domain>"""


@pytest.fixture
def hostile(daemon):
    conn = libvirt.open(daemon.uri)
    conn.defineXML(fake_domain("hostile")).create()
    yield daemon
    try:
        conn.lookupByName("hostile").destroy()
    except libvirt.libvirtError:
        pass
    conn.close()


def still_serving(daemon):
    assert daemon.alive()
    assert run("virsh", "-r", "-c", daemon.uri_ro, "hostname").returncode == 0
    ok = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "hostile", '{"execute":"query-status"}').stdout
    assert json.loads(ok)["return"]["status"] == "running"


@pytest.mark.parametrize("command,words", [
    ("hostile-surrogate", "surrogate"),
    ("hostile-utf8", "UTF-8"),
    ("hostile-deep", "nested"),
    ("hostile-huge", "longer than"),
    ("hostile-garbage", ""),
])
def test_hostile_monitor_replies(hostile, command, words):
    daemon = hostile
    started = time.time()
    result = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "hostile", json.dumps({"execute": command}), check=False)
    assert result.returncode != 0 and words in result.stderr, result.stderr
    assert time.time() - started < 30
    still_serving(daemon)
    if command != "hostile-huge":  # a line over the limit ends the session as a framing error
        assert daemon.log_text().count("passthrough monitor sent a malformed reply") == 1


def test_a_valid_but_huge_number_passes_through_unchanged(hostile):
    out = run("virsh", "-c", hostile.uri, "qemu-monitor-command", "hostile", '{"execute":"hostile-number"}').stdout
    assert ('"return":' + "7" * 5000) in out.replace(" ", "")


def test_an_event_flood_is_survived_and_logged_once(hostile):
    daemon = hostile
    run("virsh", "-c", daemon.uri, "qemu-monitor-command", "hostile", '{"execute":"hostile-flood"}')
    time.sleep(2)
    still_serving(daemon)
    assert run("virsh", "-c", daemon.uri, "domstate", "hostile").stdout.strip() == "running"
    assert daemon.log_text().count("FAKE_EVENT") < 10


@pytest.mark.parametrize("command,words", [
    ("hostile-surrogate", "surrogate"),
    ("hostile-utf8", "UTF-8"),
    ("hostile-deep", "nested"),
    ("hostile-huge", "not connected"),
    ("hostile-garbage", "unable to parse"),
    ("hostile-silent", "not available"),
])
def test_hostile_guest_agent(hostile, command, words):
    daemon = hostile
    started = time.time()
    result = run("virsh", "-c", daemon.uri, "qemu-agent-command", "hostile", "--timeout", "3", json.dumps({"execute": command}), check=False)
    assert result.returncode != 0 and words in result.stderr, result.stderr
    assert time.time() - started < 20
    if words in ("surrogate", "UTF-8", "nested", "unable to parse"):
        assert daemon.log_text().count("a guest agent sent a malformed reply") == 1
    # The agent answers again; after a reply that ends its session (a line over the limit) the
    # daemon first has to reconnect to the channel, which takes a moment on a loaded machine.
    def agent_answers():
        ping = run("virsh", "-c", daemon.uri, "qemu-agent-command", "hostile", '{"execute":"guest-ping"}', check=False)
        return ping.returncode == 0 and json.loads(ping.stdout) == {"return": {}}
    wait_for(agent_answers, timeout=20, what="the guest agent to answer again")
    still_serving(daemon)


def test_silent_agents_hold_no_thread(hostile):
    """Forty blocking agent calls that never get an answer: the daemon keeps its thread count
    and serves everyone else meanwhile."""
    daemon = hostile
    threads_before = len(list(pathlib.Path(f"/proc/{daemon.process.pid}/task").iterdir()))
    import subprocess
    waiting = [subprocess.Popen(["virsh", "-c", daemon.uri, "qemu-agent-command", "hostile", "--block", '{"execute":"hostile-silent"}'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(40)]
    try:
        time.sleep(3)
        threads_during = len(list(pathlib.Path(f"/proc/{daemon.process.pid}/task").iterdir()))
        assert threads_during <= threads_before + 4, (threads_before, threads_during)
        still_serving(daemon)
    finally:
        for p in waiting:
            p.kill()
            p.wait()
