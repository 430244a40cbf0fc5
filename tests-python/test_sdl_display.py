"""<graphics type='sdl'>: the guest's display is a window on the X server the XML names
(`display`, `xauth`), as libvirt runs it. Here the X server is an Xvfb of the test's; the
window appears on it with the guest's name, under QEMU's full seccomp sandbox (libvirt's
spawn=deny included: Corral keeps libdbus from forking dbus-launch, which kills libvirtd's
QEMU with SIGSYS on this host); the daemon serves on."""
import os
import random
import subprocess
import time

import pytest

from conftest import run
from guest import define_guest, qemu_pid, remove_guests, wait_for


@pytest.fixture
def x_server():
    """An Xvfb on a free display number; its display (`:N`)."""
    for _ in range(10):
        number = random.randint(100, 999)
        if os.path.exists(f"/tmp/.X11-unix/X{number}") or os.path.exists(f"/tmp/.X{number}-lock"):
            continue
        server = subprocess.Popen(["Xvfb", f":{number}", "-nolisten", "tcp", "-screen", "0", "1024x768x24"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(f"/tmp/.X11-unix/X{number}"):
            time.sleep(0.05)
        if os.path.exists(f"/tmp/.X11-unix/X{number}"):
            yield f":{number}"
            server.kill()
            server.wait()
            return
        server.kill()
    pytest.fail("no Xvfb started")


def windows(display):
    return subprocess.run(["xwininfo", "-display", display, "-root", "-tree"], capture_output=True, text=True, timeout=30).stdout


def test_an_sdl_display_opens_a_window_on_the_named_x_server(daemon, tmp_path, x_server):
    try:
        define_guest(daemon, tmp_path, "sdl", f"<graphics type='sdl' display='{x_server}' fullscreen='no'/>")
        assert "<graphics type='sdl' display='%s'/>" % x_server in run("virsh", "-c", daemon.uri, "dumpxml", "sdl").stdout
        run("virsh", "-c", daemon.uri, "start", "sdl")
        # QEMU's SDL window, titled with the guest's name and console, on that X server.
        wait_for(lambda: "QEMU (sdl-0)" in windows(x_server), timeout=30, what="the guest's SDL window")
        pid = qemu_pid(daemon, "sdl")
        arguments = open(f"/proc/{pid}/cmdline").read().split("\0")
        assert arguments[arguments.index("-display") + 1] == "sdl"
        assert "spawn=deny" in arguments[arguments.index("-sandbox") + 1]
        environment = dict(v.split("=", 1) for v in open(f"/proc/{pid}/environ").read().split("\0") if "=" in v)
        assert environment["DISPLAY"] == x_server and environment["DBUS_SESSION_BUS_ADDRESS"] == "disabled:"
        time.sleep(1)
        assert run("virsh", "-c", daemon.uri, "domstate", "sdl").stdout.strip() == "running"
        run("virsh", "-c", daemon.uri, "destroy", "sdl")
        wait_for(lambda: "QEMU (sdl-0)" not in windows(x_server), timeout=30, what="the window to close")
    finally:
        remove_guests(daemon, "sdl")
    assert daemon.alive()
