"""SIGTERM stops corrald gracefully: no new connections, calls in flight answered, status files
written, exit within 2 s, guests left running; the next daemon reattaches them."""
import os
import re
import signal
import threading
import time

import libvirt

from conftest import Daemon, run
from guest import domain_xml, wait_for, qemu_pid



def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")


def gated_emulator(tmp_path):
    """An <emulator> that runs the real QEMU, except that a start of the guest "late" first
    announces itself in `waiting` and then waits until the test creates `gate`: a start that is
    surely still in flight when SIGTERM arrives, and that the test lets finish when it chooses."""
    waiting, gate = tmp_path / "late-waiting", tmp_path / "late-gate"
    script = tmp_path / "gated-qemu"
    script.write_text(f"""#!/bin/sh
case "$*" in
  *guest=late,*) touch '{waiting}'; while [ ! -e '{gate}' ]; do sleep 0.01; done ;;
esac
exec qemu-system-x86_64 "$@"
""")
    script.chmod(0o755)
    return str(script), waiting, gate


def test_sigterm_answers_calls_in_flight_and_leaves_guests_running(tmp_path):
    daemon = Daemon()
    try:
        emulator, waiting, gate = gated_emulator(tmp_path)
        for name in ("calm", "late"):
            devices = f"<emulator>{emulator}</emulator>" if name == "late" else ""
            xml = domain_xml(name, str(tmp_path / f"{name}.log"), devices=devices)
            (tmp_path / f"{name}.xml").write_text(xml)
            run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))
        run("virsh", "-c", daemon.uri, "start", "calm")
        calm_pid = qemu_pid(daemon, "calm")
        status_path = os.path.join(daemon.dir, "run", "domains", "calm", "status.xml")
        os.unlink(status_path)  # the stop must write it again

        # A start in flight when SIGTERM arrives gets its answer.
        connection = libvirt.open(daemon.uri)
        outcome = {}

        def start_late():
            try:
                connection.lookupByName("late").create()
                outcome["result"] = "started"
            except libvirt.libvirtError as error:
                outcome["result"] = str(error)

        caller = threading.Thread(target=start_late)
        caller.start()
        wait_for(lambda: waiting.exists() or "result" in outcome, timeout=10, what="the late guest's QEMU")
        assert "result" not in outcome, outcome
        began = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        # The daemon waits for the start; QEMU goes on once the wait has begun.
        wait_for(lambda: "waiting for calls in flight" in daemon.log_text(), timeout=2, what="the stop to wait for the start")
        gate.touch()
        code = daemon.process.wait(10)
        elapsed = time.monotonic() - began
        caller.join(10)

        assert code == 0
        assert elapsed < 2.0, f"the daemon took {elapsed:.2f} s to stop"
        assert outcome.get("result") == "started", (outcome, daemon.log_text()[-3000:])
        assert not os.path.exists(daemon.socket) and not os.path.exists(daemon.socket_ro)
        assert os.path.exists(status_path), "the stop did not write the running guest's status file"
        assert alive(calm_pid) and alive(qemu_pid(daemon, "late"))
        log = daemon.log_text()
        assert "calls still in flight" not in log
        assert "stopped" in log and "guests=2" in log

        daemon.launch()
        listed = run("virsh", "-c", daemon.uri, "list", "--name").stdout.split()
        assert sorted(listed) == ["calm", "late"]
        assert qemu_pid(daemon, "calm") == calm_pid
        run("virsh", "-c", daemon.uri, "suspend", "calm")
        assert run("virsh", "-c", daemon.uri, "domstate", "calm").stdout.strip() == "paused"
        for name in ("calm", "late"):
            run("virsh", "-c", daemon.uri, "destroy", name)
        wait_for(lambda: not alive(calm_pid), what="QEMU to end")
    finally:
        daemon.stop()


def test_an_idle_daemon_stops_at_once(daemon):
    began = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(10) == 0
    assert time.monotonic() - began < 1.0
    daemon.launch()
    assert run("virsh", "-c", daemon.uri, "list", "--all").returncode == 0
