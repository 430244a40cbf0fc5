"""Save, restore and managed save with virsh and libvirt-python: libvirt's image format, the
guest's state surviving (a counter the guest prints on its serial port keeps counting), images
moving between corrald and libvirtd both ways, and broken images refused with the domain left
as it was."""
import os
import re
import struct

import libvirt
import pytest

import rawrpc
from conftest import run
from guest import domain_xml, wait_for

AGENT = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
# ACPI, as libvirtd gives a guest only when asked: the same guest on both daemons.
FEATURES = "<features><acpi/></features>"
COUNTER = "i=0; while :; do i=$((i+1)); echo COUNT-$i > /dev/ttyS0; sleep 0.2; done"


def counts(text):
    return [int(n) for n in re.findall(r"COUNT-(\d+)\n", text)]


def log_text(serial):
    return open(serial, errors="replace").read() if os.path.exists(serial) else ""


def start_counting(uri, name, serial):
    """Boots `name` (defined or created by the caller), starts the counter through the guest
    agent, and waits for a few counts."""
    wait_for(lambda: "agent=/dev/vport" in log_text(serial), timeout=120, what="the guest agent")
    wait_for(lambda: run("virsh", "-c", uri, "qemu-agent-command", name, '{"execute":"guest-ping"}', check=False).returncode == 0,
             timeout=30, what="guest-ping")
    command = ('{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c","%s"]}}' % COUNTER)
    run("virsh", "-c", uri, "qemu-agent-command", name, command)
    wait_for(lambda: len(counts(log_text(serial))) >= 3, timeout=30, what="the counter")


def assert_counting_resumes(serial, saved_at, offset):
    """After a restore the counter goes on from `saved_at`: the output since `offset` (the whole
    file if the restored QEMU truncated it) starts right after it, never from 1 again."""
    def since():
        text = log_text(serial)
        return text[offset:] if len(text) >= offset else text
    wait_for(lambda: len(counts(since())) >= 3, timeout=30, what="counts after the restore")
    after = counts(since())
    assert saved_at < after[0] <= saved_at + 2, (saved_at, after[:5])
    assert after == list(range(after[0], after[0] + len(after))), after[:10]


@pytest.fixture
def counting(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("sr", serial, extra=FEATURES, devices=AGENT, serial_append=True))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", daemon.uri, "start", "sr")
    start_counting(daemon.uri, "sr", serial)
    yield daemon, serial
    run("virsh", "-c", daemon.uri, "destroy", "sr", check=False)
    run("virsh", "-c", daemon.uri, "managedsave-remove", "sr", check=False)
    run("virsh", "-c", daemon.uri, "undefine", "sr", check=False)


def test_save_and_restore_keep_the_guest_counting(counting, tmp_path):
    daemon, serial = counting
    image = str(tmp_path / "sr.img")
    out = run("virsh", "-c", daemon.uri, "save", "sr", image).stdout
    assert "saved to" in out
    saved_at = max(counts(log_text(serial)))
    offset = len(log_text(serial))
    # libvirt's image: the complete magic, version 2, the XML after the 92-byte header.
    with open(image, "rb") as f:
        header = f.read(92)
        assert header[:16] == b"LibvirtQemudSave"
        version, data_len, was_running, compressed, cookie = struct.unpack("<5I", header[16:36])
        assert (version, was_running, compressed) == (2, 1, 0)
        xml = f.read(data_len).split(b"\0")[0].decode()
    assert "<name>sr</name>" in xml and "<alias" not in xml and " id=" not in xml.split("\n")[0]
    assert "org.qemu.guest_agent.0" in xml
    assert run("virsh", "-c", daemon.uri, "domstate", "sr", "--reason").stdout.strip() == "shut off (saved)"
    # The guest stood still while saved.
    assert max(counts(log_text(serial))) == saved_at
    run("virsh", "-c", daemon.uri, "restore", image)
    assert run("virsh", "-c", daemon.uri, "domstate", "sr", "--reason").stdout.strip() == "running (restored)"
    assert_counting_resumes(serial, saved_at, offset)
    # The restored guest is the persistent domain, still defined.
    assert "Persistent:     yes" in run("virsh", "-c", daemon.uri, "dominfo", "sr").stdout


def test_paused_saves_and_flags_with_libvirt_python(counting, tmp_path):
    daemon, serial = counting
    image = str(tmp_path / "p.img")
    conn = libvirt.open(daemon.uri)
    dom = conn.lookupByName("sr")
    with pytest.raises(libvirt.libvirtError, match="mutually exclusive"):
        dom.saveFlags(image, None, libvirt.VIR_DOMAIN_SAVE_RUNNING | libvirt.VIR_DOMAIN_SAVE_PAUSED)
    assert dom.isActive() and not os.path.exists(image)
    # Saved paused: the image says so, and restores paused unless told otherwise.
    dom.saveFlags(image, None, libvirt.VIR_DOMAIN_SAVE_PAUSED)
    with open(image, "rb") as f:
        assert struct.unpack("<I", f.read(28)[24:28])[0] == 1  # it was running when saved
    conn.restoreFlags(image, None, libvirt.VIR_DOMAIN_SAVE_PAUSED)
    dom = conn.lookupByName("sr")
    assert dom.state() == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER]
    saved_at = max(counts(log_text(serial)))
    dom.resume()
    wait_for(lambda: max(counts(log_text(serial))) > saved_at, timeout=20, what="counting after resume")
    # A paused guest saved is restored paused, and RUNNING overrides it.
    dom.suspend()
    dom.save(image)
    with open(image, "rb") as f:
        assert struct.unpack("<I", f.read(28)[24:28])[0] == 0
    conn.restore(image)
    assert conn.lookupByName("sr").state()[0] == libvirt.VIR_DOMAIN_PAUSED
    conn.lookupByName("sr").save(image)
    conn.restoreFlags(image, None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
    assert conn.lookupByName("sr").state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_RESTORED]
    conn.close()


def test_the_image_xml_is_read_and_replaced_in_place(counting, tmp_path):
    daemon, serial = counting
    image = str(tmp_path / "x.img")
    run("virsh", "-c", daemon.uri, "save", "sr", image)
    size = os.path.getsize(image)
    xml = run("virsh", "-c", daemon.uri, "save-image-dumpxml", image).stdout
    assert "<on_poweroff>destroy</on_poweroff>" in xml
    (tmp_path / "new.xml").write_text(xml.replace("<on_poweroff>destroy</on_poweroff>", "<on_poweroff>restart</on_poweroff>"))
    run("virsh", "-c", daemon.uri, "save-image-define", image, str(tmp_path / "new.xml"), "--paused")
    assert "<on_poweroff>restart</on_poweroff>" in run("virsh", "-c", daemon.uri, "save-image-dumpxml", image).stdout
    # In place: the padding took the change; the stream after it is untouched.
    assert os.path.getsize(image) == size
    with open(image, "rb") as f:
        assert struct.unpack("<I", f.read(28)[24:28])[0] == 0  # --paused rewrote "was running"
    # Another domain's XML is refused.
    (tmp_path / "other.xml").write_text(xml.replace("<name>sr</name>", "<name>other</name>"))
    result = run("virsh", "-c", daemon.uri, "save-image-define", image, str(tmp_path / "other.xml"), check=False)
    assert result.returncode != 0 and "does not match source 'sr'" in result.stderr
    run("virsh", "-c", daemon.uri, "restore", image)
    conn = libvirt.open(daemon.uri)
    dom = conn.lookupByName("sr")
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    assert "<on_poweroff>restart</on_poweroff>" in dom.XMLDesc(0)
    conn.close()


def test_broken_images_are_refused_and_nothing_is_left(counting, tmp_path):
    daemon, serial = counting
    image = str(tmp_path / "b.img")
    run("virsh", "-c", daemon.uri, "save", "sr", image)
    # libvirt-tck's 102-broken-save-restore: 512 KiB cut from the end.
    truncated = str(tmp_path / "t.img")
    with open(image, "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:
        f.write(data[:-512 * 1024])
    result = run("virsh", "-c", daemon.uri, "restore", truncated, check=False)
    assert result.returncode != 0 and "failed to restore the domain's state" in result.stderr, result.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "sr").stdout.strip() == "shut off"
    # An image a crashed save left (its partial magic), and a file that is no image.
    with open(str(tmp_path / "p.img"), "wb") as f:
        f.write(b"LibvirtQemudPart" + data[16:4096])
    with open(str(tmp_path / "z.img"), "wb") as f:
        f.write(b"\0" * 4096)
    with open(str(tmp_path / "len.img"), "wb") as f:
        f.write(data[:20] + struct.pack("<I", 0x7FFFFFFF) + data[24:4096])
    for name, message in (("p.img", "save image is incomplete"), ("z.img", "image magic is incorrect"),
                          ("len.img", "invalid header data length: 2147483647"), ("nosuch.img", "No such file or directory")):
        for command in ("restore", "save-image-dumpxml"):
            result = run("virsh", "-c", daemon.uri, command, str(tmp_path / name), check=False)
            assert result.returncode != 0 and message in result.stderr, (command, name, result.stderr)
    # The good image still restores, and the guest counts on.
    saved_at = max(counts(log_text(serial)))
    offset = len(log_text(serial))
    run("virsh", "-c", daemon.uri, "restore", image)
    assert_counting_resumes(serial, saved_at, offset)
    # A save to a place that cannot be written leaves the guest running.
    result = run("virsh", "-c", daemon.uri, "save", "sr", "/proc/nosuch/x.img", check=False)
    assert result.returncode != 0 and "Failed to create file" in result.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "sr").stdout.strip() == "running"
    before = max(counts(log_text(serial)))
    wait_for(lambda: max(counts(log_text(serial))) > before, timeout=20, what="counting after the failed save")


def test_managed_save_restores_at_the_next_start(counting, tmp_path):
    daemon, serial = counting
    uri = daemon.uri
    run("virsh", "-c", uri, "managedsave", "sr")
    saved_at = max(counts(log_text(serial)))
    offset = len(log_text(serial))
    assert run("virsh", "-c", uri, "domstate", "sr", "--reason").stdout.strip() == "shut off (saved)"
    assert re.search(r"Managed save:\s+yes", run("virsh", "-c", uri, "dominfo", "sr").stdout)
    assert "sr" in run("virsh", "-c", uri, "list", "--all", "--with-managed-save", "--name").stdout
    assert "sr" not in run("virsh", "-c", uri, "list", "--all", "--without-managed-save", "--name").stdout
    assert "<name>sr</name>" in run("virsh", "-c", uri, "managedsave-dumpxml", "sr").stdout
    # Rename refuses while the image exists (it is found by the domain's name).
    result = run("virsh", "-c", uri, "domrename", "sr", "sr2", check=False)
    assert result.returncode != 0 and "domain with a managed saved state can't be renamed" in result.stderr
    # Undefine refuses while the image exists.
    result = run("virsh", "-c", uri, "undefine", "sr", check=False)
    assert result.returncode != 0 and "Refusing to undefine while domain managed save image exists" in result.stderr
    run("virsh", "-c", uri, "start", "sr")
    assert "Managed save:   no" in run("virsh", "-c", uri, "dominfo", "sr").stdout
    assert_counting_resumes(serial, saved_at, offset)
    # --force-boot discards the image and boots afresh.
    run("virsh", "-c", uri, "managedsave", "sr", "--paused")
    run("virsh", "-c", uri, "start", "sr", "--force-boot")
    wait_for(lambda: log_text(serial).count("CORRAL-GUEST-BOOTED") >= 2, timeout=120, what="a fresh boot")
    run("virsh", "-c", uri, "destroy", "sr")
    # managedsave-remove and undefine --managed-save.
    run("virsh", "-c", uri, "start", "sr")
    run("virsh", "-c", uri, "managedsave", "sr")
    run("virsh", "-c", uri, "managedsave-remove", "sr")
    assert "Managed save:   no" in run("virsh", "-c", uri, "dominfo", "sr").stdout
    run("virsh", "-c", uri, "start", "sr")
    run("virsh", "-c", uri, "managedsave", "sr")
    run("virsh", "-c", uri, "undefine", "sr", "--managed-save")
    assert not [f for f in os.listdir(os.path.join(daemon.dir, "state", "save")) if f.endswith(".save")]


def test_a_transient_guest_saved_is_gone_until_restored(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    (tmp_path / "t.xml").write_text(domain_xml("tr", serial, extra=FEATURES, devices=AGENT, serial_append=True))
    run("virsh", "-c", daemon.uri, "create", str(tmp_path / "t.xml"))
    try:
        start_counting(daemon.uri, "tr", serial)
        image = str(tmp_path / "t.img")
        run("virsh", "-c", daemon.uri, "save", "tr", image)
        assert run("virsh", "-c", daemon.uri, "domstate", "tr", check=False).returncode != 0
        result = run("virsh", "-c", daemon.uri, "managedsave", "tr", check=False)
        assert result.returncode != 0
        run("virsh", "-c", daemon.uri, "restore", image)
        assert "Persistent:     no" in run("virsh", "-c", daemon.uri, "dominfo", "tr").stdout
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "tr", check=False)


# The same hardware on both daemons: every PCI device at the address libvirt would give it.
# (libvirt assigns addresses to devices that have none when it defines a guest; Corral leaves
# that to QEMU until it does the same, so a guest moves between the daemons when its XML says
# where its devices are, as every guest libvirt has defined does.)
ADDRESSED = """
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/></controller>
    <controller type='pci' index='2' model='pcie-root-port'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x1'/></controller>
    <controller type='usb' index='0' model='none'/>
    <controller type='virtio-serial' index='0'>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></controller>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></memballoon>
"""


@pytest.mark.parametrize("cpu", ["", "<cpu mode='host-model'/>"], ids=["default-cpu", "host-model"])
def test_images_move_between_corrald_and_libvirtd(daemon, libvirtd, tmp_path, cpu):
    serial = str(tmp_path / "serial.log")
    name = "corral-save-cross"
    (tmp_path / "c.xml").write_text(domain_xml(name, serial, extra=FEATURES + cpu, devices=AGENT + ADDRESSED, serial_append=True))
    run("virsh", "-c", libvirtd, "destroy", name, check=False)
    run("virsh", "-c", daemon.uri, "create", str(tmp_path / "c.xml"))
    try:
        start_counting(daemon.uri, name, serial)
        # corrald's image, restored by libvirtd.
        first = str(tmp_path / "from-corrald.img")
        run("virsh", "-c", daemon.uri, "save", name, first)
        saved_at = max(counts(log_text(serial)))
        offset = len(log_text(serial))
        run("virsh", "-c", libvirtd, "restore", first)
        assert_counting_resumes(serial, saved_at, offset)
        # libvirtd's image (its XML now with libvirt's PCI addresses and cookie), restored by corrald.
        second = str(tmp_path / "from-libvirtd.img")
        run("virsh", "-c", libvirtd, "save", name, second)
        with open(second, "rb") as f:
            assert struct.unpack("<I", f.read(36)[32:36])[0] > 0  # libvirt's cookie is there
        saved_at = max(counts(log_text(serial)))
        offset = len(log_text(serial))
        run("virsh", "-c", daemon.uri, "restore", second)
        assert_counting_resumes(serial, saved_at, offset)
        assert run("virsh", "-c", daemon.uri, "domstate", name, "--reason").stdout.strip() == "running (restored)"
    finally:
        run("virsh", "-c", daemon.uri, "destroy", name, check=False)
        run("virsh", "-c", libvirtd, "destroy", name, check=False)


def test_raw_frames_relative_paths_and_bad_params_are_refused(daemon):
    client = rawrpc.RawClient(daemon.socket)
    client.open()
    # DOMAIN_RESTORE (54) with a relative path: libvirt's client makes paths absolute; the
    # daemon does not guess where a relative one points.
    header, payload = client.call(rawrpc.REMOTE, 54, rawrpc.xdr_string("relative.img"))
    assert header["status"] == rawrpc.ERROR and "is not absolute" in rawrpc.parse_error(payload)[2]
    # SAVE_IMAGE_GET_XML_DESC (235) with unknown flags.
    header, payload = client.call(rawrpc.REMOTE, 235, rawrpc.xdr_string("/nosuch.img") + struct.pack(">I", 0x80))
    assert header["status"] == rawrpc.ERROR and "unsupported flags (0x80)" in rawrpc.parse_error(payload)[2]
    client.close()


def test_a_save_in_progress_is_reported_and_can_be_aborted(counting, tmp_path):
    """The save's job: `domjobinfo` shows its progress while QEMU writes (here into a pipe read
    slowly), `domjobabort` stops it, and the guest runs on as before; `--completed` tells how
    it ended."""
    import subprocess
    import threading
    daemon, serial = counting
    fifo = str(tmp_path / "slow.img")
    os.mkfifo(fifo)
    stop = threading.Event()

    def slow_reader():
        with open(fifo, "rb") as pipe:
            while not stop.is_set():
                if not pipe.read(64 * 1024):
                    break
                stop.wait(0.05)
    reader = threading.Thread(target=slow_reader, daemon=True)
    reader.start()
    save = subprocess.Popen(["virsh", "-c", daemon.uri, "save", "sr", fifo], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = ""

        def saving():
            nonlocal info
            info = run("virsh", "-c", daemon.uri, "domjobinfo", "sr", check=False).stdout
            return "Operation:        Save" in info and re.search(r"Data processed:\s+[1-9]", info) is not None
        wait_for(saving, timeout=30, what="the save's progress")
        assert "Job type:         Bounded" in info, info
        conn = libvirt.open(daemon.uri)
        stats = conn.lookupByName("sr").jobStats()
        assert stats["type"] == libvirt.VIR_DOMAIN_JOB_BOUNDED and stats["operation"] == libvirt.VIR_DOMAIN_JOB_OPERATION_SAVE
        assert stats["memory_total"] >= 128 << 20 and stats["memory_processed"] > 0
        conn.close()
        run("virsh", "-c", daemon.uri, "domjobabort", "sr")
        _, err = save.communicate(timeout=30)
        assert save.returncode != 0 and "operation aborted: job 'domain save' canceled by client" in err, err
    finally:
        stop.set()
        if save.poll() is None:
            save.kill()
    assert run("virsh", "-c", daemon.uri, "domstate", "sr").stdout.strip() == "running"
    before = max(counts(log_text(serial)))
    wait_for(lambda: max(counts(log_text(serial))) > before, timeout=20, what="counting after the abort")
    completed = run("virsh", "-c", daemon.uri, "domjobinfo", "sr", "--completed").stdout
    assert "Job type:         Cancelled" in completed and "Operation:        Save" in completed, completed
    # Nothing runs now: there is nothing to abort.
    result = run("virsh", "-c", daemon.uri, "domjobabort", "sr", check=False)
    assert result.returncode != 0 and "no job is active on the domain" in result.stderr


def test_corral_save_restore_and_managedsave_with_progress(counting, tmp_path):
    from conftest import binary
    daemon, serial = counting
    corral = [binary("corral"), "-c", daemon.uri]
    image = str(tmp_path / "c.img")
    # Not a terminal: --verbose prints plain progress lines on standard error.
    result = run(*corral, "save", "sr", image, "--verbose")
    assert "Domain 'sr' saved to" in result.stdout and "save: 100%" in result.stderr, result.stderr
    completed = run(*corral, "domjobinfo", "sr", "--completed").stdout
    assert "Job type:         Completed" in completed and "Operation:        Save" in completed
    saved_at = max(counts(log_text(serial)))
    offset = len(log_text(serial))
    result = run(*corral, "restore", image, "--verbose")
    assert "Domain restored from" in result.stdout and "restore: 100%" in result.stderr, result.stderr
    assert_counting_resumes(serial, saved_at, offset)
    assert "Job type:         None" in run(*corral, "domjobinfo", "sr").stdout
    result = run(*corral, "managedsave", "sr")
    assert "state saved" in result.stdout
    assert "Removed managedsave image for domain 'sr'" in run(*corral, "managedsave-remove", "sr").stdout
    assert "has no manage save image" in run(*corral, "managedsave-remove", "sr").stdout
    result = run(*corral, "domjobabort", "sr", check=False)
    assert result.returncode != 0 and "domain is not running" in result.stderr


def test_a_compressed_image_restores_through_its_program(counting, tmp_path):
    """An image as libvirtd writes it with save_image_format = "gzip": the header says format 1
    and the stream after the XML is gzip's; corrald restores it through `gzip -dc`."""
    import gzip
    daemon, serial = counting
    raw = str(tmp_path / "raw.img")
    run("virsh", "-c", daemon.uri, "save", "sr", raw)
    saved_at = max(counts(log_text(serial)))
    offset = len(log_text(serial))
    with open(raw, "rb") as f:
        data = f.read()
    data_len = struct.unpack("<I", data[20:24])[0]
    start = 92 + data_len
    header = data[:28] + struct.pack("<I", 1) + data[32:92]
    compressed = str(tmp_path / "gz.img")
    with open(compressed, "wb") as f:
        f.write(header + data[92:start] + gzip.compress(data[start:], compresslevel=1))
    assert os.path.getsize(compressed) < len(data)
    run("virsh", "-c", daemon.uri, "restore", compressed)
    assert_counting_resumes(serial, saved_at, offset)
    # A format no program exists for here is refused before QEMU starts.
    bad = str(tmp_path / "bad.img")
    with open(bad, "wb") as f:
        f.write(data[:28] + struct.pack("<I", 7) + data[32:start])
    run("virsh", "-c", daemon.uri, "destroy", "sr")
    result = run("virsh", "-c", daemon.uri, "restore", bad, check=False)
    assert result.returncode != 0 and "Invalid compressed save format 7" in result.stderr


def test_core_dumps(counting, tmp_path):
    """`virsh dump`: QEMU's migration stream, or with --memory-only an ELF or kdump core of the
    guest's memory; the guest runs on, is reset, or ends crashed; the job is reported."""
    from conftest import binary
    daemon, serial = counting
    uri = daemon.uri
    stream = str(tmp_path / "stream.dump")
    run("virsh", "-c", uri, "dump", "sr", stream)
    with open(stream, "rb") as f:
        assert f.read(4) == b"QEVM"  # QEMU's migration stream
    assert run("virsh", "-c", uri, "domstate", "sr").stdout.strip() == "running"
    before = max(counts(log_text(serial)))
    wait_for(lambda: max(counts(log_text(serial))) > before, timeout=20, what="counting after the dump")
    elf = str(tmp_path / "core.elf")
    run("virsh", "-c", uri, "dump", "sr", elf, "--memory-only", "--live")
    with open(elf, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    assert os.path.getsize(elf) > 128 << 20  # the guest's 128 MiB and the notes
    completed = run("virsh", "-c", uri, "domjobinfo", "sr", "--completed").stdout
    assert "Job type:         Completed" in completed and "Operation:        Dump" in completed, completed
    # kdump-compressed, through corral with its progress lines.
    kdump = str(tmp_path / "core.kdump")
    result = run(binary("corral"), "-c", uri, "dump", "sr", kdump, "--memory-only", "--format", "kdump-zlib", "--verbose")
    assert "dumped to" in result.stdout and "dump: 100%" in result.stderr, result.stderr
    with open(kdump, "rb") as f:
        # QEMU 7.2 writes kdump in makedumpfile's flattened format.
        assert f.read(12) == b"makedumpfile"
    assert os.path.getsize(kdump) < os.path.getsize(elf)
    # libvirt's refusals, from the daemon itself (virsh refuses some before sending).
    client = rawrpc.RawClient(daemon.socket)
    client.open()
    conn = libvirt.open(uri)
    handle = rawrpc.xdr_domain("sr", conn.lookupByName("sr").UUID())
    conn.close()
    header, payload = client.call(rawrpc.REMOTE, 334, handle + rawrpc.xdr_string("/tmp/x.core") + struct.pack(">II", 0, 1 | 8))
    assert header["status"] == rawrpc.ERROR and "Flags 'VIR_DUMP_CRASH' and 'VIR_DUMP_RESET' are mutually exclusive" in rawrpc.parse_error(payload)[2]
    header, payload = client.call(rawrpc.REMOTE, 334, handle + rawrpc.xdr_string("/tmp/x.core") + struct.pack(">II", 1, 0))
    assert header["status"] == rawrpc.ERROR and "kdump-compressed format is only supported with memory-only dump" in rawrpc.parse_error(payload)[2]
    header, payload = client.call(rawrpc.REMOTE, 334, handle + rawrpc.xdr_string("/tmp/x.core") + struct.pack(">II", 9, 16))
    assert header["status"] == rawrpc.ERROR and "unknown dumpformat '9'" in rawrpc.parse_error(payload)[2]
    client.close()
    # --reset reboots the guest; --crash leaves it shut off as crashed.
    run("virsh", "-c", uri, "dump", "sr", str(tmp_path / "r.elf"), "--memory-only", "--reset")
    wait_for(lambda: log_text(serial).count("CORRAL-GUEST-BOOTED") >= 2, timeout=120, what="the reset guest's boot")
    run("virsh", "-c", uri, "dump", "sr", str(tmp_path / "c.elf"), "--memory-only", "--crash")
    assert run("virsh", "-c", uri, "domstate", "sr", "--reason").stdout.strip() == "shut off (crashed)"


def test_a_memory_only_dump_cannot_be_aborted(counting, tmp_path):
    """QEMU 7.2 cannot cancel dump-guest-memory: domjobabort says so (libvirt's message) while
    such a dump runs, and the dump then completes."""
    import subprocess
    import threading
    daemon, serial = counting
    fifo = str(tmp_path / "slow.core")
    os.mkfifo(fifo)
    fast = threading.Event()
    received = []

    def reader():
        with open(fifo, "rb") as pipe:
            while True:
                chunk = pipe.read(64 * 1024)
                if not chunk:
                    break
                received.append(len(chunk))
                if not fast.is_set():
                    fast.wait(0.05)
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    dump = subprocess.Popen(["virsh", "-c", daemon.uri, "dump", "sr", fifo, "--memory-only"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "Operation:        Dump" in run("virsh", "-c", daemon.uri, "domjobinfo", "sr", check=False).stdout,
                 timeout=30, what="the dump's job")
        result = run("virsh", "-c", daemon.uri, "domjobabort", "sr", check=False)
        assert result.returncode != 0 and "cannot abort memory-only dump" in result.stderr, result.stderr
    finally:
        fast.set()
    _, err = dump.communicate(timeout=60)
    assert dump.returncode == 0, err
    thread.join(timeout=10)
    assert sum(received) > 128 << 20
    assert run("virsh", "-c", daemon.uri, "domstate", "sr").stdout.strip() == "running"
