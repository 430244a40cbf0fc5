"""<transient/> disks on a real QEMU: the guest writes to an overlay next to the image
(IMAGE.TRANSIENT-DOMAIN), which goes when the guest stops, so the image is as it was after every
run; with shareBacking='yes' two guests run on one image at once; what would lose the overlay's
writes or write to the image (save, migration, a snapshot of the disk) is refused; a stale
overlay is never overwritten. (A hot-plugged transient disk: test_hotplug.py.)

Writes and reads go through QEMU's own block layer (HMP `qemu-io` on the guest's disk device),
what a guest's writes go through."""
import os
import re

import pytest

from block_io import image_holds, make_image, qemu_io, reads
from conftest import run
from guest import define_guest, domain_xml, remove_guests


def transient_disk(image, target="vda", share=False):
    transient = "<transient shareBacking='yes'/>" if share else "<transient/>"
    return (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{image}'/>"
            f"<target dev='{target}' bus='virtio'/>{transient}</disk>")


def test_the_guest_writes_an_overlay_that_goes_when_it_stops(daemon, tmp_path):
    image = tmp_path / "base.qcow2"
    make_image(image, "0xab")
    overlay = f"{image}.TRANSIENT-tdisk"
    define_guest(daemon, tmp_path, "tdisk", transient_disk(image))
    try:
        run("virsh", "-c", daemon.uri, "start", "--paused", "tdisk")
        assert os.path.exists(overlay)
        info = run("qemu-img", "info", "-U", overlay).stdout
        assert "file format: qcow2" in info and f"backing file: {image}" in info, info
        # The guest sees the image, writes over it, and reads its own writes back.
        assert reads(daemon, "tdisk", "virtio-disk0", "0xab")
        assert "wrote 65536/65536" in qemu_io(daemon, "tdisk", "virtio-disk0", "write -P 0xcd 0 64k")
        assert reads(daemon, "tdisk", "virtio-disk0", "0xcd")
        live = run("virsh", "-c", daemon.uri, "dumpxml", "tdisk").stdout
        assert "<transient/>" in live
        assert re.search(r"<source file='%s' index='\d+'/>" % re.escape(str(image)), live), live
        # What would lose the overlay's writes, or have a restored guest write to the image.
        save = run("virsh", "-c", daemon.uri, "save", "tdisk", str(tmp_path / "t.save"), check=False)
        assert save.returncode != 0 and "migration with transient disk is not supported" in save.stderr
        assert not os.path.exists(tmp_path / "t.save")
        managed = run("virsh", "-c", daemon.uri, "managedsave", "tdisk", check=False)
        assert managed.returncode != 0 and "transient disk" in managed.stderr
        snapshot = run("virsh", "-c", daemon.uri, "snapshot-create-as", "tdisk", "s1", "--disk-only",
                       "--diskspec", f"vda,file={tmp_path / 's1.qcow2'}", check=False)
        assert snapshot.returncode != 0 and "snapshots are not supported on transient disk 'vda'" in snapshot.stderr
        assert run("virsh", "-c", daemon.uri, "domstate", "tdisk").stdout.strip() == "paused"

        run("virsh", "-c", daemon.uri, "destroy", "tdisk")
        assert not os.path.exists(overlay)
        assert image_holds(image, "0xab") and not image_holds(image, "0xcd")
        assert "backing file" not in run("qemu-img", "info", str(image)).stdout
        # The next run starts from the image as it was.
        run("virsh", "-c", daemon.uri, "start", "--paused", "tdisk")
        assert reads(daemon, "tdisk", "virtio-disk0", "0xab")
        run("virsh", "-c", daemon.uri, "destroy", "tdisk")
        assert not os.path.exists(overlay)
    finally:
        remove_guests(daemon, "tdisk")


def test_a_stale_overlay_is_never_overwritten(daemon, tmp_path):
    image = tmp_path / "base.qcow2"
    make_image(image, "0xab")
    overlay = tmp_path / "base.qcow2.TRANSIENT-tstale"
    overlay.write_bytes(b"a crashed run's writes")
    define_guest(daemon, tmp_path, "tstale", transient_disk(image))
    try:
        start = run("virsh", "-c", daemon.uri, "start", "tstale", check=False)
        assert start.returncode != 0
        assert f"Overlay file '{overlay}' for transient disk 'vda' already exists" in start.stderr
        assert overlay.read_bytes() == b"a crashed run's writes"
        assert run("virsh", "-c", daemon.uri, "domstate", "tstale").stdout.strip() == "shut off"
        overlay.unlink()
        run("virsh", "-c", daemon.uri, "start", "--paused", "tstale")
        assert overlay.exists()
    finally:
        remove_guests(daemon, "tstale")
    assert not overlay.exists()


def test_two_guests_share_one_image_with_share_backing(daemon, tmp_path):
    image = tmp_path / "shared.qcow2"
    make_image(image, "0x5a")
    for name in ("tshare1", "tshare2"):
        define_guest(daemon, tmp_path, name, transient_disk(image, share=True))
    try:
        run("virsh", "-c", daemon.uri, "start", "--paused", "tshare1")
        run("virsh", "-c", daemon.uri, "start", "--paused", "tshare2")
        assert "wrote 65536/65536" in qemu_io(daemon, "tshare1", "virtio-disk0", "write -P 0x11 0 64k")
        # Each guest's writes are its own.
        assert reads(daemon, "tshare2", "virtio-disk0", "0x5a")
        assert "<transient shareBacking='yes'/>" in run("virsh", "-c", daemon.uri, "dumpxml", "tshare1").stdout
    finally:
        remove_guests(daemon, "tshare1", "tshare2")
    assert image_holds(image, "0x5a")
    assert not [f for f in os.listdir(tmp_path) if ".TRANSIENT-" in f]


def test_invalid_transient_disks_are_refused_at_define(daemon, tmp_path):
    image = tmp_path / "base.qcow2"
    make_image(image, "0xab")
    path = tmp_path / "bad.xml"
    readonly = transient_disk(image).replace("<transient/>", "<readonly/><transient/>")
    path.write_text(domain_xml("tbad", str(tmp_path / "tbad.log"), devices=readonly))
    result = run("virsh", "-c", daemon.uri, "define", str(path), check=False)
    assert result.returncode != 0 and "transient disk 'vda' must not be read-only" in result.stderr
    sata = transient_disk(image, target="sda", share=True).replace("bus='virtio'", "bus='sata'")
    path.write_text(domain_xml("tbad", str(tmp_path / "tbad.log"), devices=sata))
    result = run("virsh", "-c", daemon.uri, "define", str(path), check=False)
    assert result.returncode != 0 and "disk bus 'sata' doesn't support transient disks with shared backing image" in result.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "tbad", check=False).returncode != 0
