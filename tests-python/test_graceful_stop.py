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


def qemu_running(daemon, name):
    """Whether a QEMU process of the daemon's guest `name` exists."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = open(f"/proc/{entry}/cmdline", "rb").read()
                if f"guest={name},".encode() in argv and daemon.dir.encode() in argv:
                    return True
            except OSError:
                continue
    return False


def test_sigterm_answers_calls_in_flight_and_leaves_guests_running(tmp_path):
    daemon = Daemon()
    try:
        for name in ("calm", "late"):
            xml = domain_xml(name, str(tmp_path / f"{name}.log"))
            if name == "late":
                # QEMU preallocates 256 MiB before it answers its monitor, so the start is still in
                # flight when the test sees the QEMU process (a plain start can end within 50 ms).
                xml = xml.replace("<memory unit='MiB'>128</memory>",
                                  "<memory unit='MiB'>256</memory><memoryBacking><allocation mode='immediate'/></memoryBacking>")
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
        wait_for(lambda: qemu_running(daemon, "late") or "result" in outcome, timeout=10, what="the late guest's QEMU")
        began = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
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
        assert "waiting for calls in flight" in log, "the start was not in flight at SIGTERM"
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
