"""What the guest does to its clock, its watchdog and its disks reaches clients as libvirt's
events, and the domain's state and live XML follow, as with libvirtd: the test guest sets its
real-time clock (RTC_CHANGE, and a variable clock's live adjustment), arms an i6300esb watchdog
(WATCHDOG, a pause for the watchdog, and with action 'dump' a dump of its memory after which it
runs on), and writes to a disk whose file lies on a full file system (IO_ERROR and
IO_ERROR_REASON with 'enospc', a pause for an I/O error)."""
import os
import re
import subprocess
import time

import libvirt
import pytest

from conftest import run
from event_recorder import EventRecorder, in_order, lifecycle
from guest import domain_xml, wait_for

AGENT = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
# libvirt's event and detail numbers.
SUSPENDED, SUSPENDED_IOERROR, SUSPENDED_WATCHDOG = 3, 2, 3
RESUMED = 4
WATCHDOG_PAUSE = 1
IO_ERROR_PAUSE = 1


def log_text(serial):
    return open(serial, errors="replace").read() if os.path.exists(serial) else ""


def guest_shell(uri, name, command, attempts=3):
    """Runs `command` in the guest through its agent (guest-exec, not waited for). A TCG guest on
    a loaded machine can miss the agent's 5-second `guest-sync` deadline (libvirt's, kept by the
    daemon): "Guest agent not available for now" is tried again, up to `attempts` times. The
    commands the tests run here are safe to run twice."""
    escaped = command.replace("\\", "\\\\").replace('"', '\\"')
    arguments = ("virsh", "-c", uri, "qemu-agent-command", name,
                 '{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c","%s"]}}' % escaped)
    for _ in range(attempts - 1):
        result = run(*arguments, check=False)
        if "not available for now" not in result.stderr:
            break
    else:
        result = run(*arguments, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{arguments} failed ({result.returncode}): {result.stderr}")


def boot_with_agent(uri, name, serial, tmp_path, extra="", devices="", machine="q35"):
    (tmp_path / f"{name}.xml").write_text(domain_xml(name, serial, extra=extra, devices=AGENT + devices, machine=machine))
    run("virsh", "-c", uri, "define", str(tmp_path / f"{name}.xml"))
    run("virsh", "-c", uri, "start", name)
    wait_for(lambda: "agent=/dev/vport" in log_text(serial), timeout=120, what="the guest agent")
    wait_for(lambda: run("virsh", "-c", uri, "qemu-agent-command", name, '{"execute":"guest-ping"}', check=False).returncode == 0,
             timeout=30, what="guest-ping")


def clock_attributes(uri, name, *flags):
    xml = run("virsh", "-c", uri, "dumpxml", name, *flags).stdout
    return dict(re.findall(r"(\w+)='([^']*)'", re.search(r"<clock ([^>]*?)/?>", xml).group(1)))


def test_guest_setting_its_clock_moves_a_variable_clock(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    recorder = EventRecorder(daemon.uri)
    try:
        boot_with_agent(daemon.uri, "rtc", serial, tmp_path, extra="<clock offset='variable' adjustment='3600' basis='utc'/>")
        assert clock_attributes(daemon.uri, "rtc") == {"offset": "variable", "adjustment": "3600", "basis": "utc"}
        # The guest's clock starts an hour ahead; it moves itself two hours ahead of the host.
        target = int(time.time()) + 7200
        guest_shell(daemon.uri, "rtc", f"date -u -s @{target} && hwclock -w -u")
        assert recorder.wait(lambda events: any(e["kind"] == "rtc-change" for e in events), timeout=30), recorder.events
        offset = next(e["value"] for e in recorder.events if e["kind"] == "rtc-change")
        # The event carries the new adjustment from UTC (libvirt adds the start's adjustment to
        # QEMU's offset); the live XML says the same, the definition is unchanged.
        assert abs(offset - 7200) <= 5, offset
        live = clock_attributes(daemon.uri, "rtc")
        assert live["basis"] == "utc" and abs(int(live["adjustment"]) - 7200) <= 5, live
        assert clock_attributes(daemon.uri, "rtc", "--inactive")["adjustment"] == "3600"
        # A restarted daemon keeps counting from the start's adjustment.
        daemon.restart()
        guest_shell(daemon.uri, "rtc", f"date -u -s @{int(time.time()) + 10800} && hwclock -w -u")
        wait_for(lambda: abs(int(clock_attributes(daemon.uri, "rtc")["adjustment"]) - 10800) <= 5, timeout=30, what="the adjustment after a restart")
    finally:
        recorder.stop()
        run("virsh", "-c", daemon.uri, "destroy", "rtc", check=False)


def test_a_local_time_basis_is_converted_at_start(daemon, tmp_path):
    """libvirt turns a variable clock from local time into one from UTC when the guest starts."""
    (tmp_path / "l.xml").write_text(domain_xml("localclock", str(tmp_path / "serial.log"),
                                               extra="<clock offset='localtime' adjustment='60'/>"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "l.xml"))
    assert clock_attributes(daemon.uri, "localclock") == {"offset": "variable", "adjustment": "60", "basis": "localtime"}
    run("virsh", "-c", daemon.uri, "start", "localclock")
    try:
        offset = time.localtime().tm_gmtoff
        assert clock_attributes(daemon.uri, "localclock") == {"offset": "variable", "adjustment": str(60 + offset), "basis": "utc"}
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "localclock", check=False)


# The guest arms its i6300esb through PCI configuration space (its kernel has no driver for it):
# the 1 MHz clock (register 0x60, a 16-bit write), then enable (0x68): QEMU's default preload
# then fires in about two seconds.
ARM_WATCHDOG = ("for d in /sys/bus/pci/devices/*; do if [ $(cat $d/device) = 0x25ab ]; then "
                "printf '\\004\\000' | dd of=$d/config bs=2 seek=48 count=1; "
                "printf '\\002' | dd of=$d/config bs=1 seek=104 count=1; fi; done")


def test_watchdog_pause(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    recorder = EventRecorder(daemon.uri)
    try:
        boot_with_agent(daemon.uri, "wd", serial, tmp_path, devices="<watchdog model='i6300esb' action='pause'/>")
        guest_shell(daemon.uri, "wd", ARM_WATCHDOG)
        assert recorder.wait(lambda events: (SUSPENDED, SUSPENDED_WATCHDOG) in lifecycle(events, 0, "wd"), timeout=30), recorder.events
        assert [e["value"] for e in recorder.events if e["kind"] == "watchdog"] == [WATCHDOG_PAUSE]
        assert run("virsh", "-c", daemon.uri, "domstate", "wd", "--reason").stdout.strip() == "paused (watchdog)"
    finally:
        recorder.stop()
        run("virsh", "-c", daemon.uri, "destroy", "wd", check=False)


def test_watchdog_dump_dumps_and_runs_on(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    recorder = EventRecorder(daemon.uri)
    dumps = os.path.join(daemon.dir, "state", "dump")
    try:
        boot_with_agent(daemon.uri, "wdd", serial, tmp_path, devices="<watchdog model='i6300esb' action='dump'/>")
        guest_shell(daemon.uri, "wdd", ARM_WATCHDOG)
        # QEMU pauses; the daemon dumps the memory and resumes the guest.
        assert recorder.wait(lambda events: in_order(lifecycle(events, 0, "wdd"), (SUSPENDED, SUSPENDED_WATCHDOG), (RESUMED, 0)), timeout=60), recorder.events
        assert [e["value"] for e in recorder.events if e["kind"] == "watchdog"] == [WATCHDOG_PAUSE]
        files = os.listdir(dumps)
        assert len(files) == 1 and re.fullmatch(r"\d+-wdd-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d", files[0]), files
        with open(os.path.join(dumps, files[0]), "rb") as dump:
            assert dump.read(4) == b"\x7fELF"
        assert run("virsh", "-c", daemon.uri, "domstate", "wdd").stdout.strip() == "running"
        # The guest really runs: its agent answers.
        assert run("virsh", "-c", daemon.uri, "qemu-agent-command", "wdd", '{"execute":"guest-ping"}').returncode == 0
    finally:
        recorder.stop()
        run("virsh", "-c", daemon.uri, "destroy", "wdd", check=False)


@pytest.fixture
def small_filesystem(tmp_path):
    """A 4 MiB tmpfs holding a sparse 64 MiB disk image: the guest's writes fill it."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    image = mount / "disk.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    yield str(image)
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_pauses_with_io_error_events(daemon, tmp_path, small_filesystem):
    serial = str(tmp_path / "serial.log")
    recorder = EventRecorder(daemon.uri)
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{small_filesystem}'/>"
            "<target dev='vda' bus='virtio'/></disk>")
    try:
        boot_with_agent(daemon.uri, "full", serial, tmp_path, devices=disk)
        guest_shell(daemon.uri, "full", "dd if=/dev/zero of=/dev/vda bs=1M count=16; sync")
        assert recorder.wait(lambda events: (SUSPENDED, SUSPENDED_IOERROR) in lifecycle(events, 0, "full"), timeout=60), recorder.events
        assert recorder.wait(lambda events: any(e["kind"] == "io-error-reason" for e in events), timeout=10), recorder.events
        reasons = [e["value"] for e in recorder.events if e["kind"] == "io-error-reason"]
        errors = [e["value"] for e in recorder.events if e["kind"] == "io-error"]
        assert reasons[0] == [small_filesystem, "virtio-disk0", IO_ERROR_PAUSE, "enospc"], reasons
        assert errors[0] == [small_filesystem, "virtio-disk0", IO_ERROR_PAUSE], errors
        assert run("virsh", "-c", daemon.uri, "domstate", "full", "--reason").stdout.strip() == "paused (I/O error)"
        # The daemon still serves: the guest can be destroyed.
        run("virsh", "-c", daemon.uri, "destroy", "full")
    finally:
        recorder.stop()
        run("virsh", "-c", daemon.uri, "destroy", "full", check=False)
