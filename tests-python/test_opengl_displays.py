"""OpenGL displays (SPICE's <gl enable='yes'>, egl-headless) and virtio cards with 3D
acceleration: an OpenGL display whose XML names no render node renders on the host's first DRM
render node; a host without one refuses the start in libvirt's words before QEMU runs, and the
daemon serves on. SPICE with <gl enable='no'> runs as plain SPICE."""
import os
import re

from conftest import run
from guest import domain_xml, remove_guests


def render_nodes():
    return sorted(name for name in (os.listdir("/dev/dri") if os.path.isdir("/dev/dri") else []) if name.startswith("renderD"))


def define_with_a_virtio_card(daemon, tmp_path, name, graphics, accelerated):
    """Defines the test guest `name` with `graphics` and a virtio card with or without 3D."""
    devices = graphics + f"<video><model type='virtio'><acceleration accel3d='{'yes' if accelerated else 'no'}'/></model></video>"
    (tmp_path / f"{name}.xml").write_text(domain_xml(name, str(tmp_path / f"{name}.log"), devices=devices))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))


def test_an_opengl_display_without_a_render_node_takes_the_hosts_first(daemon, tmp_path):
    define_with_a_virtio_card(daemon, tmp_path, "gl", "<graphics type='vnc' autoport='yes'/><graphics type='egl-headless'/>", accelerated=True)
    try:
        started = run("virsh", "-c", daemon.uri, "start", "gl", check=False)
        nodes = render_nodes()
        if not nodes:
            assert started.returncode != 0 and "No DRM render nodes available" in started.stderr, started.stderr
            assert run("virsh", "-c", daemon.uri, "domstate", "gl").stdout.strip() == "shut off"
            assert not (tmp_path / "gl.log").exists()
        else:
            # Past the choice: QEMU runs, or refuses for want of its OpenGL modules.
            assert "No DRM render nodes available" not in started.stderr
            if started.returncode == 0:
                live = run("virsh", "-c", daemon.uri, "dumpxml", "gl").stdout
                assert f"<gl rendernode='/dev/dri/{nodes[0]}'/>" in live
        # The definition keeps the display as written.
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "gl").stdout
        assert "<graphics type='egl-headless'/>" in inactive and "<acceleration accel3d='yes'/>" in inactive
    finally:
        remove_guests(daemon, "gl")
    assert daemon.alive()


def test_spice_without_opengl_runs_as_plain_spice(daemon, tmp_path):
    define_with_a_virtio_card(daemon, tmp_path, "nogl", "<graphics type='spice'><gl enable='no'/></graphics>", accelerated=False)
    try:
        run("virsh", "-c", daemon.uri, "start", "nogl")
        # No port and no autoport: libvirt's SPICE server that listens nowhere.
        live = run("virsh", "-c", daemon.uri, "dumpxml", "nogl").stdout
        graphics = re.search(r"<graphics type='spice'.*?</graphics>", live, re.S).group(0)
        assert "<listen type='none'/>" in graphics and "<gl enable='no'/>" in graphics and "port=" not in graphics
        cmdline = open(f"/proc/{int(run('pgrep', '-f', 'guest=nogl').stdout.split()[0])}/cmdline", "rb").read().decode()
        assert "gl=on" not in cmdline and "virtio-vga-gl" not in cmdline and '"driver":"virtio-vga"' in cmdline
    finally:
        remove_guests(daemon, "nogl")
