"""Host input devices given to a guest: `<input type='passthrough'>` (virtio-input-host-pci) and
`<input type='evdev'>` (QEMU's input-linux object). Without the host's event device the start
fails with QEMU's words, nothing of the guest is left, and the daemon serves on; the definition
keeps the device as libvirt writes it."""
import os

import pytest

from conftest import run
from guest import domain_xml, remove_guests

CASES = [
    ("passthrough", "<input type='passthrough' bus='virtio'><source evdev='/dev/input/event9'/></input>", "/dev/input/event9"),
    ("evdev", "<input type='evdev'><source dev='/dev/input/event8' grab='all' repeat='on'/></input>", "/dev/input/event8"),
]


@pytest.mark.parametrize("kind, device, path", CASES, ids=[case[0] for case in CASES])
def test_a_missing_host_input_device_fails_the_start_in_qemus_words(daemon, tmp_path, kind, device, path):
    if os.path.exists(path):
        pytest.fail(f"{path} exists on this host; the test needs an event device number the host does not have")
    name = f"in-{kind}"
    (tmp_path / "in.xml").write_text(domain_xml(name, str(tmp_path / "in.log"), devices=device))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "in.xml"))
    try:
        started = run("virsh", "-c", daemon.uri, "start", name, check=False)
        assert started.returncode != 0 and path in started.stderr, started.stderr
        assert run("virsh", "-c", daemon.uri, "domstate", name).stdout.strip() == "shut off"
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", name).stdout
        assert f"<input type='{kind}'" in inactive and path in inactive
    finally:
        remove_guests(daemon, name)
    assert daemon.alive()
