"""Storage slices (`<source><slices><slice type='storage' offset size/>`): an image that is a part
of a file or device. QEMU reads it through a raw node with the slice's offset and size, so what
the guest reads and writes lands inside the slice and nowhere else."""
import re

from block_io import qemu_io
from conftest import run
from guest import domain_xml, remove_guests

KIB, MIB = 1024, 1024 * 1024


def byte_at(path, offset, length=1):
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def sliced_disk(path, format, offset, size, target="vda"):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{format}'/><source file='{path}'>"
            f"<slices><slice type='storage' offset='{offset}' size='{size}'/></slices></source>"
            f"<target dev='{target}' bus='virtio'/></disk>")


def define_and_start(daemon, tmp_path, name, devices):
    (tmp_path / f"{name}.xml").write_text(domain_xml(name, str(tmp_path / f"{name}.log"), devices=devices))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))
    run("virsh", "-c", daemon.uri, "start", "--paused", name)


def capacity(daemon, name, target):
    info = run("virsh", "-c", daemon.uri, "domblkinfo", name, target).stdout
    return int(re.search(r"Capacity:\s+(\d+)", info).group(1))


def test_a_raw_slice_is_the_guests_whole_disk_and_writes_stay_inside_it(daemon, tmp_path):
    container = tmp_path / "container.img"
    run("qemu-img", "create", "-q", "-f", "raw", str(container), "4M")
    # Before the slice 0x11, its first 64 KiB 0x77, after it 0x33.
    run("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x77 1M 64k", "-c", "write -P 0x33 2M 64k", str(container))
    try:
        define_and_start(daemon, tmp_path, "sliced", sliced_disk(container, "raw", MIB, MIB))
        assert capacity(daemon, "sliced", "vda") == MIB
        output = qemu_io(daemon, "sliced", "virtio-disk0", "read -P 0x77 0 64k")
        assert "read 65536/65536" in output and "Pattern verification failed" not in output, output
        # The slice's last 64 KiB, then a write just past its end, which QEMU refuses.
        assert "wrote 65536/65536" in qemu_io(daemon, "sliced", "virtio-disk0", "write -P 0x5a 960k 64k")
        beyond = qemu_io(daemon, "sliced", "virtio-disk0", "write -P 0x66 1M 4k")
        assert "wrote" not in beyond, beyond
        run("virsh", "-c", daemon.uri, "destroy", "sliced")
        assert byte_at(container, MIB + 960 * KIB, 64 * KIB) == b"\x5a" * (64 * KIB)
        assert byte_at(container, MIB - 1) == b"\x11" and byte_at(container, 2 * MIB, 64 * KIB) == b"\x33" * (64 * KIB)
    finally:
        remove_guests(daemon, "sliced")


def test_a_qcow2_image_inside_a_slice_is_read_through_a_slice_node(daemon, tmp_path):
    image = tmp_path / "inner.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", str(image), "4M")
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x22 0 64k", str(image))
    data = image.read_bytes()
    offset = 512 * KIB
    size = (len(data) + 511) // 512 * 512
    container = tmp_path / "container.img"
    container.write_bytes(b"\x00" * offset + data + b"\x00" * (size - len(data)) + b"\xee" * (64 * KIB))
    try:
        define_and_start(daemon, tmp_path, "inner", sliced_disk(container, "qcow2", offset, size))
        # The guest sees the qcow2 image's own size, and its data.
        assert capacity(daemon, "inner", "vda") == 4 * MIB
        output = qemu_io(daemon, "inner", "virtio-disk0", "read -P 0x22 0 64k")
        assert "read 65536/65536" in output and "Pattern verification failed" not in output, output
        nodes = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "inner", "--hmp", "info block -n").stdout
        assert "libvirt-1-slice-sto" in nodes, nodes
    finally:
        remove_guests(daemon, "inner")
