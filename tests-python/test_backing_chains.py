"""Backing chains the domain XML describes (<backingStore type>), on a real QEMU: QEMU opens the
images the XML names, read-only below the guest's own image, whatever the images' headers say;
the live XML numbers each layer (<backingStore index>) as libvirt does; a missing layer is named
before QEMU starts; and a disk-only snapshot of such a disk keeps what is below it. (A
hot-plugged disk with its chain, read by a booted guest: test_hotplug.py.)

Chains the XML does not describe are checked from the images' headers before QEMU follows
them, as libvirt checks them: a missing image or backing file is named, and a backing file
whose header records no format is refused when probing it finds a backing file of its own (the
way a guest could otherwise have QEMU open any host file); each refusal is compared with
libvirtd's.

Every image here is made with a backing file name in its header that does not exist, so a guest
that reads the lower layers' data can only have found them through the XML. Reads go through
QEMU's own block layer (HMP `qemu-io` on the guest's disk device)."""
import json
import os
import re

from block_io import BASE_BYTE, MIDDLE_BYTE, TOP_BYTE, block_nodes, chained_disk, make_chain, qemu_io
from conftest import run
from guest import define_guest, remove_guests

def sees_whole_chain(daemon, name, device):
    """Whether the guest's disk reads each layer's bytes where that layer wrote them."""
    for pattern, offset in ((BASE_BYTE, "0"), (MIDDLE_BYTE, "64k"), (TOP_BYTE, "128k")):
        output = qemu_io(daemon, name, device, f"read -P {pattern} {offset} 64k")
        if "read 65536/65536" not in output or "Pattern verification failed" in output:
            return False
    return True


def test_qemu_opens_the_chain_the_xml_describes(daemon, tmp_path):
    base, middle, top = make_chain(tmp_path)
    define_guest(daemon, tmp_path, "chain", chained_disk(base, middle, top))
    try:
        run("virsh", "-c", daemon.uri, "start", "--paused", "chain")
        assert sees_whole_chain(daemon, "chain", "virtio-disk0")
        # One image, two layers: libvirt's numbers, the layers read-only on each other.
        nodes = block_nodes(daemon, "chain")
        assert nodes["libvirt-1-format"][0] == top and not nodes["libvirt-1-format"][1]
        assert nodes["libvirt-2-format"][0] == middle and nodes["libvirt-2-format"][1]
        assert nodes["libvirt-3-format"][0] == base and nodes["libvirt-3-format"][1]
        assert nodes["libvirt-1-format"][2] == [middle, base] and nodes["libvirt-2-format"][2] == [base]
        live = run("virsh", "-c", daemon.uri, "dumpxml", "chain").stdout
        assert f"<source file='{top}' index='1'/>" in live
        assert "<backingStore type='file' index='2'>" in live and "<backingStore type='file' index='3'>" in live
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "chain").stdout
        assert "<backingStore type='file' index" not in inactive and "<backingStore type='file'>" in inactive
        assert f"<source file='{top}'/>" in inactive
        # The guest writes to its own image only.
        assert "wrote 65536/65536" in qemu_io(daemon, "chain", "virtio-disk0", "write -P 0x44 0 64k")
        run("virsh", "-c", daemon.uri, "destroy", "chain")
        assert run("qemu-io", "-f", "raw", "-r", "-c", f"read -P {BASE_BYTE} 0 64k", base).stdout.count("Pattern verification failed") == 0
    finally:
        remove_guests(daemon, "chain")


def test_a_missing_layer_is_named_before_qemu_starts(daemon, tmp_path):
    base, middle, top = make_chain(tmp_path)
    os.rename(middle, middle + ".moved")
    define_guest(daemon, tmp_path, "broken", chained_disk(base, middle, top))
    try:
        start = run("virsh", "-c", daemon.uri, "start", "broken", check=False)
        assert start.returncode != 0
        assert f"Cannot access backing file '{middle}' of storage file '{top}'" in start.stderr, start.stderr
        assert "No such file or directory" in start.stderr
        assert run("virsh", "-c", daemon.uri, "domstate", "broken").stdout.strip() == "shut off"
        os.rename(middle + ".moved", middle)
        run("virsh", "-c", daemon.uri, "start", "--paused", "broken")
        assert sees_whole_chain(daemon, "broken", "virtio-disk0")
    finally:
        remove_guests(daemon, "broken")


def test_a_disk_only_snapshot_keeps_what_is_below_the_image(daemon, tmp_path):
    base, middle, top = make_chain(tmp_path)
    define_guest(daemon, tmp_path, "snapchain", chained_disk(base, middle, top))
    overlay = str(tmp_path / "after-snapshot.qcow2")
    try:
        run("virsh", "-c", daemon.uri, "start", "--paused", "snapchain")
        run("virsh", "-c", daemon.uri, "snapshot-create-as", "snapchain", "s1", "--disk-only", "--diskspec", f"vda,file={overlay}")
        assert sees_whole_chain(daemon, "snapchain", "virtio-disk0")
        # The definition now starts at the overlay, with the old image on top of the old chain.
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "snapchain").stdout
        assert f"<source file='{overlay}'/>" in inactive
        assert inactive.index(f"<source file='{top}'/>") < inactive.index(f"<source file='{middle}'/>") < inactive.index(f"<source file='{base}'/>")
        # The next run opens the same chain.
        run("virsh", "-c", daemon.uri, "destroy", "snapchain")
        run("virsh", "-c", daemon.uri, "start", "--paused", "snapchain")
        assert sees_whole_chain(daemon, "snapchain", "virtio-disk0")
        assert block_nodes(daemon, "snapchain")["libvirt-1-format"][0] == overlay
    finally:
        remove_guests(daemon, "snapchain")


def test_a_snapshot_of_a_disk_that_ends_its_chain_keeps_the_image(daemon, tmp_path):
    """`<backingStore/>` says the image has nothing below it; after a snapshot the image is
    below the overlay, so the empty element must move down with it, not end the chain at the
    overlay (which would hide the image's data from the guest)."""
    image = str(tmp_path / "alone.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", image, "4M")
    run("qemu-io", "-f", "qcow2", "-c", f"write -P {BASE_BYTE} 0 64k", image)
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{image}'/><backingStore/>"
            "<target dev='vda' bus='virtio'/></disk>")
    define_guest(daemon, tmp_path, "snapend", disk)
    overlay = str(tmp_path / "alone-overlay.qcow2")
    try:
        run("virsh", "-c", daemon.uri, "snapshot-create-as", "snapend", "s1", "--disk-only", "--diskspec", f"vda,file={overlay}")
        run("virsh", "-c", daemon.uri, "start", "--paused", "snapend")
        output = qemu_io(daemon, "snapend", "virtio-disk0", f"read -P {BASE_BYTE} 0 64k")
        assert "read 65536/65536" in output and "Pattern verification failed" not in output, output
        nodes = block_nodes(daemon, "snapend")
        assert nodes["libvirt-1-format"][0] == overlay and nodes["libvirt-2-format"][0] == image
    finally:
        remove_guests(daemon, "snapend")


def header_without_backing_format(image, backing, backing_format):
    """A qcow2 `image` whose header names `backing` but records no format for it (what old
    qemu-img versions wrote): the backing-format header extension is renamed to one QEMU skips."""
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", backing_format, "-b", backing, "-u", image, "1M")
    data = bytearray(open(image, "rb").read())
    extension = data.find(bytes.fromhex("E2792ACA"))
    assert 0 < extension < 4096
    data[extension:extension + 4] = bytes.fromhex("12345678")
    open(image, "wb").write(data)
    assert "backing file format" not in run("qemu-img", "info", "-U", image).stdout


def start_error(uri, tmp_path, name, image):
    """Defines `name` with the qcow2 `image` as its disk and starts it; the start's error, or ""."""
    path = tmp_path / f"{name}.xml"
    path.write_text(f"""<domain type='qemu'><name>{name}</name><uuid>6d6a1800-1dee-4f21-a541-1e8fe71d55cd</uuid>
<memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{image}'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>""")
    run("virsh", "-c", uri, "define", str(path))
    try:
        start = run("virsh", "-c", uri, "start", "--paused", name, check=False)
        return "" if start.returncode == 0 else start.stderr.strip()
    finally:
        run("virsh", "-c", uri, "destroy", name, check=False)
        run("virsh", "-c", uri, "undefine", name, check=False)


def test_chains_from_image_headers_are_checked_as_libvirt_checks_them(daemon, libvirtd, tmp_path):
    # A probed backing image that has a backing file of its own: refused.
    secret = tmp_path / "host-file.img"
    run("qemu-img", "create", "-q", "-f", "raw", str(secret), "1M")
    disguised = tmp_path / "disguised.img"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(secret), str(disguised), "1M")
    probed = str(tmp_path / "probed.qcow2")
    header_without_backing_format(probed, str(disguised), "qcow2")
    # A probed backing image without one (raw): allowed, as libvirt allows it.
    plain = tmp_path / "plain.img"
    run("qemu-img", "create", "-q", "-f", "raw", str(plain), "1M")
    allowed = str(tmp_path / "allowed.qcow2")
    header_without_backing_format(allowed, str(plain), "raw")
    # A backing file that is gone, and an image that is gone.
    orphan = str(tmp_path / "orphan.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-u", "-b", str(tmp_path / "gone.qcow2"), orphan, "1M")
    missing = str(tmp_path / "missing.qcow2")
    # Two images that are each other's backing file.
    ping, pong = str(tmp_path / "ping.qcow2"), str(tmp_path / "pong.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-u", "-b", pong, ping, "1M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-u", "-b", ping, pong, "1M")

    cases = {
        probed: f"format of backing image '{disguised}' of image '{probed}' was not specified in the image metadata "
                "(See https://libvirt.org/kbase/backing_chains.html for troubleshooting)",
        allowed: "",
        orphan: f"Cannot access backing file '{tmp_path / 'gone.qcow2'}' of storage file '{orphan}' (as uid:0, gid:0): No such file or directory",
        missing: f"Cannot access storage file '{missing}' (as uid:0, gid:0): No such file or directory",
        ping: f"backing store for {ping} is self-referential or too deeply nested",
    }
    for image, expected in cases.items():
        ours = start_error(daemon.uri, tmp_path, "headerchain", image)
        theirs = start_error(libvirtd, tmp_path, "headerchain", image)
        if expected:
            assert expected in ours, (image, ours)
            assert expected in theirs, (image, theirs)
        else:
            assert ours == "" and theirs == "", (image, ours, theirs)


def live_disks(uri, tmp_path, name, devices):
    """Starts `name` (paused) with `devices` on the daemon at `uri`; its live `<disk>` elements
    as text, and QEMU's block nodes; the guest is destroyed again."""
    path = tmp_path / f"{name}.xml"
    path.write_text(f"""<domain type='qemu'><name>{name}</name><uuid>5e4c4a52-3d0c-4bd6-9e62-8f1d2a0c7b11</uuid>
<memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os><devices>{devices}</devices></domain>""")
    run("virsh", "-c", uri, "create", str(path), "--paused")
    try:
        live = run("virsh", "-c", uri, "dumpxml", name).stdout
        reply = run("virsh", "-c", uri, "qemu-monitor-command", name, json.dumps({"execute": "query-named-block-nodes", "arguments": {"flat": True}})).stdout
        nodes = {node["node-name"]: (node["ro"], node["drv"]) for node in json.loads(reply)["return"]}
        # `domstats --backing`: an entry per layer, without the timings (they differ by nature).
        # An image QEMU opened for writing grows on the host by a block or so at each open, so
        # `physical` is compared by its presence (the second daemon opens the same files).
        stats = [re.sub(r"(physical)=\d+", r"\1", line.strip()) for line in run("virsh", "-c", uri, "domstats", "--block", "--backing", name).stdout.splitlines()
                 if line.strip().startswith("block.") and ".times=" not in line]
    finally:
        run("virsh", "-c", uri, "destroy", name, check=False)
    return re.findall(r"<disk .*?</disk>", live, re.S), nodes, stats


def test_a_chain_in_the_headers_is_opened_and_listed_as_libvirt_does(daemon, libvirtd, tmp_path):
    """A chain only the headers describe (top → middle → raw base, formats recorded): QEMU is
    told every layer with the format checked, numbered after every disk's image as libvirt
    numbers them; the live XML lists the layers and `<backingStore/>` where each chain ends, the
    same as libvirtd's live XML; the definition stays as written."""
    base, middle, top = (str(tmp_path / name) for name in ("hbase.img", "hmiddle.qcow2", "htop.qcow2"))
    run("qemu-img", "create", "-q", "-f", "raw", base, "4M")
    # The middle names its base relative to its own directory.
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "hbase.img", middle, "4M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", middle, top, "4M")
    raw, plain = str(tmp_path / "plain.img"), str(tmp_path / "plain.qcow2")
    run("qemu-img", "create", "-q", "-f", "raw", raw, "1M")
    run("qemu-img", "create", "-q", "-f", "qcow2", plain, "1M")
    devices = "".join(
        f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/><source file='{image}'/><target dev='{dev}' bus='virtio'/></disk>"
        for fmt, image, dev in (("qcow2", top, "vda"), ("raw", raw, "vdb"), ("qcow2", plain, "vdc")))
    ours, our_nodes, our_stats = live_disks(daemon.uri, tmp_path, "headerlive", devices)
    theirs, their_nodes, their_stats = live_disks(libvirtd, tmp_path, "headerlive", devices)
    assert ours == theirs
    # Five entries: vda, its two layers, vdb, vdc; each as libvirtd gives it.
    assert "block.count=5" in our_stats and f"block.1.path={middle}" in our_stats and "block.2.backingIndex=5" in our_stats, our_stats
    assert our_stats == their_stats, "\n".join(f"{a:70} {b}" for a, b in zip(our_stats, their_stats))
    assert f"<source file='{top}' index='3'/>" in ours[0] and "<backingStore type='file' index='5'>" in ours[0], ours[0]
    assert all("<backingStore/>" in disk for disk in ours)
    # The same nodes, read-only below the images, each with the format checked.
    expected = {"libvirt-3-format": (False, "qcow2"), "libvirt-4-format": (True, "qcow2"), "libvirt-5-format": (True, "raw"),
                "libvirt-2-format": (False, "raw"), "libvirt-1-format": (False, "qcow2")}
    assert {name: our_nodes[name] for name in expected} == expected
    assert {name: their_nodes[name] for name in expected} == expected


def test_a_hot_plugged_disk_gets_the_chain_in_its_headers_as_libvirt_does(daemon, libvirtd, tmp_path):
    base, middle, top = (str(tmp_path / name) for name in ("pbase.img", "pmiddle.qcow2", "ptop.qcow2"))
    run("qemu-img", "create", "-q", "-f", "raw", base, "4M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, middle, "4M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", middle, top, "4M")
    disk = tmp_path / "plugged.xml"
    disk.write_text(f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{top}'/><target dev='vdb' bus='virtio'/></disk>")
    results = []
    for uri in (daemon.uri, libvirtd):
        path = tmp_path / "plugged-domain.xml"
        path.write_text("""<domain type='qemu'><name>plugheaders</name><uuid>0b0f3c1e-2f5a-4d8e-9a61-3c7d2e4f5a60</uuid>
<memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os><devices/></domain>""")
        run("virsh", "-c", uri, "create", str(path), "--paused")
        try:
            run("virsh", "-c", uri, "attach-device", "plugheaders", str(disk), "--live")
            live = run("virsh", "-c", uri, "dumpxml", "plugheaders").stdout
            reply = run("virsh", "-c", uri, "qemu-monitor-command", "plugheaders", json.dumps({"execute": "query-named-block-nodes", "arguments": {"flat": True}})).stdout
            nodes = {node["node-name"]: (node["ro"], node["drv"]) for node in json.loads(reply)["return"] if node["node-name"].startswith("libvirt-")}
            results.append((re.findall(r"<disk .*?</disk>", live, re.S), nodes))
        finally:
            run("virsh", "-c", uri, "destroy", "plugheaders", check=False)
    (ours, our_nodes), (theirs, their_nodes) = results
    assert ours == theirs, "\n".join(ours + theirs)
    # libvirt numbers the two layers it finds once, then the whole chain after them: 3, 4, 5.
    assert f"<source file='{top}' index='3'/>" in ours[0] and "<backingStore type='file' index='5'>" in ours[0], ours[0]
    assert "<backingStore/>" in ours[0]
    assert {name: flags for name, flags in our_nodes.items() if name.endswith("-format")} == {
        "libvirt-3-format": (False, "qcow2"), "libvirt-4-format": (True, "qcow2"), "libvirt-5-format": (True, "raw")}
    assert our_nodes == their_nodes


def test_a_new_cd_rom_medium_gets_the_chain_in_its_headers_as_libvirt_does(daemon, libvirtd, tmp_path):
    base, medium = str(tmp_path / "media-base.iso"), str(tmp_path / "medium.qcow2")
    run("qemu-img", "create", "-q", "-f", "raw", base, "1M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, medium, "1M")
    results = []
    for uri in (daemon.uri, libvirtd):
        path = tmp_path / "media-domain.xml"
        path.write_text("""<domain type='qemu'><name>mediaheaders</name><uuid>7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f</uuid>
<memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os>
<devices><disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk></devices></domain>""")
        run("virsh", "-c", uri, "create", str(path), "--paused")
        try:
            cdrom = tmp_path / "medium.xml"
            cdrom.write_text(f"<disk type='file' device='cdrom'><driver name='qemu' type='qcow2'/><source file='{medium}'/><target dev='sda' bus='sata'/></disk>")
            run("virsh", "-c", uri, "update-device", "mediaheaders", str(cdrom), "--live")
            live = run("virsh", "-c", uri, "dumpxml", "mediaheaders").stdout
            results.append(re.findall(r"<disk .*?</disk>", live, re.S))
        finally:
            run("virsh", "-c", uri, "destroy", "mediaheaders", check=False)
    ours, theirs = results
    assert ours == theirs, "\n".join(ours + theirs)
    assert "<backingStore type='file' index='" in ours[0] and "<backingStore/>" in ours[0], ours[0]


def test_saved_xml_leaves_the_chain_from_the_headers_out_as_libvirt_does(daemon, libvirtd, tmp_path):
    """What a run found in the headers is not part of the definition: a save image's XML (and
    a migration's) leaves it out, also after a daemon restart, while a described layer stays."""
    base, middle, top = (str(tmp_path / name) for name in ("sbase.img", "smiddle.qcow2", "stop.qcow2"))
    run("qemu-img", "create", "-q", "-f", "raw", base, "1M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, middle, "1M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", middle, top, "1M")
    plain = str(tmp_path / "splain.img")
    run("qemu-img", "create", "-q", "-f", "raw", plain, "1M")
    # vda describes its middle layer (the base is found below it); vdb is raw.
    devices = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{top}'/>"
               f"<backingStore type='file'><format type='qcow2'/><source file='{middle}'/></backingStore><target dev='vda' bus='virtio'/></disk>"
               f"<disk type='file' device='disk'><driver name='raw' type='raw'/><source file='{plain}'/><target dev='vdb' bus='virtio'/></disk>").replace("name='raw'", "name='qemu'")
    saved = []
    for uri, restart in ((daemon.uri, daemon.restart), (libvirtd, None)):
        path = tmp_path / "saved-domain.xml"
        path.write_text(f"""<domain type='qemu'><name>savedchain</name><uuid>9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d</uuid>
<memory unit='MiB'>64</memory><os><type arch='x86_64' machine='q35'>hvm</type></os><devices>{devices}</devices></domain>""")
        run("virsh", "-c", uri, "create", str(path), "--paused")
        image = tmp_path / "saved.img"
        try:
            live = run("virsh", "-c", uri, "dumpxml", "savedchain").stdout
            assert f"<source file='{base}'/>" in live
            if restart:
                restart()
            run("virsh", "-c", uri, "save", "savedchain", str(image))
            xml = run("virsh", "-c", uri, "save-image-dumpxml", str(image)).stdout
            saved.append(re.findall(r"<disk .*?</disk>", xml, re.S))
        finally:
            run("virsh", "-c", uri, "destroy", "savedchain", check=False)
            if image.exists():
                image.unlink()
    ours, theirs = saved
    assert ours == theirs, "\n".join(ours + theirs)
    # The layer found goes with the end below it; the raw disk keeps its end, as in libvirt.
    assert f"<source file='{middle}'/>" in ours[0] and base not in ours[0] and "<backingStore/>" not in ours[0] and "<backingStore/>" in ours[1]


def test_a_layer_on_an_nbd_server_is_opened_from_the_server(daemon, libvirtd, tmp_path):
    """<backingStore type='network'>: the base of the chain is an NBD export (qemu-nbd) that
    QEMU opens read-only under the guest's own image; the live XML numbers it; the guest's
    writes stay in its own image; libvirtd's inactive XML of the same definition is the same."""
    import subprocess
    from test_network_disks import wait_listening
    base, middle, top = make_chain(tmp_path)
    socket_path = str(tmp_path / "base.sock")
    server = subprocess.Popen(["qemu-nbd", "--persistent", "--shared=2", "-r", "-f", "raw", "-x", "base", "-k", socket_path, base])
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{top}'/>"
            f"<backingStore type='file'><format type='qcow2'/><source file='{middle}'/>"
            f"<backingStore type='network'><format type='raw'/><source protocol='nbd' name='base'>"
            f"<host transport='unix' socket='{socket_path}'/></source><backingStore/></backingStore>"
            f"</backingStore><target dev='vda' bus='virtio'/></disk>")
    try:
        wait_listening(path=socket_path)
        define_guest(daemon, tmp_path, "netchain", disk)
        run("virsh", "-c", daemon.uri, "start", "--paused", "netchain")
        assert sees_whole_chain(daemon, "netchain", "virtio-disk0")
        reply = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "netchain",
                    json.dumps({"execute": "query-named-block-nodes", "arguments": {"flat": True}})).stdout
        nodes = {node["node-name"]: node for node in json.loads(reply)["return"]}
        assert nodes["libvirt-3-storage"]["drv"] == "nbd" and "base" in nodes["libvirt-3-storage"]["file"]
        assert nodes["libvirt-3-format"]["ro"] and nodes["libvirt-3-format"]["drv"] == "raw"
        live = run("virsh", "-c", daemon.uri, "dumpxml", "netchain").stdout
        assert re.search(r"<backingStore type='network' index='3'>\s*<format type='raw'/>\s*<source protocol='nbd' name='base'>", live), live
        assert "wrote 65536/65536" in qemu_io(daemon, "netchain", "virtio-disk0", "write -P 0x44 0 64k")
        run("virsh", "-c", daemon.uri, "destroy", "netchain")
        assert run("qemu-io", "-f", "raw", "-r", "-c", f"read -P {BASE_BYTE} 0 64k", base).stdout.count("Pattern verification failed") == 0
        ours = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "netchain").stdout
        (tmp_path / "netchain-theirs.xml").write_text(ours)
        run("virsh", "-c", libvirtd, "define", str(tmp_path / "netchain-theirs.xml"))
        theirs = run("virsh", "-c", libvirtd, "dumpxml", "--inactive", "netchain").stdout
        chain = lambda xml: re.search(r"<backingStore type='network'>.*?</backingStore>\s*</backingStore>", xml, re.S).group(0)
        assert chain(ours) == chain(theirs)
    finally:
        remove_guests(daemon, "netchain")
        run("virsh", "-c", libvirtd, "undefine", "netchain", check=False)
        server.terminate()
        server.wait()
