"""A CD-ROM's tray (<target tray>), compared with libvirtd: a definition keeps an open tray and
drops a closed one; a started guest's drive is closed, whatever the definition remembers; a
media change (eject or insert) leaves the tray closed, as libvirt closes it; and QEMU's own tray
events (a tray opened over QMP, as a guest's eject does) reach the live XML and the clients."""
import json
import re
import subprocess
import time

from conftest import run
from guest import domain_xml


def cdrom_guest(name, iso, tray):
    cdrom = (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{iso}'/>"
             f"<target dev='sda' bus='sata' tray='{tray}'/><readonly/></disk>")
    return domain_xml(name, None, devices=cdrom)


def target(uri, name, *flags):
    return re.search(r"<target dev='sda'[^>]*/>", run("virsh", "-c", uri, "dumpxml", name, *flags).stdout).group(0)


def test_tray_in_definitions_and_live_xml_as_libvirtd(daemon, libvirtd, tmp_path):
    iso = tmp_path / "media.iso"
    subprocess.run(["truncate", "-s", "1M", str(iso)], check=True)
    for tray, kept in (("closed", "<target dev='sda' bus='sata'/>"), ("open", "<target dev='sda' bus='sata' tray='open'/>")):
        (tmp_path / f"{tray}.xml").write_text(cdrom_guest(f"tray-{tray}", iso, tray))
        for uri in (daemon.uri, libvirtd):
            run("virsh", "-c", uri, "define", str(tmp_path / f"{tray}.xml"))
            try:
                assert target(uri, f"tray-{tray}", "--inactive") == kept, uri
            finally:
                run("virsh", "-c", uri, "undefine", f"tray-{tray}")
    (tmp_path / "live.xml").write_text(cdrom_guest("tray-live", iso, "open"))
    seen = {}
    for uri in (daemon.uri, libvirtd):
        run("virsh", "-c", uri, "define", str(tmp_path / "live.xml"))
        try:
            run("virsh", "-c", uri, "start", "tray-live", "--paused")
            started = target(uri, "tray-live")
            run("virsh", "-c", uri, "change-media", "tray-live", "sda", "--eject", "--live", "--force")
            ejected = target(uri, "tray-live")
            run("virsh", "-c", uri, "change-media", "tray-live", "sda", str(iso), "--insert", "--live", "--force")
            inserted = target(uri, "tray-live")
            seen[uri] = (started, ejected, inserted, target(uri, "tray-live", "--inactive"))
        finally:
            run("virsh", "-c", uri, "destroy", "tray-live", check=False)
            run("virsh", "-c", uri, "undefine", "tray-live", check=False)
    assert seen[daemon.uri] == seen[libvirtd], seen
    assert seen[daemon.uri] == ("<target dev='sda' bus='sata'/>", "<target dev='sda' bus='sata'/>",
                                "<target dev='sda' bus='sata'/>", "<target dev='sda' bus='sata' tray='open'/>")
    assert daemon.alive()


def test_qemus_tray_events_reach_the_live_xml_and_clients(daemon, tmp_path):
    iso = tmp_path / "media.iso"
    subprocess.run(["truncate", "-s", "1M", str(iso)], check=True)
    (tmp_path / "ev.xml").write_text(cdrom_guest("tray-ev", iso, "closed"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "ev.xml"))
    watcher = None
    try:
        run("virsh", "-c", daemon.uri, "start", "tray-ev", "--paused")
        alias = re.search(r"<alias name='([^']+)'/>", run("virsh", "-c", daemon.uri, "dumpxml", "tray-ev").stdout.split("<disk")[1]).group(1)
        watcher = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "tray-ev", "--event", "tray-change", "--loop", "--timeout", "6"],
                                   stdout=subprocess.PIPE, text=True)
        time.sleep(1)

        def qmp(command):
            message = json.dumps({"execute": command, "arguments": {"id": alias}})
            run("virsh", "-c", daemon.uri, "qemu-monitor-command", "tray-ev", message)

        qmp("blockdev-open-tray")
        deadline = time.time() + 10
        while "tray='open'" not in target(daemon.uri, "tray-ev") and time.time() < deadline:
            time.sleep(0.1)
        assert target(daemon.uri, "tray-ev") == "<target dev='sda' bus='sata' tray='open'/>"
        qmp("blockdev-close-tray")
        deadline = time.time() + 10
        while "tray=" in target(daemon.uri, "tray-ev") and time.time() < deadline:
            time.sleep(0.1)
        assert target(daemon.uri, "tray-ev") == "<target dev='sda' bus='sata'/>"
        # The persistent definition is not the tray's record.
        assert target(daemon.uri, "tray-ev", "--inactive") == "<target dev='sda' bus='sata'/>"
        run("virsh", "-c", daemon.uri, "destroy", "tray-ev")
        output = watcher.communicate(timeout=20)[0]
        assert "opened" in output and "closed" in output, output
    finally:
        if watcher and watcher.poll() is None:
            watcher.kill()
        run("virsh", "-c", daemon.uri, "destroy", "tray-ev", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "tray-ev", check=False)
    assert daemon.alive()
