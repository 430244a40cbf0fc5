"""<source startupPolicy>, compared with libvirtd: a guest whose CD-ROM image is missing starts
with the drive empty under 'optional', a disk of that kind is left out of the run, clients get
libvirt's disk-change events, and the definition keeps both; 'mandatory' and (on a fresh start)
'requisite' refuse the start; define refuses what libvirt refuses."""
import re
import subprocess
import time

import libvirt
import pytest

from conftest import run
from guest import domain_xml


def guest(name, tmp_path, disks):
    return domain_xml(name, None, devices=disks.format(tmp=tmp_path))


OPTIONAL_MEDIA = """<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
      <source file='{tmp}/missing.iso' startupPolicy='optional'/><target dev='sda' bus='sata'/><readonly/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='{tmp}/missing.img' startupPolicy='optional'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='{tmp}/present.img' startupPolicy='optional'/><target dev='vdc' bus='virtio'/></disk>"""


def disks(xml):
    return re.findall(r"<disk .*?</disk>", xml, re.S)


def test_optional_media_and_disks_are_left_out_as_by_libvirtd(daemon, libvirtd, tmp_path):
    subprocess.run(["truncate", "-s", "1M", str(tmp_path / "present.img")], check=True)
    (tmp_path / "opt.xml").write_text(guest("sp-opt", tmp_path, OPTIONAL_MEDIA))
    seen = {}
    for uri in (daemon.uri, libvirtd):
        run("virsh", "-c", uri, "define", str(tmp_path / "opt.xml"))
        watcher = subprocess.Popen(["virsh", "-c", uri, "event", "sp-opt", "--event", "disk-change", "--loop", "--timeout", "8"],
                                   stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(1)
            run("virsh", "-c", uri, "start", "sp-opt", "--paused")
            live = run("virsh", "-c", uri, "dumpxml", "sp-opt").stdout
            inactive = run("virsh", "-c", uri, "dumpxml", "sp-opt", "--inactive").stdout
            output = watcher.communicate(timeout=20)[0]
            seen[uri] = (live, inactive, output)
        finally:
            if watcher.poll() is None:
                watcher.kill()
            run("virsh", "-c", uri, "destroy", "sp-opt", check=False)
            run("virsh", "-c", uri, "undefine", "sp-opt", check=False)
    for uri, (live, inactive, output) in seen.items():
        running = disks(live)
        # The drive is there, empty, and forgets its policy; the missing disk is gone; the
        # present one runs with its policy.
        assert len(running) == 2, (uri, running)
        assert "missing.iso" not in running[0] and "startupPolicy" not in running[0] and "<target dev='sda' bus='sata'/>" in running[0], (uri, running[0])
        assert f"<source file='{tmp_path}/present.img' startupPolicy='optional'" in running[1], (uri, running[1])
        assert len(disks(inactive)) == 3 and f"<source file='{tmp_path}/missing.iso' startupPolicy='optional'/>" in inactive, uri
        assert output.count("disk-change") == 2, (uri, output)
        assert f"{tmp_path}/missing.iso" in output and f"{tmp_path}/missing.img" in output, (uri, output)
    # The same events (disk, old and new source, reason), as virsh prints them.
    assert seen[daemon.uri][2] == seen[libvirtd][2]
    assert daemon.alive()


@pytest.mark.parametrize("policy", ["mandatory", "requisite"])
def test_a_missing_medium_that_must_be_there_refuses_a_fresh_start(daemon, libvirtd, tmp_path, policy):
    media = f"""<disk type='file' device='cdrom'><source file='{{tmp}}/missing.iso' startupPolicy='{policy}'/>
      <target dev='sda' bus='sata'/><readonly/></disk>"""
    (tmp_path / "m.xml").write_text(guest("sp-must", tmp_path, media))
    for uri in (daemon.uri, libvirtd):
        run("virsh", "-c", uri, "define", str(tmp_path / "m.xml"))
        try:
            started = run("virsh", "-c", uri, "start", "sp-must", check=False)
            assert started.returncode != 0 and "missing.iso" in started.stderr, (uri, started.stderr)
        finally:
            run("virsh", "-c", uri, "destroy", "sp-must", check=False)
            run("virsh", "-c", uri, "undefine", "sp-must", check=False)
    assert daemon.alive()


@pytest.mark.parametrize("disk, message", [
    ("<disk type='file' device='disk'><source file='/tmp/x.img' startupPolicy='requisite'/><target dev='vda' bus='virtio'/></disk>",
     "disk startupPolicy 'requisite' is allowed only for cdrom or floppy"),
    ("<disk type='network' device='cdrom'><source protocol='http' name='x.iso' startupPolicy='optional'><host name='example.org'/></source>"
     "<target dev='sda' bus='sata'/><readonly/></disk>", "disk startupPolicy 'optional' is not allowed for disk of 'network' type"),
])
def test_define_refuses_a_policy_libvirt_refuses(daemon, libvirtd, disk, message):
    xml = domain_xml("sp-bad", None, devices=disk)
    for uri in (daemon.uri, libvirtd):
        conn = libvirt.open(uri)
        try:
            with pytest.raises(libvirt.libvirtError) as refused:
                conn.defineXML(xml)
            assert message in str(refused.value), (uri, refused.value)
            assert refused.value.get_error_code() == libvirt.VIR_ERR_XML_ERROR, (uri, refused.value.get_error_code())
        finally:
            conn.close()
