"""Snapshots with virsh and libvirt-python: internal snapshots of running guests (memory
included: a counter the guest prints keeps going from where the snapshot was taken) and of
shut-off domains, external disk-only snapshots (qcow2 overlays, live through one QMP
transaction), the tree and its list filters, revert, delete, redefine, and the metadata
surviving a daemon killed and started again."""
import json
import os
import re
import signal
import struct
import subprocess
import time

import libvirt
import pytest

import rawrpc
from conftest import binary, run
from guest import domain_xml, wait_for
from test_save_restore import AGENT, FEATURES, counts, log_text, start_counting


def disk(path, target="vda", fmt="qcow2"):
    return f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/><source file='{path}'/><target dev='{target}' bus='virtio'/></disk>"


def corral():
    return binary("corral")


def virsh(daemon, *args, check=True):
    return run("virsh", "-c", daemon.uri, *args, check=check)


def image_snapshots(path):
    """The internal snapshots qemu-img finds in an image (-U: QEMU may hold it)."""
    listing = run("qemu-img", "snapshot", "-U", "-l", path).stdout
    return re.findall(r"^\s*\d+\s+(\S+)", listing, re.M)


def pattern_at_start(path, byte):
    """Whether the image's first 4 KiB hold `byte` (qemu-io reads through the qcow2 layer)."""
    result = run("qemu-io", "-r", "-f", "qcow2", "-U", "-c", f"read -P {byte} 0 4k", path, check=False)
    return "read 4096/4096" in result.stdout and "Pattern verification failed" not in result.stdout + result.stderr


def write_pattern(path, byte):
    run("qemu-io", "-f", "qcow2", "-c", f"write -P {byte} 0 4k", path)


@pytest.fixture
def counting_with_disk(daemon, tmp_path):
    image = str(tmp_path / "sn.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", image, "64M")
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("sn", serial, extra=FEATURES, devices=AGENT + disk(image), serial_append=True))
    virsh(daemon, "define", str(tmp_path / "g.xml"))
    virsh(daemon, "start", "sn")
    start_counting(daemon.uri, "sn", serial)
    yield daemon, serial, image
    virsh(daemon, "destroy", "sn", check=False)
    virsh(daemon, "undefine", "sn", "--snapshots-metadata", check=False)


def current_count(serial):
    return counts(log_text(serial))[-1]


def test_running_snapshots_keep_memory_and_build_a_tree(counting_with_disk, tmp_path):
    daemon, serial, image = counting_with_disk
    virsh(daemon, "snapshot-create-as", "sn", "s1", "--description", "first one")
    assert image_snapshots(image) == ["s1"]
    after_s1 = current_count(serial)
    info = virsh(daemon, "snapshot-info", "sn", "s1").stdout
    assert re.search(r"State:\s+running", info) and re.search(r"Current:\s+yes", info) and re.search(r"Parent:\s+-", info)
    xml = virsh(daemon, "snapshot-dumpxml", "sn", "s1").stdout
    assert "<description>first one</description>" in xml and "<memory snapshot='internal'/>" in xml
    assert "<disk name='vda' snapshot='internal'/>" in xml and "<uuid>" in xml
    assert virsh(daemon, "domstate", "sn").stdout.strip() == "running"
    # The guest went on counting after the snapshot.
    wait_for(lambda: current_count(serial) >= after_s1 + 5, timeout=30, what="more counts")
    virsh(daemon, "snapshot-create-as", "sn", "s2")
    assert virsh(daemon, "snapshot-parent", "sn", "s2").stdout.strip() == "s1"
    before_revert = current_count(serial)

    # Back to s1: a new QEMU loads it and the counter goes on from s1's moment, not from later.
    offset = len(log_text(serial))
    events = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "sn", "--all", "--loop"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    try:
        virsh(daemon, "snapshot-revert", "sn", "s1")
        time.sleep(0.5)
    finally:
        events.send_signal(signal.SIGINT)
        seen = [line for line in events.communicate(timeout=10)[0].splitlines() if "'lifecycle'" in line]
    # libvirt's details and order: stopped and started from the snapshot, then defined from it.
    assert [line.split(": ", 1)[1] for line in seen] == ["Stopped Snapshot", "Started Snapshot", "Defined Snapshot"], seen
    assert virsh(daemon, "snapshot-current", "sn", "--name").stdout.strip() == "s1"
    assert virsh(daemon, "domstate", "--reason", "sn").stdout.strip() == "running (from snapshot)"

    def resumed():
        """The counts since the last restart of the counter (the serial file is appended to)."""
        values = counts(log_text(serial)[offset:])
        drops = [i for i in range(1, len(values)) if values[i] < values[i - 1]]
        return values[drops[-1]:] if drops else []
    wait_for(lambda: len(resumed()) >= 2, timeout=30, what="counts after the revert")
    assert resumed()[0] <= after_s1 + 2 < before_revert, (resumed()[:3], after_s1, before_revert)

    # A new snapshot is a child of s1, beside s2.
    virsh(daemon, "snapshot-create-as", "sn", "s3")
    assert virsh(daemon, "snapshot-list", "sn", "--name", "--leaves").stdout.split() == ["s2", "s3"]
    assert virsh(daemon, "snapshot-list", "sn", "--name", "--roots").stdout.split() == ["s1"]
    tree = virsh(daemon, "snapshot-list", "sn", "--tree").stdout
    assert tree.index("s1") < tree.index("s2") and "+- s3" in tree
    assert run(corral(), "-c", daemon.uri, "snapshot-list", "sn", "--tree").stdout == tree

    conn = libvirt.open(daemon.uri)
    dom = conn.lookupByName("sn")
    assert sorted(s.getName() for s in dom.listAllSnapshots()) == ["s1", "s2", "s3"]
    s1 = dom.snapshotLookupByName("s1")
    assert sorted(c.getName() for c in s1.listAllChildren()) == ["s2", "s3"] and s1.numChildren() == 2
    assert sorted(s1.listChildrenNames()) == ["s2", "s3"] and sorted(dom.snapshotListNames()) == ["s1", "s2", "s3"]
    assert s1.getParent is not None and s1.isCurrent() == 0 and s1.hasMetadata() == 1
    assert dom.snapshotLookupByName("s3").isCurrent() == 1 and dom.snapshotLookupByName("s3").getParent().getName() == "s1"
    assert dom.snapshotCurrent().getName() == "s3" and dom.hasCurrentSnapshot() == 1
    assert dom.snapshotNum(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE) == 0
    assert dom.snapshotNum(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE) == 3
    assert dom.snapshotNum(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL) == 0
    with pytest.raises(libvirt.libvirtError, match="no domain snapshot with matching name 'nope'"):
        dom.snapshotLookupByName("nope")

    # Revert paused: the guest waits, as the snapshot had it running but the caller asked.
    virsh(daemon, "snapshot-revert", "sn", "s2", "--paused")
    assert virsh(daemon, "domstate", "--reason", "sn").stdout.strip() == "paused (from snapshot)"
    virsh(daemon, "snapshot-revert", "sn", "s2", "--running")
    assert virsh(daemon, "domstate", "--reason", "sn").stdout.strip() == "running (from snapshot)"
    # corral's own commands: the list and a snapshot's XML, as virsh prints them.
    listed = run(corral(), "-c", daemon.uri, "snapshot-list", "sn").stdout
    assert re.search(r"^ s1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\s+running$", listed, re.M), listed
    assert listed == virsh(daemon, "snapshot-list", "sn").stdout
    # (corral leaves out virsh's blank line after a document, as its dumpxml does.)
    assert run(corral(), "-c", daemon.uri, "snapshot-dumpxml", "sn", "s2").stdout == virsh(daemon, "snapshot-dumpxml", "sn", "s2").stdout.rstrip("\n") + "\n"

    # Deleting s1 moves its children up; they leave the images too.
    virsh(daemon, "snapshot-delete", "sn", "s1")
    assert sorted(virsh(daemon, "snapshot-list", "sn", "--name", "--roots").stdout.split()) == ["s2", "s3"]
    assert sorted(image_snapshots(image)) == ["s2", "s3"]
    # Metadata only: the image keeps it.
    virsh(daemon, "snapshot-delete", "sn", "s3", "--metadata")
    assert sorted(image_snapshots(image)) == ["s2", "s3"]
    assert virsh(daemon, "snapshot-list", "sn", "--name").stdout.split() == ["s2"]

    # A domain with snapshots is not undefined unless their metadata goes too.
    virsh(daemon, "destroy", "sn")
    refused = virsh(daemon, "undefine", "sn", check=False)
    assert refused.returncode != 0 and "cannot delete inactive domain with 1 snapshots" in refused.stderr
    refused = virsh(daemon, "domrename", "sn", "other", check=False)
    assert refused.returncode != 0 and "cannot rename domain with snapshots" in refused.stderr


def test_offline_internal_and_disk_only_snapshots(daemon, tmp_path):
    image = str(tmp_path / "off.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", image, "64M")
    write_pattern(image, "0x41")
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("off", serial, extra=FEATURES, devices=AGENT + disk(image), serial_append=True))
    virsh(daemon, "define", str(tmp_path / "g.xml"))
    try:
        # Offline internal: qemu-img takes it; a revert puts the data back.
        virsh(daemon, "snapshot-create-as", "off", "base")
        assert image_snapshots(image) == ["base"]
        assert "<state>shutoff</state>" in virsh(daemon, "snapshot-dumpxml", "off", "base").stdout
        write_pattern(image, "0x42")
        virsh(daemon, "snapshot-revert", "off", "base")
        assert pattern_at_start(image, "0x41")
        assert virsh(daemon, "domstate", "off").stdout.strip() == "shut off"

        # Disk-only while shut off: an overlay named after the snapshot, which the definition now uses.
        virsh(daemon, "snapshot-create-as", "off", "d1", "--disk-only")
        overlay = str(tmp_path / "off.d1")
        info = json.loads(run("qemu-img", "info", "--output=json", overlay).stdout)
        assert info["format"] == "qcow2" and info["backing-filename"] == image
        assert f"<source file='{overlay}'/>" in virsh(daemon, "dumpxml", "off").stdout
        assert virsh(daemon, "snapshot-list", "off", "--name", "--external").stdout.split() == ["d1"]

        # Disk-only while running, quiesced through the agent: one transaction, the guest runs on.
        virsh(daemon, "start", "off")
        start_counting(daemon.uri, "off", serial)
        live = str(tmp_path / "live.qcow2")
        virsh(daemon, "snapshot-create-as", "off", "d2", "--disk-only", "--quiesce", "--atomic", "--diskspec", f"vda,file={live}")
        blocks = virsh(daemon, "domblklist", "off").stdout
        assert live in blocks
        info = json.loads(run("qemu-img", "info", "-U", "--output=json", live).stdout)
        assert info["backing-filename"] == overlay
        assert "<state>disk-snapshot</state>" in virsh(daemon, "snapshot-dumpxml", "off", "d2").stdout
        assert f"<source file='{live}'/>" in virsh(daemon, "dumpxml", "--inactive", "off").stdout
        # The guest keeps writing to the new overlay and keeps counting.
        before = counts(log_text(serial))[-1]
        wait_for(lambda: counts(log_text(serial))[-1] > before + 2, timeout=30, what="counting after the snapshot")
        # Statistics find the disk under its new block node.
        assert re.search(r"vda wr_req \d+", virsh(daemon, "domblkstat", "off", "vda").stdout)

        # What libvirt 9.0 cannot do yet, refused in its words; metadata-only deletion works.
        refused = virsh(daemon, "snapshot-revert", "off", "d2", check=False)
        assert refused.returncode != 0 and "revert to external snapshot not supported yet" in refused.stderr
        refused = virsh(daemon, "snapshot-delete", "off", "d2", check=False)
        assert refused.returncode != 0 and "--metadata" in refused.stderr
        virsh(daemon, "snapshot-delete", "off", "d2", "--metadata")

        # No metadata: the overlay is made, no snapshot is recorded.
        virsh(daemon, "snapshot-create-as", "off", "ghost", "--disk-only", "--no-metadata")
        assert os.path.exists(str(tmp_path / "live.ghost"))
        assert "ghost" not in virsh(daemon, "snapshot-list", "off", "--name").stdout
    finally:
        virsh(daemon, "destroy", "off", check=False)
        virsh(daemon, "undefine", "off", "--snapshots-metadata", check=False)


def test_redefine_restart_and_libvirtd_layout(daemon, libvirtd, tmp_path):
    image = str(tmp_path / "rd.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", image, "16M")
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("rd", serial, devices=disk(image), serial_append=True))
    for uri in (daemon.uri, libvirtd):
        run("virsh", "-c", uri, "define", str(tmp_path / "g.xml"))
    try:
        for uri in (daemon.uri, libvirtd):
            run("virsh", "-c", uri, "snapshot-create-as", "rd", "a")
            run("virsh", "-c", uri, "snapshot-create-as", "rd", "b", "--description", "second")
        # The same document shape as libvirtd's: the same elements in the same order.
        ours = run("virsh", "-c", daemon.uri, "snapshot-dumpxml", "rd", "b").stdout
        theirs = run("virsh", "-c", libvirtd, "snapshot-dumpxml", "rd", "b").stdout
        shape = lambda text: [m for m in re.findall(r"^  <(\w+)", text, re.M)]
        assert shape(ours) == shape(theirs), (ours, theirs)
        for element in ("<name>b</name>", "<description>second</description>", "<state>shutoff</state>", "<parent>", "<memory snapshot='no'/>",
                        "<disk name='vda' snapshot='internal'/>"):
            assert element in ours and element in theirs, element

        # Redefine from the dumped XML (what OpenNebula does on deploy), as current.
        saved = tmp_path / "b.xml"
        saved.write_text(run("virsh", "-c", daemon.uri, "snapshot-dumpxml", "rd", "b", "--security-info").stdout)
        run("virsh", "-c", daemon.uri, "snapshot-delete", "rd", "b", "--metadata")
        run("virsh", "-c", daemon.uri, "snapshot-current", "rd", "a")
        run("virsh", "-c", daemon.uri, "snapshot-create", "rd", str(saved), "--redefine", "--current")
        assert run("virsh", "-c", daemon.uri, "snapshot-current", "rd", "--name").stdout.strip() == "b"
        assert run("virsh", "-c", daemon.uri, "snapshot-dumpxml", "rd", "b").stdout == ours
        refused = run("virsh", "-c", daemon.uri, "snapshot-create", "rd", str(saved), "--redefine", "--disk-only", check=False)
        assert refused.returncode != 0 and "requires disk-snapshot state" in refused.stderr

        # A daemon killed and started again has the same tree.
        daemon.restart(kill=True)
        assert run("virsh", "-c", daemon.uri, "snapshot-list", "rd", "--name").stdout.split() == ["a", "b"]
        assert run("virsh", "-c", daemon.uri, "snapshot-current", "rd", "--name").stdout.strip() == "b"
        assert run("virsh", "-c", daemon.uri, "snapshot-parent", "rd", "b").stdout.strip() == "a"

        # Delete with children: the whole subtree goes, from the image too.
        run("virsh", "-c", daemon.uri, "snapshot-delete", "rd", "a", "--children")
        assert run("virsh", "-c", daemon.uri, "snapshot-list", "rd", "--name").stdout.split() == []
        assert run("virsh", "-c", daemon.uri, "snapshot-current", "rd", check=False).returncode != 0
    finally:
        for uri in (daemon.uri, libvirtd):
            run("virsh", "-c", uri, "snapshot-delete", "rd", "a", "--children", "--metadata", check=False)
            run("virsh", "-c", uri, "undefine", "rd", "--snapshots-metadata", check=False)


def test_a_transient_guest_reverts_and_keeps_its_snapshots(daemon, tmp_path):
    image = str(tmp_path / "tr.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", image, "16M")
    (tmp_path / "g.xml").write_text(domain_xml("trs", str(tmp_path / "serial.log"), devices=disk(image), serial_append=True))
    virsh(daemon, "create", str(tmp_path / "g.xml"))
    try:
        virsh(daemon, "snapshot-create-as", "trs", "t1")
        refused = virsh(daemon, "snapshot-create-as", "trs", "t2", "--halt", check=False)
        assert refused.returncode != 0 and "cannot halt after transient domain snapshot" in refused.stderr
        refused = virsh(daemon, "snapshot-create-as", "trs", "t1", check=False)
        assert refused.returncode != 0 and "domain moment t1 already exists" in refused.stderr
        # The revert stops its QEMU and starts another: the domain is the same transient one.
        virsh(daemon, "snapshot-revert", "trs", "t1")
        assert virsh(daemon, "domstate", "--reason", "trs").stdout.strip() == "running (from snapshot)"
        assert "Persistent:     no" in virsh(daemon, "dominfo", "trs").stdout
        assert virsh(daemon, "snapshot-list", "trs", "--name").stdout.split() == ["t1"]
    finally:
        virsh(daemon, "destroy", "trs", check=False)
    # Stopped, it is gone with its snapshots.
    assert virsh(daemon, "dominfo", "trs", check=False).returncode != 0
    assert not os.path.exists(os.path.join(daemon.dir, "state", "snapshots", "trs.xml"))


def test_raw_frames_bad_snapshot_calls_are_refused(daemon, tmp_path):
    image = str(tmp_path / "raw.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", image, "16M")
    (tmp_path / "g.xml").write_text(domain_xml("raw", str(tmp_path / "serial.log"), devices=disk(image), serial_append=True))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", daemon.uri, "snapshot-create-as", "raw", "x")
    conn = libvirt.open(daemon.uri)
    handle = rawrpc.xdr_domain("raw", conn.lookupByName("raw").UUID())
    client = rawrpc.RawClient(daemon.socket).open()

    def refused(procedure, body, message):
        header, payload = client.call(rawrpc.REMOTE, procedure, body)
        assert header["status"] == rawrpc.ERROR and message in rawrpc.parse_error(payload)[2], rawrpc.parse_error(payload)

    # maxnames beyond the wire's limit, and negative; an unknown list flag.
    refused(188, handle + struct.pack(">iI", 16385, 0), "too many remote domain snapshot names: 16385 > 16384")
    refused(188, handle + struct.pack(">iI", -1, 0), "maxnames must not be negative")
    refused(187, handle + struct.pack(">I", 1 << 20), "unsupported flags")
    # Documents that are not snapshots, names that cannot be files, contradicting flags.
    refused(185, handle + rawrpc.xdr_string("<domain/>") + struct.pack(">I", 0), "expecting <domainsnapshot>")
    refused(185, handle + rawrpc.xdr_string("<domainsnapshot><name>a/b</name></domainsnapshot>") + struct.pack(">I", 0), "name can't contain '/'")
    refused(185, handle + rawrpc.xdr_string("<domainsnapshot/>") + struct.pack(">I", 64), "is required by flag 'VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE'")
    refused(185, handle + rawrpc.xdr_string("<domainsnapshot><name>x</name><creationTime>1</creationTime><state>shutoff</state><parent><name>x</name></parent></domainsnapshot>")
            + struct.pack(">I", 1), "cannot set moment x as its own parent")
    # Unknown snapshots, by every kind of call that names one.
    ghost = rawrpc.xdr_string("ghost") + handle
    for procedure in (186, 192, 193, 244, 246, 271, 272):
        refused(procedure, ghost + struct.pack(">I", 0), "no domain snapshot with matching name 'ghost'")
    refused(192, rawrpc.xdr_string("x") + handle + struct.pack(">I", 3), "are mutually exclusive")
    client.close()
    # The secure form of a snapshot's XML is refused on a read-only connection, by the daemon
    # itself (libvirt's client refuses it before sending); the plain form is served.
    ro_client = rawrpc.RawClient(daemon.socket_ro).open(read_only=True)
    header, payload = ro_client.call(rawrpc.REMOTE, 186, rawrpc.xdr_string("x") + handle + struct.pack(">I", 1))
    assert header["status"] == rawrpc.ERROR and "read only access prevents virDomainSnapshotGetXMLDesc" in rawrpc.parse_error(payload)[2]
    ro_client.close()
    ro = libvirt.openReadOnly(daemon.uri_ro)
    assert "<name>x</name>" in ro.lookupByName("raw").snapshotLookupByName("x").getXMLDesc(0)
    assert daemon.alive()
    run("virsh", "-c", daemon.uri, "undefine", "raw", "--snapshots-metadata", check=False)
