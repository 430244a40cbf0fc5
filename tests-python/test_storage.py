"""Storage pools and volumes with the real virsh, libvirt-python and qemu-img, compared with
libvirtd where the two must agree: pool and volume XML, errors, streams."""
import hashlib
import json
import os
import re
import struct
import subprocess
import time

import libvirt
import pytest

from conftest import run
from rawrpc import ERROR, OK, REMOTE, RawClient, parse_error, xdr_string


def virsh(daemon, *args, check=True):
    return run("virsh", "-c", daemon.uri, *args, check=check)


def define_dir_pool(daemon, name, path, start=True):
    virsh(daemon, "pool-define-as", name, "dir", "--target", str(path))
    virsh(daemon, "pool-build", name)
    if start:
        virsh(daemon, "pool-start", name)


def volume_names(daemon, pool):
    lines = virsh(daemon, "vol-list", pool).stdout.splitlines()[2:]
    return sorted(line.split()[0] for line in lines if line.strip())


def normalised(xml, path_prefix):
    """The XML without what differs between two daemons for the same input: UUIDs, sizes,
    times, and the pool's directory."""
    xml = xml.replace(path_prefix, "PREFIX")
    xml = re.sub(r"<uuid>[^<]*</uuid>", "<uuid/>", xml)
    xml = re.sub(r"<(capacity|allocation|available|physical) unit='bytes'>\d+<", r"<\1 unit='bytes'>N<", xml)
    xml = re.sub(r"<(atime|mtime|ctime|btime)>[\d.]+<", r"<\1>T<", xml)
    return xml.strip()


def test_default_pool_exists_and_survives_a_restart(daemon):
    info = virsh(daemon, "pool-info", "default").stdout
    assert re.search(r"State:\s+running", info) and re.search(r"Autostart:\s+yes", info)
    path = virsh(daemon, "pool-dumpxml", "default").stdout
    assert os.path.join(daemon.dir, "state", "images") in path
    daemon.restart()
    assert "running" in virsh(daemon, "pool-info", "default").stdout


def test_pool_lifecycle_with_virsh(daemon, tmp_path):
    target = tmp_path / "p1"
    virsh(daemon, "pool-define-as", "p1", "dir", "--target", str(target))
    assert not target.exists()
    failed = virsh(daemon, "pool-start", "p1", check=False)
    assert failed.returncode != 0 and f"cannot open directory '{target}': No such file or directory" in failed.stderr
    virsh(daemon, "pool-build", "p1")
    assert target.is_dir() and (target.stat().st_mode & 0o777) == 0o711
    virsh(daemon, "pool-start", "p1")
    assert "running" in virsh(daemon, "pool-info", "p1").stdout
    for command, message in (("pool-start", "is already active"), ("pool-build", "is already active"),
                             ("pool-undefine", "is still active"), ("pool-delete", "is still active")):
        result = virsh(daemon, command, "p1", check=False)
        assert result.returncode != 0 and message in result.stderr, (command, result.stderr)
    virsh(daemon, "pool-autostart", "p1")
    assert [line.split()[0] for line in virsh(daemon, "pool-list", "--autostart").stdout.splitlines()[2:] if line.strip()] == ["default", "p1"]
    # Persistence: the definition and the autostart mark survive a restart; the pool starts.
    daemon.restart()
    assert re.search(r"Autostart:\s+yes", virsh(daemon, "pool-info", "p1").stdout)
    assert "running" in virsh(daemon, "pool-info", "p1").stdout
    virsh(daemon, "pool-destroy", "p1")
    listed = virsh(daemon, "pool-list", "--inactive", "--name").stdout.split()
    assert listed == ["p1"]
    virsh(daemon, "pool-delete", "p1")
    assert not target.exists()
    virsh(daemon, "pool-undefine", "p1")
    result = virsh(daemon, "pool-info", "p1", check=False)
    assert "Storage pool not found: no storage pool with matching name 'p1'" in result.stderr


def test_transient_pool_goes_away_when_destroyed(daemon, tmp_path):
    (tmp_path / "t").mkdir()
    xml = tmp_path / "t.xml"
    xml.write_text(f"<pool type='dir'><name>t</name><target><path>{tmp_path / 't'}</path></target></pool>")
    virsh(daemon, "pool-create", str(xml))
    assert virsh(daemon, "pool-list", "--transient", "--name").stdout.split() == ["t"]
    result = virsh(daemon, "pool-autostart", "t", check=False)
    assert "cannot set autostart for transient pool" in result.stderr
    virsh(daemon, "pool-destroy", "t")
    assert "t" not in virsh(daemon, "pool-list", "--all", "--name").stdout.split()


def test_pool_xml_and_errors_match_libvirtd(daemon, libvirtd, tmp_path):
    """The same definitions through both daemons: the same XML back (but for UUIDs, sizes and
    times) and the same refusals."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    cases = [
        "<pool type='dir'><name>NAME</name><target><path>DIR//a/</path><permissions><mode>0700</mode><group>0</group></permissions></target></pool>",
        "<pool type='dir'><name>NAME</name><target><path>DIR/b</path></target></pool>",
    ]
    for index, case in enumerate(cases):
        results = []
        for uri, directory in ((daemon.uri, ours), (libvirtd, theirs)):
            name = f"corral-cmp-{index}"
            xml = tmp_path / f"{name}.xml"
            xml.write_text(case.replace("NAME", name).replace("DIR", str(directory)))
            run("virsh", "-c", uri, "pool-define", str(xml))
            try:
                results.append(normalised(run("virsh", "-c", uri, "pool-dumpxml", name).stdout, str(directory)))
            finally:
                run("virsh", "-c", uri, "pool-undefine", name, check=False)
        assert results[0] == results[1]
    refusals = [
        "<pool type='foo'><name>x</name><target><path>/tmp/x</path></target></pool>",
        "<pool type='dir'><target><path>/tmp/x</path></target></pool>",
        "<pool type='dir'><name>x</name></pool>",
        "<pool type='dir'><name>x/y</name><target><path>/tmp/x</path></target></pool>",
        "<pool type='dir'><name>x5</name><uuid>bad</uuid><target><path>/tmp/x5</path></target></pool>",
        "<pool type='dir'><name>x6</name><target><path>/tmp/x6</path><permissions><mode>0999</mode></permissions></target></pool>",
        "<pool type='fs'><name>x8</name><target><path>/tmp/x8</path></target></pool>",
    ]
    for case in refusals:
        xml = tmp_path / "bad.xml"
        xml.write_text(case)
        errors = [run("virsh", "-c", uri, "pool-define", str(xml), check=False).stderr.splitlines()[-1] for uri in (daemon.uri, libvirtd)]
        assert errors[0] == errors[1], case


def test_volume_xml_matches_libvirtd(daemon, libvirtd, tmp_path):
    results = []
    for uri, directory in ((daemon.uri, tmp_path / "ours"), (libvirtd, tmp_path / "theirs")):
        run("virsh", "-c", uri, "pool-define-as", "corral-cmp", "dir", "--target", str(directory))
        try:
            run("virsh", "-c", uri, "pool-build", "corral-cmp")
            run("virsh", "-c", uri, "pool-start", "corral-cmp")
            run("virsh", "-c", uri, "vol-create-as", "corral-cmp", "base.img", "5M", "--allocation", "1M")
            run("virsh", "-c", uri, "vol-create-as", "corral-cmp", "top.qcow2", "20M", "--format", "qcow2",
                "--backing-vol", str(directory / "base.img"), "--backing-vol-format", "raw")
            run("virsh", "-c", uri, "vol-create-as", "corral-cmp", "e", "1KB", "--format", "qcow2")
            (directory / "sub").mkdir()
            run("virsh", "-c", uri, "pool-refresh", "corral-cmp")
            results.append([normalised(run("virsh", "-c", uri, "vol-dumpxml", "--pool", "corral-cmp", name).stdout, str(directory))
                            for name in ("base.img", "top.qcow2", "e", "sub")]
                           + [run("virsh", "-c", uri, "vol-info", "--pool", "corral-cmp", "e", "--bytes").stdout])
        finally:
            for name in ("top.qcow2", "base.img", "e", "sub"):
                run("virsh", "-c", uri, "vol-delete", "--pool", "corral-cmp", name, check=False)
            run("virsh", "-c", uri, "pool-destroy", "corral-cmp", check=False)
            run("virsh", "-c", uri, "pool-undefine", "corral-cmp", check=False)
    for ours, theirs in zip(*results):
        assert ours == theirs


def test_volumes_create_clone_resize_wipe_delete(daemon, tmp_path):
    define_dir_pool(daemon, "p", tmp_path / "p")
    define_dir_pool(daemon, "q", tmp_path / "q")
    virsh(daemon, "vol-create-as", "p", "raw.img", "8M", "--allocation", "2M")
    raw = tmp_path / "p" / "raw.img"
    assert raw.stat().st_size == 8 << 20 and raw.stat().st_blocks * 512 >= 2 << 20 and (raw.stat().st_mode & 0o777) == 0o600
    with open(raw, "r+b") as f:
        f.seek(4096)
        f.write(b"corral" * 100)
    # Clone across pools and formats: the same content, qemu-img says.
    virsh(daemon, "vol-clone", "--pool", "p", "raw.img", "same.img")
    assert raw.read_bytes() == (tmp_path / "p" / "same.img").read_bytes()
    virsh(daemon, "vol-delete", "--pool", "p", "same.img")
    (tmp_path / "copy.xml").write_text("<volume><name>copy.img</name><capacity>0</capacity></volume>")
    virsh(daemon, "vol-create-from", "q", str(tmp_path / "copy.xml"), "--inputpool", "p", "raw.img")
    assert hashlib.sha256(raw.read_bytes()).digest() == hashlib.sha256((tmp_path / "q" / "copy.img").read_bytes()).digest()
    (tmp_path / "clone.xml").write_text("<volume><name>c.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/></target></volume>")
    virsh(daemon, "vol-create-from", "q", str(tmp_path / "clone.xml"), "--inputpool", "p", "raw.img")
    compared = run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", str(raw), str(tmp_path / "q" / "c.qcow2"))
    assert "Images are identical" in compared.stdout
    info = json.loads(run("qemu-img", "info", "--output=json", str(tmp_path / "q" / "c.qcow2")).stdout)
    assert info["format"] == "qcow2" and info["virtual-size"] == 16 << 20
    # Resize: grow, refuse a silent shrink, shrink when told.
    virsh(daemon, "vol-resize", "--pool", "q", "c.qcow2", "32M")
    assert json.loads(run("qemu-img", "info", "--output=json", str(tmp_path / "q" / "c.qcow2")).stdout)["virtual-size"] == 32 << 20
    refused = virsh(daemon, "vol-resize", "--pool", "q", "c.qcow2", "4M", check=False)
    assert refused.returncode != 0 and "Can't shrink capacity below current capacity unless shrink flag explicitly specified" in refused.stderr
    virsh(daemon, "vol-resize", "--pool", "q", "c.qcow2", "20M", "--shrink")
    assert re.search(r"Capacity:\s+20971520 bytes", virsh(daemon, "vol-info", "--pool", "q", "c.qcow2", "--bytes").stdout)
    # Wipe: a raw volume reads as zeros after; a qcow2 stays a valid (empty) image.
    virsh(daemon, "vol-wipe", "--pool", "p", "raw.img")
    assert raw.read_bytes() == b"\0" * (8 << 20)
    virsh(daemon, "vol-wipe", "--pool", "q", "c.qcow2")
    run("qemu-img", "check", str(tmp_path / "q" / "c.qcow2"))
    trim = virsh(daemon, "vol-wipe", "--pool", "p", "raw.img", "--algorithm", "trim", check=False)
    assert "'trim' algorithm not supported" in trim.stderr
    # Lookups by path and key, the pool of a volume.
    assert virsh(daemon, "vol-pool", str(raw)).stdout.strip() == "p"
    assert virsh(daemon, "vol-key", "--pool", "p", "raw.img").stdout.strip() == str(raw)
    assert virsh(daemon, "vol-name", str(raw)).stdout.strip() == "raw.img"
    assert virsh(daemon, "vol-path", "--pool", "q", "c.qcow2").stdout.strip() == str(tmp_path / "q" / "c.qcow2")
    virsh(daemon, "vol-delete", "--pool", "p", "raw.img")
    assert not raw.exists()
    assert volume_names(daemon, "p") == []
    assert volume_names(daemon, "q") == ["c.qcow2", "copy.img"]


def test_libvirt_python_lookups_listings_and_events(daemon, tmp_path):
    connection = libvirt.open(daemon.uri)
    events = []
    try:
        libvirt.virEventRegisterDefaultImpl()
        connection.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
                                               lambda c, pool, event, detail, opaque: events.append((pool.name(), event)), None)
        connection.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH,
                                               lambda c, pool, opaque: events.append((pool.name(), "refresh")), None)
        pool = connection.storagePoolDefineXML(f"<pool type='dir'><name>py</name><target><path>{tmp_path / 'py'}</path></target></pool>")
        pool.build(0)
        pool.create(0)
        pool.refresh(0)
        volume = pool.createXML("<volume><name>v.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>", 0)
        assert connection.storageVolLookupByPath(volume.path()).name() == "v.qcow2"
        assert connection.storageVolLookupByKey(volume.key()).name() == "v.qcow2"
        assert volume.storagePoolLookupByVolume().name() == "py"
        assert connection.storagePoolLookupByTargetPath(str(tmp_path / "py")).name() == "py"
        assert connection.storagePoolLookupByUUIDString(pool.UUIDString()).name() == "py"
        assert [v.name() for v in pool.listAllVolumes()] == ["v.qcow2"] and pool.numOfVolumes() == 1
        kind, capacity, allocation = volume.info()
        assert kind == libvirt.VIR_STORAGE_VOL_FILE and capacity == 1048576 and 0 < allocation < 1048576
        assert volume.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2] == os.path.getsize(volume.path())
        flags = libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_PERSISTENT | libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_NO_AUTOSTART
        assert [p.name() for p in connection.listAllStoragePools(flags)] == ["py"]
        assert connection.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_LOGICAL) == []
        assert "<pool type='dir' supported='yes'>" in connection.getStoragePoolCapabilities(0)
        volume.delete(0)
        pool.destroy()
        pool.undefine()
        deadline = time.time() + 5
        while len(events) < 5 and time.time() < deadline:
            libvirt.virEventRunDefaultImpl()
        assert events == [("py", libvirt.VIR_STORAGE_POOL_EVENT_DEFINED), ("py", libvirt.VIR_STORAGE_POOL_EVENT_STARTED),
                          ("py", "refresh"), ("py", libvirt.VIR_STORAGE_POOL_EVENT_STOPPED),
                          ("py", libvirt.VIR_STORAGE_POOL_EVENT_UNDEFINED)]
    finally:
        connection.close()


def test_upload_and_download_with_offsets_lengths_and_holes(daemon, tmp_path):
    define_dir_pool(daemon, "s", tmp_path / "s")
    virsh(daemon, "vol-create-as", "s", "v.img", "4M")
    data = os.urandom(3 << 20)
    (tmp_path / "in").write_bytes(data)
    virsh(daemon, "vol-upload", "--pool", "s", "v.img", str(tmp_path / "in"), "--offset", "65536")
    content = (tmp_path / "s" / "v.img").read_bytes()
    assert content[:65536] == b"\0" * 65536 and content[65536:65536 + len(data)] == data and len(content) == 4 << 20
    virsh(daemon, "vol-download", "--pool", "s", "v.img", str(tmp_path / "out"), "--offset", "65536", "--length", "1000000")
    assert (tmp_path / "out").read_bytes() == data[:1000000]
    too_long = virsh(daemon, "vol-upload", "--pool", "s", "v.img", str(tmp_path / "in"), "--length", "100", check=False)
    assert too_long.returncode != 0 and "No space left on device" in too_long.stderr
    # Sparse: a 256 MiB file with 4 KiB of data goes up and down as holes, not zeros.
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.truncate(256 << 20)
        f.seek(100 << 20)
        f.write(b"x" * 4096)
    virsh(daemon, "vol-create-as", "s", "sp.img", "256M", "--allocation", "0")
    virsh(daemon, "vol-upload", "--sparse", "--pool", "s", "sp.img", str(sparse))
    stored = tmp_path / "s" / "sp.img"
    assert stored.read_bytes() == sparse.read_bytes() and stored.stat().st_blocks * 512 < 1 << 20
    virsh(daemon, "vol-download", "--sparse", "--pool", "s", "sp.img", str(tmp_path / "sp-out"))
    assert (tmp_path / "sp-out").stat().st_blocks * 512 < 1 << 20 and (tmp_path / "sp-out").read_bytes() == sparse.read_bytes()


def test_bad_names_and_targets_are_refused_and_nothing_escapes(daemon, tmp_path):
    define_dir_pool(daemon, "b", tmp_path / "b")
    for name, message in (("../x", "cannot contain '/'"), ("/etc/x", "cannot contain '/'"), (".", "is not allowed"), ("..", "is not allowed")):
        (tmp_path / "v.xml").write_text(f"<volume><name>{name}</name><capacity>1024</capacity></volume>")
        result = virsh(daemon, "vol-create", "b", str(tmp_path / "v.xml"), check=False)
        assert result.returncode != 0 and message in result.stderr, name
    assert not (tmp_path / "x").exists()
    for name in ("../evil", ".", ".."):
        (tmp_path / "p.xml").write_text(f"<pool type='dir'><name>{name}</name><target><path>{tmp_path / 'e'}</path></target></pool>")
        assert virsh(daemon, "pool-define", str(tmp_path / "p.xml"), check=False).returncode != 0
    # A target that is a file, or a symbolic link, is refused at build.
    (tmp_path / "file").write_text("x")
    os.symlink("/etc", tmp_path / "link")
    for name, target, message in (("f", "file", "exists and is not a directory"), ("l", "link", "is a symbolic link")):
        virsh(daemon, "pool-define-as", name, "dir", "--target", str(tmp_path / target))
        result = virsh(daemon, "pool-build", name, check=False)
        assert result.returncode != 0 and message in result.stderr
    # A link in a pool that leads out of it is not a volume (nothing can write through it).
    os.symlink("/etc/passwd", tmp_path / "b" / "passwd")
    virsh(daemon, "pool-refresh", "b")
    assert "passwd" not in volume_names(daemon, "b")
    # qemu-img's own message comes back, and nothing half-made stays.
    (tmp_path / "v.xml").write_text(f"<volume><name>o.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target>"
                                    f"<backingStore><path>{tmp_path / 'b' / 'missing.img'}</path><format type='raw'/></backingStore></volume>")
    result = virsh(daemon, "vol-create", "b", str(tmp_path / "v.xml"), check=False)
    assert result.returncode != 0 and "missing.img" in result.stderr
    assert not (tmp_path / "b" / "o.qcow2").exists()
    # A pool whose directory vanished stops at refresh, with the reason.
    for entry in os.listdir(tmp_path / "b"):
        os.unlink(tmp_path / "b" / entry)
    os.rmdir(tmp_path / "b")
    result = virsh(daemon, "pool-refresh", "b", check=False)
    assert result.returncode != 0 and "No such file or directory" in result.stderr
    assert re.search(r"State:\s+inactive", virsh(daemon, "pool-info", "b").stdout)
    assert daemon.alive()


def test_a_stream_cut_midway_frees_the_volume_and_the_daemon_serves_on(daemon, tmp_path):
    define_dir_pool(daemon, "c", tmp_path / "c")
    virsh(daemon, "vol-create-as", "c", "v.img", "64M")
    code = f"""
import libvirt, os
c = libvirt.open({daemon.uri!r})
v = c.storageVolLookupByPath({str(tmp_path / 'c' / 'v.img')!r})
s = c.newStream(0)
v.upload(s, 0, 0, 0)
s.send(b"y" * 1000000)
os._exit(0)
"""
    subprocess.run(["/usr/bin/python3", "-c", code], check=True, timeout=30)
    # The volume is free again once the daemon sees the connection go: it can be deleted.
    deadline = time.time() + 10
    while True:
        result = virsh(daemon, "vol-delete", "--pool", "c", "v.img", check=False)
        if result.returncode == 0 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert result.returncode == 0, result.stderr
    assert "ended before the client finished it" in daemon.log_text()
    assert daemon.alive()


def test_raw_frames_refused_by_the_daemon(daemon):
    client = RawClient(daemon.socket).open()
    try:
        # STORAGE_POOL_LIST_VOLUMES (92) with a bad maxnames, LIST_ALL_VOLUMES (282) with flags.
        lookup = client.call(REMOTE, 84, xdr_string("default"))
        assert lookup[0]["status"] == OK
        pool = lookup[1]
        for maxnames in (-1, 16385):
            header, payload = client.call(REMOTE, 92, pool + struct.pack(">i", maxnames))
            assert header["status"] == ERROR and "REMOTE_STORAGE_VOL_LIST_MAX" in parse_error(payload)[2]
        header, payload = client.call(REMOTE, 282, pool + struct.pack(">iI", 1, 1))
        assert header["status"] == ERROR and parse_error(payload)[:2] == (8, 18)
        # A volume of no pool; a wipe algorithm libvirt does not define.
        volume = xdr_string("nope") + xdr_string("x") + xdr_string("x")
        header, payload = client.call(REMOTE, 98, volume)
        assert header["status"] == ERROR and parse_error(payload)[0] == 49
        created = client.call(REMOTE, 93, pool + xdr_string("<volume><name>w</name><capacity>4096</capacity></volume>") + struct.pack(">I", 0))
        assert created[0]["status"] == OK
        header, payload = client.call(REMOTE, 259, created[1] + struct.pack(">II", 99, 0))
        assert header["status"] == ERROR and "wiping algorithm 99 not supported" in parse_error(payload)[2]
        # Resizing by a delta that overflows.
        header, payload = client.call(REMOTE, 260, created[1] + struct.pack(">QI", 2**64 - 1, 2))
        assert header["status"] == ERROR and parse_error(payload)[0] == 82
        # An upload stream: a hole (STREAM_HOLE/CONTINUE) on a stream opened without the sparse
        # flag ends it with libvirt's error.
        serial = client.send(REMOTE, 208, created[1] + struct.pack(">QQI", 0, 0, 0))
        reply = client.receive()
        assert reply[0]["status"] == OK and reply[0]["serial"] == serial
        client.send_raw(client.frame(REMOTE, 208, struct.pack(">QI", 4096, 0), msg_type=6, serial=serial, status=2))
        hole = client.receive()
        assert hole[0]["type"] == 3 and hole[0]["status"] == ERROR and "Unexpected stream hole" in parse_error(hole[1])[2]
        # Stream packets for no stream are dropped; the connection serves on.
        client.send_raw(client.frame(REMOTE, 209, b"junk", msg_type=3, serial=12345))
        assert client.call(REMOTE, 84, xdr_string("default"))[0]["status"] == OK
    finally:
        client.close()
    assert daemon.alive()


def test_a_running_guests_volume_is_not_wiped_and_its_deletion_waits_for_the_next_start(daemon, tmp_path):
    from guest import domain_xml
    virsh(daemon, "vol-create-as", "default", "g.qcow2", "16M", "--format", "qcow2")
    disk = "<disk type='volume' device='disk'><source pool='default' volume='g.qcow2'/><target dev='vda' bus='virtio'/></disk>"
    (tmp_path / "g.xml").write_text(domain_xml("volguest", str(tmp_path / "serial.log"), devices=disk))
    virsh(daemon, "define", str(tmp_path / "g.xml"))
    virsh(daemon, "start", "volguest")
    try:
        assert "g.qcow2" in virsh(daemon, "domblklist", "volguest").stdout
        result = virsh(daemon, "vol-wipe", "--pool", "default", "g.qcow2", check=False)
        assert result.returncode != 0 and "is in use by running domain 'volguest'" in result.stderr
        path = virsh(daemon, "vol-path", "--pool", "default", "g.qcow2").stdout.strip()
        assert path in open(f"/proc/{_qemu_pid(daemon)}/cmdline").read()
        # Deleting is allowed, as libvirt allows it: QEMU keeps its open file and runs on.
        virsh(daemon, "vol-delete", "--pool", "default", "g.qcow2")
        assert not os.path.exists(path)
        assert "running" in virsh(daemon, "domstate", "volguest").stdout
    finally:
        virsh(daemon, "destroy", "volguest", check=False)
    result = virsh(daemon, "start", "volguest", check=False)
    assert result.returncode != 0 and "no storage vol with matching name 'g.qcow2'" in result.stderr


def _qemu_pid(daemon):
    status = os.path.join(daemon.dir, "run", "domains", "volguest", "qemu.pid")
    if os.path.exists(status):
        return open(status).read().strip()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if "guest=volguest" in open(f"/proc/{entry}/cmdline").read():
                    return entry
            except OSError:
                pass
    raise AssertionError("no QEMU for volguest")


def mounted_options(path):
    for line in open("/proc/self/mounts"):
        fields = line.split()
        if fields[1] == str(path):
            return fields[3].split(",")
    return None


def test_fs_pool_on_a_loop_device(daemon, tmp_path):
    image = tmp_path / "fs.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    loop = run("losetup", "-f", "--show", str(image)).stdout.strip()
    target = tmp_path / "mnt"
    try:
        virsh(daemon, "pool-define-as", "fsp", "fs", "--source-dev", loop, "--source-format", "ext4", "--target", str(target))
        virsh(daemon, "pool-build", "fsp", "--no-overwrite")
        assert run("blkid", "-o", "value", "-s", "TYPE", loop).stdout.strip() == "ext4"
        again = virsh(daemon, "pool-build", "fsp", "--no-overwrite", check=False)
        assert f"Storage pool already built: Device '{loop}' already formatted using 'ext4'" in again.stderr
        virsh(daemon, "pool-start", "fsp")
        options = mounted_options(target)
        assert options and {"nodev", "nosuid", "noexec"} <= set(options)
        virsh(daemon, "vol-create-as", "fsp", "a.img", "4M")
        (tmp_path / "data").write_bytes(b"fs pool" * 1000)
        virsh(daemon, "vol-upload", "--pool", "fsp", "a.img", str(tmp_path / "data"))
        # The daemon restarts; the pool is still running, still mounted, with its volume.
        daemon.restart()
        assert "running" in virsh(daemon, "pool-info", "fsp").stdout and mounted_options(target)
        assert "a.img" in volume_names(daemon, "fsp")
        assert (target / "a.img").read_bytes()[:7000] == b"fs pool" * 1000
        virsh(daemon, "pool-destroy", "fsp")
        assert mounted_options(target) is None
        virsh(daemon, "pool-undefine", "fsp")
    finally:
        if mounted_options(target):
            run("umount", str(target), check=False)
        run("losetup", "-d", loop, check=False)


def test_pool_types_without_a_backend_are_refused_at_define(daemon, tmp_path):
    """netfs needs an NFS server and logical needs device-mapper, which these machines' kernels
    lack; Corral refuses them as libvirt refuses a type it has no backend for."""
    for xml, message in (
        ("<pool type='logical'><name>vg</name><source><device path='/dev/loop7'/></source></pool>", "missing backend for pool type 3 (logical)"),
        ("<pool type='netfs'><name>n</name><source><host name='127.0.0.1'/><dir path='/x'/></source><target><path>/mnt/n</path></target></pool>",
         "missing backend for pool type 2 (netfs)"),
        ("<pool type='rbd'><name>r</name><source><name>a</name><host name='h'/></source></pool>", "missing backend for pool type 9 (rbd)"),
    ):
        (tmp_path / "p.xml").write_text(xml)
        result = virsh(daemon, "pool-define", str(tmp_path / "p.xml"), check=False)
        assert result.returncode != 0 and message in result.stderr, result.stderr


def test_corral_cli_moves_volumes_with_a_progress_bar_on_a_terminal(daemon, libvirtd, tmp_path):
    from conftest import binary
    corral = binary("corral")
    data = os.urandom(6 << 20)
    (tmp_path / "in").write_bytes(data)
    for uri, pool, directory in ((daemon.uri, "cli", tmp_path / "cli"), (libvirtd, "corral-cli", tmp_path / "theirs")):
        run("virsh", "-c", uri, "pool-define-as", pool, "dir", "--target", str(directory))
        try:
            run("virsh", "-c", uri, "pool-build", pool)
            run("virsh", "-c", uri, "pool-start", pool)
            run("virsh", "-c", uri, "vol-create-as", pool, "v.img", "8M")
            # Without a terminal: no progress bar, just the work.
            upload = run(corral, "-c", uri, "vol-upload", "--pool", pool, "v.img", str(tmp_path / "in"))
            assert "[" not in upload.stderr
            run(corral, "-c", uri, "vol-download", "--pool", pool, "v.img", str(tmp_path / "out"), "--length", str(len(data)))
            assert (tmp_path / "out").read_bytes() == data
            # On a terminal (script gives the command a pseudo-terminal): the bar, to 100%.
            shown = run("script", "-qec", f"{corral} -c '{uri}' vol-upload --pool {pool} v.img {tmp_path / 'in'}", "/dev/null")
            assert "vol-upload [" in shown.stdout and "100%" in shown.stdout
            cloned = run("script", "-qec", f"{corral} -c '{uri}' vol-clone --pool {pool} v.img w.img", "/dev/null")
            assert "Vol w.img cloned from v.img" in cloned.stdout and "vol-clone [" in cloned.stdout
            assert (directory / "w.img").read_bytes() == (directory / "v.img").read_bytes()
            listed = run(corral, "-c", uri, "vol-list", pool).stdout
            assert "v.img" in listed and "w.img" in listed
        finally:
            for name in ("v.img", "w.img"):
                run("virsh", "-c", uri, "vol-delete", "--pool", pool, name, check=False)
            run("virsh", "-c", uri, "pool-destroy", pool, check=False)
            run("virsh", "-c", uri, "pool-undefine", pool, check=False)
