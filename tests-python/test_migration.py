"""Live migration as real users run it: two corralds in network namespaces of the test's, joined
by a veth pair, TLS between them; libvirtd as either side; the command shapes OpenNebula and Nova
use; aborts and failures. The test guest keeps a counter on its serial console, and the source's
and destination's console files together must hold every count, in order: the guest went on
without a gap or a restart."""
import json
import os
import re
import struct
import subprocess
import threading
import time
import uuid

import libvirt
import pytest

from conftest import Daemon, run
from event_recorder import EventRecorder, in_order, lifecycle
from guest import guest_files, wait_for
from rawrpc import REMOTE, RawClient, parse_error, xdr_domain, xdr_string
from remote_pki import PKI, SSHServer, free_port

NS_A, NS_B = f"cmig-a-{os.getpid()}", f"cmig-b-{os.getpid()}"
IP_A, IP_B = "10.203.7.1", "10.203.7.2"


def migrating_guest_xml(name, serial, guest_uuid=None, disk=None):
    kernel, initrd = guest_files()
    disk_xml = f"""<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
    <target dev='vda' bus='virtio'/></disk>""" if disk else ""

    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{guest_uuid or uuid.uuid4()}</uuid>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 corral.counter</cmdline></os>
  <features><acpi/><apic/></features>
  <devices><serial type='file'><source path='{serial}'/></serial>{disk_xml}</devices>
</domain>
"""


def counts(*files):
    """The counter values in the files' bytes taken together (a line may be split between them)."""
    text = b"".join(open(f, "rb").read() for f in files if os.path.exists(f)).decode(errors="replace")
    return [int(n) for n in re.findall(r"COUNTER (\d+)", text)]


def assert_unbroken(*files):
    values = counts(*files)
    assert len(values) >= 10, values
    assert values == list(range(values[0], values[0] + len(values))), f"a gap or a restart: {values}"
    return values


def wait_for_count(path, at_least, timeout=60):
    wait_for(lambda: counts(path) and counts(path)[-1] >= at_least, timeout=timeout, what=f"COUNTER {at_least} in {path}")


def netns(name, *command, **kwargs):
    return run("ip", "netns", "exec", name, *command, **kwargs)


@pytest.fixture(scope="module")
def namespaces():
    """Two network namespaces joined by a veth pair, IP_A and IP_B."""
    for ns in (NS_A, NS_B):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        run("ip", "netns", "add", ns)
        netns(ns, "ip", "link", "set", "lo", "up")
    veth_a, veth_b = f"cma{os.getpid() % 100000}", f"cmb{os.getpid() % 100000}"
    run("ip", "link", "add", veth_a, "netns", NS_A, "type", "veth", "peer", "name", veth_b, "netns", NS_B)
    netns(NS_A, "ip", "addr", "add", f"{IP_A}/24", "dev", veth_a)
    netns(NS_B, "ip", "addr", "add", f"{IP_B}/24", "dev", veth_b)
    netns(NS_A, "ip", "link", "set", veth_a, "up")
    netns(NS_B, "ip", "link", "set", veth_b, "up")
    netns(NS_A, "ping", "-c", "1", "-W", "5", IP_B)
    yield
    for ns in (NS_A, NS_B):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = PKI(str(tmp_path_factory.mktemp("mig-pki")), server_ips=(IP_A, IP_B))
    pki.client_dir = pki.client("client", "country = GB\norganization = Corral Test\ncn = migration")
    return pki


def tls_daemon(ns, ip, host_uuid, pki, tmp_path_factory):
    conf = tmp_path_factory.mktemp("mig-conf") / "corrald.conf"
    conf.write_text(f"""listen_addr = "{ip}"
ca_file = "{pki.dir}/cacert.pem"
cert_file = "{pki.dir}/servercert.pem"
key_file = "{pki.dir}/serverkey.pem"
host_uuid = "{host_uuid}"
migrate_tls_x509_cert_dir = "{pki.qemu_dir(pki.client_dir)}"
""")
    daemon = Daemon(["--listen", "--config", str(conf)], prefix=["ip", "netns", "exec", ns])
    daemon.tls = f"qemu+tls://{ip}/system?pkipath={pki.client_dir}"
    deadline = time.time() + 20
    while "transport=tls" not in daemon.log_text() and time.time() < deadline:
        time.sleep(0.05)
    return daemon


def destroy_all(daemon):
    """Guests outlive their daemon by design: a test that fails half-way leaves none behind."""
    for name in run("virsh", "-c", daemon.uri, "list", "--name", check=False).stdout.split():
        run("virsh", "-c", daemon.uri, "destroy", name, check=False)


@pytest.fixture(scope="module")
def pair(namespaces, pki, tmp_path_factory):
    a = tls_daemon(NS_A, IP_A, "aaaaaaaa-0000-4000-8000-000000000001", pki, tmp_path_factory)
    b = tls_daemon(NS_B, IP_B, "bbbbbbbb-0000-4000-8000-000000000002", pki, tmp_path_factory)
    yield a, b
    for daemon in (a, b):
        destroy_all(daemon)
        daemon.stop()


def destination_xml(source_uri, name, serial, tmp_path, label):
    """The running guest's migratable XML with the destination's own console file."""
    xml = run("virsh", "-c", source_uri, "dumpxml", "--migratable", name).stdout
    xml = re.sub(r"<source path='[^']*'/>", f"<source path='{serial}'/>", xml, count=1)
    path = tmp_path / f"{label}.xml"
    path.write_text(xml)
    return str(path)


def test_live_migration_over_tls_and_back_peer_to_peer(pair, tmp_path):
    a, b = pair
    first, second, third = str(tmp_path / "a.log"), str(tmp_path / "b.log"), str(tmp_path / "a2.log")
    (tmp_path / "g.xml").write_text(migrating_guest_xml("mover", first))
    run("virsh", "-c", a.uri, "create", str(tmp_path / "g.xml"))
    wait_for_count(first, 5)
    dest = destination_xml(a.uri, "mover", second, tmp_path, "to-b")
    # Client-managed: virsh holds both connections, both over TLS across the veth pair.
    result = netns(NS_A, "virsh", "-c", a.tls, "migrate", "--live", "--verbose", "mover", b.tls, "--xml", dest)
    assert "Migration: [100 %]" in result.stdout + result.stderr
    assert run("virsh", "-c", b.uri, "domstate", "--reason", "mover").stdout.strip() == "running (migrated)"
    assert "mover" not in run("virsh", "-c", a.uri, "list", "--all", "--name").stdout
    before = counts(first)[-1]
    wait_for_count(second, before + 10)
    assert_unbroken(first, second)
    # Peer to peer back, as Nova asks: the source daemon connects to the destination over TLS;
    # persistent there, undefined here.
    back = destination_xml(b.uri, "mover", third, tmp_path, "to-a")
    netns(NS_B, "virsh", "-c", b.tls, "migrate", "--live", "--p2p", "--persistent", "--undefinesource", "mover", a.tls, "--xml", back)
    assert run("virsh", "-c", a.uri, "dominfo", "mover").stdout.count("Persistent:     yes") == 1
    assert "mover" not in run("virsh", "-c", b.uri, "list", "--all", "--name").stdout
    wait_for_count(third, counts(second)[-1] + 10)
    values = assert_unbroken(first, second, third)
    assert values[0] <= before
    run("virsh", "-c", a.uri, "destroy", "mover")
    run("virsh", "-c", a.uri, "undefine", "mover")


def test_nova_and_opennebula_command_shapes(pair, pki, tmp_path):
    a, b = pair
    first, second = str(tmp_path / "a.log"), str(tmp_path / "b.log")
    (tmp_path / "g.xml").write_text(migrating_guest_xml("nova-guest", first))
    run("virsh", "-c", a.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", a.uri, "start", "nova-guest")
    wait_for_count(first, 5)
    dest = open(destination_xml(a.uri, "nova-guest", second, tmp_path, "nova")).read()
    # Nova's call: migrateToURI3 with LIVE|PEER2PEER|PERSIST_DEST|UNDEFINE_SOURCE and params.
    script = f"""
import libvirt
conn = libvirt.open({a.tls!r})
dom = conn.lookupByName('nova-guest')
flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
params = {{libvirt.VIR_MIGRATE_PARAM_DEST_XML: {dest!r}, libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: {dest!r}, libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 0}}
dom.migrateToURI3({b.tls!r}, params, flags)
print('migrated')
"""
    assert netns(NS_A, "/usr/bin/python3", "-c", script).stdout.strip() == "migrated"
    assert "nova-guest" not in run("virsh", "-c", a.uri, "list", "--all", "--name").stdout
    info = run("virsh", "-c", b.uri, "dominfo", "nova-guest").stdout
    assert "running" in info and "Persistent:     yes" in info
    wait_for_count(second, counts(first)[-1] + 5)
    assert_unbroken(first, second)
    run("virsh", "-c", b.uri, "destroy", "nova-guest")
    run("virsh", "-c", b.uri, "undefine", "nova-guest")


def test_domjobinfo_progress_and_domjobabort_keep_the_guest_on_the_source(pair, tmp_path):
    a, b = pair
    log = str(tmp_path / "a.log")
    (tmp_path / "g.xml").write_text(migrating_guest_xml("slow", log))
    run("virsh", "-c", a.uri, "create", str(tmp_path / "g.xml"))
    wait_for_count(log, 3)
    dest = destination_xml(a.uri, "slow", str(tmp_path / "b.log"), tmp_path, "slow")
    # 1 MiB/s: the 128 MiB guest would take minutes.
    migration = subprocess.Popen(["ip", "netns", "exec", NS_A, "virsh", "-c", a.tls, "migrate", "--live", "--tls", "--bandwidth", "1", "slow", b.tls, "--xml", dest],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def progressing():
        info = run("virsh", "-c", a.uri, "domjobinfo", "slow", check=False).stdout
        processed = re.search(r"Memory processed:\s+([\d.]+)", info)
        return "Outgoing migration" in info and processed is not None and float(processed.group(1)) > 0
    wait_for(progressing, timeout=30, what="an outgoing migration with progress")
    assert run("virsh", "-c", a.uri, "migrate-getspeed", "slow").stdout.strip() == "1"
    # --tls: QEMU's stream runs through the credentials object libvirt names.
    def tls_parameters():
        out = run("virsh", "-c", a.uri, "qemu-monitor-command", "slow", '{"execute":"query-migrate-parameters"}').stdout
        reply = json.loads(out)["return"]
        return reply.get("tls-creds"), reply.get("tls-hostname")
    assert tls_parameters() == ("objlibvirt_migrate_tls0", "")
    run("virsh", "-c", a.uri, "domjobabort", "slow")
    _, stderr = migration.communicate(timeout=60)
    assert migration.returncode != 0 and "canceled by client" in stderr
    assert run("virsh", "-c", a.uri, "domstate", "slow").stdout.strip() == "running"
    assert tls_parameters() == ("", "")
    assert "slow" not in run("virsh", "-c", b.uri, "list", "--all", "--name").stdout
    completed = run("virsh", "-c", a.uri, "domjobinfo", "--completed", "slow").stdout
    assert "Cancelled" in completed or "Failed" in completed
    # The guest kept running here throughout.
    now = counts(log)[-1]
    wait_for_count(log, now + 5)
    assert_unbroken(log)
    run("virsh", "-c", a.uri, "destroy", "slow")


def counting_guest_on(daemon, name, tmp_path):
    """A counting guest created on `daemon`: its console file here, the one it is to have on the
    destination, and its migratable XML naming that one."""
    first, second = str(tmp_path / "a.log"), str(tmp_path / "b.log")
    (tmp_path / "g.xml").write_text(migrating_guest_xml(name, first))
    run("virsh", "-c", daemon.uri, "create", str(tmp_path / "g.xml"))
    wait_for_count(first, 5)
    return first, second, destination_xml(daemon.uri, name, second, tmp_path, name)


# libvirt's lifecycle numbers: (event, detail).
SUSPENDED_MIGRATED, SUSPENDED_POSTCOPY, STOPPED_MIGRATED = (3, 1), (3, 7), (5, 3)
STARTED_MIGRATED, RESUMED_MIGRATED, RESUMED_POSTCOPY = (2, 1), (4, 1), (4, 3)


def test_postcopy_after_a_timeout_with_the_events_on_both_sides(pair, tmp_path):
    """virsh's --timeout-postcopy: pre-copy at 1 MiB/s would take minutes, so after 2 s virsh
    switches to post-copy. The source's part ends at the switch, the guest runs on the
    destination while the rest of its memory arrives, and each side reports libvirt's events."""
    a, b = pair
    first, second, dest = counting_guest_on(a, "postcopy", tmp_path)
    recorder = EventRecorder(a.uri, b.uri)
    try:
        started = time.monotonic()
        netns(NS_A, "virsh", "-c", a.tls, "migrate", "--live", "--postcopy", "--timeout", "2", "--timeout-postcopy",
              "--bandwidth", "1", "postcopy", b.tls, "--xml", dest)
        assert time.monotonic() - started < 60
        # Events travel on their own: wait for each side's last one before looking.
        recorder.wait(lambda events: RESUMED_MIGRATED in lifecycle(events, 1, "postcopy") and STOPPED_MIGRATED in lifecycle(events, 0, "postcopy"))
    finally:
        events = recorder.stop()
    assert run("virsh", "-c", b.uri, "domstate", "--reason", "postcopy").stdout.strip() == "running (migrated)"
    assert "postcopy" not in run("virsh", "-c", a.uri, "list", "--all", "--name").stdout
    wait_for_count(second, counts(first)[-1] + 5)
    assert_unbroken(first, second)
    source, destination = lifecycle(events, 0, "postcopy"), lifecycle(events, 1, "postcopy")
    assert in_order(source, SUSPENDED_POSTCOPY, STOPPED_MIGRATED), source
    assert in_order(destination, STARTED_MIGRATED, RESUMED_POSTCOPY, RESUMED_MIGRATED), destination
    # QEMU's passes over the memory, as libvirt's migration-iteration events, on the source.
    iterations = [e["value"] for e in events if e["kind"] == "iteration" and e["side"] == 0]
    assert iterations and iterations[0] >= 1, events
    assert any(e["kind"] == "job-completed" and e["side"] == 0 and e["domain"] == "postcopy" for e in events), events
    run("virsh", "-c", b.uri, "destroy", "postcopy")


def test_compression_auto_converge_parallel_downtime_and_a_suspend_on_timeout(pair, tmp_path):
    """The tuning options reach QEMU; maximum downtime changes while it runs; post-copy is
    refused for a migration not started with it; virsh's --timeout suspends the guest on the
    source (through the migration's job) and the migration then ends under a new name."""
    a, b = pair
    first, second, dest = counting_guest_on(a, "tuned", tmp_path)
    renamed = open(dest).read().replace("<name>tuned</name>", "<name>tuned-there</name>")
    open(dest, "w").write(renamed)
    migration = subprocess.Popen(
        ["ip", "netns", "exec", NS_A, "virsh", "-c", a.tls, "migrate", "--live", "--compressed", "--auto-converge", "--parallel",
         "--parallel-connections", "3", "--bandwidth", "1", "--timeout", "8", "--dname", "tuned-there", "tuned", b.tls, "--xml", dest],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def outgoing():
            assert migration.poll() is None, migration.communicate()
            return "Outgoing migration" in run("virsh", "-c", a.uri, "domjobinfo", "tuned", check=False).stdout
        wait_for(outgoing, timeout=30, what="an outgoing migration")

        def monitor(command):
            out = run("virsh", "-c", a.uri, "qemu-monitor-command", "tuned", json.dumps({"execute": command})).stdout
            return json.loads(out)["return"]
        capabilities = {c["capability"]: c["state"] for c in monitor("query-migrate-capabilities")}
        assert capabilities["xbzrle"] and capabilities["auto-converge"] and capabilities["multifd"] and capabilities["events"]
        assert not capabilities["postcopy-ram"]
        assert monitor("query-migrate-parameters")["multifd-channels"] == 3
        run("virsh", "-c", a.uri, "migrate-setmaxdowntime", "tuned", "400")
        assert run("virsh", "-c", a.uri, "migrate-getmaxdowntime", "tuned").stdout.strip() == "400"
        assert monitor("query-migrate-parameters")["downtime-limit"] == 400
        refused = run("virsh", "-c", a.uri, "migrate-postcopy", "tuned", check=False)
        assert refused.returncode != 0 and "requires migration to be started with VIR_MIGRATE_POSTCOPY flag" in refused.stderr
        # virsh suspends the guest after 8 s; the suspend passes the migration's job.
        wait_for(lambda: run("virsh", "-c", a.uri, "domstate", "--reason", "tuned").stdout.strip() == "paused (migrating)",
                 timeout=30, what="virsh's timeout to suspend the guest")
        assert migration.poll() is None
        paused_at = counts(first)[-1]
        run("virsh", "-c", a.uri, "migrate-setspeed", "tuned", "1000")
        _, stderr = migration.communicate(timeout=120)
        assert migration.returncode == 0, stderr
    finally:
        if migration.poll() is None:
            migration.kill()
    assert "tuned" not in run("virsh", "-c", a.uri, "list", "--all", "--name").stdout
    assert run("virsh", "-c", b.uri, "domstate", "--reason", "tuned-there").stdout.strip() == "running (migrated)"
    wait_for_count(second, paused_at + 5)
    assert_unbroken(first, second)
    run("virsh", "-c", b.uri, "destroy", "tuned-there")


def test_a_destination_that_refuses_leaves_the_guest_running_on_the_source(pair, tmp_path):
    a, b = pair
    log = str(tmp_path / "a.log")
    (tmp_path / "g.xml").write_text(migrating_guest_xml("clash", log))
    run("virsh", "-c", a.uri, "create", str(tmp_path / "g.xml"))
    # The destination already has a "clash" with another UUID.
    (tmp_path / "other.xml").write_text(migrating_guest_xml("clash", str(tmp_path / "other.log")))
    run("virsh", "-c", b.uri, "define", str(tmp_path / "other.xml"))
    for extra in ([], ["--p2p"]):
        result = netns(NS_A, "virsh", "-c", a.tls, "migrate", "--live", *extra, "clash", b.tls, check=False)
        assert result.returncode != 0 and "domain 'clash' already" in result.stderr, result.stderr
        assert run("virsh", "-c", a.uri, "domstate", "clash").stdout.strip() == "running"
    run("virsh", "-c", a.uri, "destroy", "clash")
    run("virsh", "-c", b.uri, "undefine", "clash")


def typed_string(field, value):
    return xdr_string(field) + struct.pack(">i", 7) + xdr_string(value)


def disk_counts(image):
    """The counts the guest wrote into its disk's sectors, in sector order, up to the first gap."""
    raw = image + ".raw"
    run("qemu-img", "convert", "-U", "-O", "raw", image, raw)
    values = []
    with open(raw, "rb") as f:
        while True:
            sector = f.read(512)
            match = re.match(rb"COUNTER (\d+)\n", sector)
            if not match:
                break
            values.append(int(match.group(1)))
    os.unlink(raw)
    return values


def test_copy_storage_all_and_inc_carry_the_disk_while_the_guest_writes(pair, tmp_path):
    """--copy-storage-all: the destination creates the missing image in its pool, and the
    guest's disk (written ten times a second, one sector per count) arrives whole; then
    --copy-storage-inc back, onto an overlay of a base both hosts hold."""
    a, b = pair
    os.chmod(tmp_path, 0o755)
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    source = str(here / "disk.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", source, "64M")
    logs = [str(tmp_path / f"{n}.log") for n in ("a", "b", "a2", "b2")]
    (tmp_path / "g.xml").write_text(migrating_guest_xml("copier", logs[0], disk=source))
    run("virsh", "-c", a.uri, "create", str(tmp_path / "g.xml"))
    # The destination's image lives in a pool of its own, where it does not exist yet.
    run("virsh", "-c", b.uri, "pool-create-as", "mig-there", "dir", "--target", str(there))
    try:
        wait_for_count(logs[0], 20)
        dest = destination_xml(a.uri, "copier", logs[1], tmp_path, "to-b")
        target = str(there / "disk.qcow2")
        xml = open(dest).read().replace(source, target)
        open(dest, "w").write(xml)
        # QEMU's own TLS too: the memory stream and the NBD connection both.
        result = netns(NS_A, "virsh", "-c", a.tls, "migrate", "--live", "--verbose", "--copy-storage-all", "--tls", "copier", b.tls, "--xml", dest)
        assert "Migration: [100 %]" in result.stdout + result.stderr
        assert run("virsh", "-c", b.uri, "domstate", "--reason", "copier").stdout.strip() == "running (migrated)"
        # libvirt's pool made the volume, with the source's size.
        assert "disk.qcow2" in run("virsh", "-c", b.uri, "vol-list", "mig-there").stdout
        assert '"virtual-size": 67108864' in run("qemu-img", "info", "-U", "--output=json", target).stdout
        migrated_at = counts(logs[0])[-1]
        wait_for_count(logs[1], migrated_at + 10)
        assert_unbroken(logs[0], logs[1])
        # Every sector the guest wrote, before (copied) and after (its own) the move.
        written = disk_counts(target)
        assert written == list(range(len(written))) and written[-1] >= migrated_at + 5, (written[-20:], migrated_at)

        # Back with --copy-storage-inc, p2p: a base both hosts hold, an overlay on each.
        run("virsh", "-c", b.uri, "destroy", "copier")
        base = str(tmp_path / "base.qcow2")
        run("qemu-img", "create", "-q", "-f", "qcow2", base, "64M")
        overlay_b, overlay_a = str(there / "top.qcow2"), str(here / "top.qcow2")
        for overlay in (overlay_b, overlay_a):
            run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay)
        # A log of its own: a fresh start truncates the file it writes, as libvirt's does.
        (tmp_path / "g2.xml").write_text(migrating_guest_xml("copier", logs[3], disk=overlay_b))
        run("virsh", "-c", b.uri, "create", str(tmp_path / "g2.xml"))
        wait_for_count(logs[3], 20)
        back = destination_xml(b.uri, "copier", logs[2], tmp_path, "to-a")
        text = open(back).read()
        open(back, "w").write(text.replace(overlay_b, overlay_a))
        netns(NS_B, "virsh", "-c", b.tls, "migrate", "--live", "--p2p", "--copy-storage-inc", "copier", a.tls, "--xml", back)
        assert run("virsh", "-c", a.uri, "domstate", "copier").stdout.strip() == "running"
        wait_for_count(logs[2], counts(logs[3])[-1] + 10)
        # A missing overlay cannot be made for an incremental copy (libvirt's refusal); disks
        # named by --migrate-disks must exist; the guest stays where it runs.
        again_xml = destination_xml(a.uri, "copier", logs[1], tmp_path, "again")
        text = open(again_xml).read()
        open(again_xml, "w").write(text.replace(overlay_a, str(there / "missing.qcow2")))
        refused = netns(NS_A, "virsh", "-c", a.tls, "migrate", "--live", "--copy-storage-inc", "copier", b.tls, "--xml", again_xml, check=False)
        assert refused.returncode != 0 and "pre-creation of storage targets for incremental storage migration is not supported" in refused.stderr
        refused = netns(NS_A, "virsh", "-c", a.tls, "migrate", "--live", "--copy-storage-all", "--migrate-disks", "vdz", "copier", b.tls, check=False)
        assert refused.returncode != 0 and "disk target vdz not found" in refused.stderr
        assert run("virsh", "-c", a.uri, "domstate", "copier").stdout.strip() == "running"
        assert "copier" not in run("virsh", "-c", b.uri, "list", "--all", "--name").stdout
        run("virsh", "-c", a.uri, "destroy", "copier")
        # The overlay here holds the second run's counts (sector 0 onwards: copied, then written here).
        again = disk_counts(overlay_a)
        assert again == list(range(len(again))) and len(again) > 30, again[-10:]
    finally:
        destroy_all(a)
        destroy_all(b)
        run("virsh", "-c", b.uri, "pool-destroy", "mig-there", check=False)


def test_migration_refusals_with_raw_frames(daemon, tmp_path):
    client = RawClient(daemon.socket)
    client.open()
    # PREPARE3_PARAMS: a cookie without its NUL, then no XML at all.
    xml = migrating_guest_xml("raw", str(tmp_path / "r.log"))
    params = struct.pack(">I", 1) + typed_string("destination_xml", xml)
    cookie = b"<qemu-migration/>"
    body = params + struct.pack(">I", len(cookie)) + cookie + b"\0" * (-len(cookie) % 4) + struct.pack(">I", 0)
    header, payload = client.call(REMOTE, 303, body)
    assert header["status"] == 1 and parse_error(payload)[2] == "internal error: Migration cookie was not NULL terminated"
    header, payload = client.call(REMOTE, 303, struct.pack(">I", 0) + struct.pack(">I", 0) + struct.pack(">I", 0))
    assert header["status"] == 1 and "no domain XML passed" in parse_error(payload)[2]
    # An unknown parameter, a parameter of the wrong type, and unknown flags.
    header, payload = client.call(REMOTE, 303, struct.pack(">I", 1) + typed_string("no_such_param", "x") + struct.pack(">II", 0, 0))
    assert header["status"] == 1 and parse_error(payload)[2] == "argument unsupported: parameter 'no_such_param' not supported"
    wrong = xdr_string("bandwidth") + struct.pack(">i", 7) + xdr_string("fast")
    header, payload = client.call(REMOTE, 303, struct.pack(">I", 1) + wrong + struct.pack(">II", 0, 0))
    assert header["status"] == 1 and "invalid type 'string' for parameter 'bandwidth', expected 'ullong'" in parse_error(payload)[2]
    header, payload = client.call(REMOTE, 303, struct.pack(">I", 0) + struct.pack(">I", 0) + struct.pack(">I", 1 << 30))
    assert header["status"] == 1 and "unsupported flags" in parse_error(payload)[2]
    # BEGIN3_PARAMS on a domain that does not run; FINISH3_PARAMS for a migration never prepared.
    run("virsh", "-c", daemon.uri, "define", "/dev/stdin", input=xml)
    dom = libvirt.open(daemon.uri).lookupByName("raw")
    header, payload = client.call(REMOTE, 302, xdr_domain("raw", dom.UUID()) + struct.pack(">II", 0, 1))
    assert header["status"] == 1 and "domain is not running" in parse_error(payload)[2]
    finish = struct.pack(">I", 1) + typed_string("destination_name", "raw") + struct.pack(">I", 0) + struct.pack(">Ii", 0, 0)
    header, payload = client.call(REMOTE, 306, finish)
    assert header["status"] == 1 and "is being migrated here" in parse_error(payload)[2]
    # PERFORM3_PARAMS with a URI QEMU must not be given.
    perform = xdr_domain("raw", dom.UUID()) + struct.pack(">I", 0) + struct.pack(">I", 1) + typed_string("migrate_uri", "exec:rm -rf /") + struct.pack(">II", 0, 1)
    header, payload = client.call(REMOTE, 305, perform)
    assert header["status"] == 1
    assert client.call(REMOTE, 59)[0]["status"] == 0
    assert daemon.alive()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = SSHServer(str(tmp_path_factory.mktemp("mig-sshd")))
    yield server
    server.stop()


@pytest.fixture
def corrald_beside_libvirtd(tmp_path_factory):
    conf = tmp_path_factory.mktemp("lv-conf") / "corrald.conf"
    conf.write_text('host_uuid = "cccccccc-0000-4000-8000-000000000003"\nmigration_host = "127.0.0.1"\n')
    daemon = Daemon(["--config", str(conf)])
    yield daemon
    destroy_all(daemon)
    daemon.stop()


def test_migration_with_libvirtd_both_ways(libvirtd, corrald_beside_libvirtd, sshd, tmp_path):
    """A guest under libvirtd 9.0 moves live to corrald and back: client-managed one way,
    peer-to-peer the other (corrald reaching libvirtd through ssh, OpenNebula's transport)."""
    ours = corrald_beside_libvirtd
    files = [str(tmp_path / f"{n}.log") for n in ("lv", "corral", "lv2", "corral2")]
    name = f"lv-mover-{os.getpid()}"
    (tmp_path / "g.xml").write_text(migrating_guest_xml(name, files[0]))
    run("virsh", "-c", libvirtd, "create", str(tmp_path / "g.xml"))
    try:
        wait_for_count(files[0], 5)
        dest = destination_xml(libvirtd, name, files[1], tmp_path, "to-corral")
        run("virsh", "-c", libvirtd, "migrate", "--live", name, ours.uri, "--xml", dest)
        assert run("virsh", "-c", ours.uri, "domstate", "--reason", name).stdout.strip() == "running (migrated)"
        wait_for_count(files[1], counts(files[0])[-1] + 5)
        back = destination_xml(ours.uri, name, files[2], tmp_path, "to-libvirtd")
        run("virsh", "-c", ours.uri, "migrate", "--live", name, libvirtd, "--xml", back)
        wait_for_count(files[2], counts(files[1])[-1] + 5)
        # libvirtd drives it peer to peer to corrald, then corrald to libvirtd over ssh.
        again = destination_xml(libvirtd, name, files[3], tmp_path, "p2p-to-corral")
        run("virsh", "-c", libvirtd, "migrate", "--live", "--p2p", name, ours.uri, "--xml", again)
        wait_for_count(files[3], counts(files[2])[-1] + 5)
        user = os.environ.get("USER") or "root"
        ssh_options = f"keyfile={sshd.key}&no_verify=1"
        home = dict(os.environ, HOME=str(tmp_path))
        final = str(tmp_path / "lv3.log")
        last = destination_xml(ours.uri, name, final, tmp_path, "p2p-to-libvirtd")
        to_libvirtd = f"qemu+ssh://{user}@127.0.0.1:{sshd.port}/system?socket=/run/libvirt/libvirt-sock&{ssh_options}"
        run("virsh", "-c", ours.uri, "migrate", "--live", "--p2p", name, to_libvirtd, "--xml", last, env=home)
        wait_for_count(final, counts(files[3])[-1] + 5)
        # OpenNebula's shape: virsh on the source's qemu:///system, the destination over ssh.
        opennebula = str(tmp_path / "corral3.log")
        shaped = destination_xml(libvirtd, name, opennebula, tmp_path, "opennebula")
        to_corral = f"qemu+ssh://{user}@127.0.0.1:{sshd.port}/system?socket={ours.socket}&{ssh_options}"
        run("virsh", "--connect", "qemu:///system", "migrate", "--live", name, to_corral, "--xml", shaped, env=home)
        wait_for_count(opennebula, counts(final)[-1] + 5)
        assert_unbroken(*files, final, opennebula)
    finally:
        run("virsh", "-c", libvirtd, "destroy", name, check=False)
        run("virsh", "-c", ours.uri, "destroy", name, check=False)


def test_storage_copy_with_libvirtd_both_ways(libvirtd, corrald_beside_libvirtd, tmp_path):
    """--copy-storage-all from libvirtd 9.0 to corrald and back: each side's NBD server and
    mirrors speak the other's names; the disk arrives whole. (virsh refuses --p2p towards a
    URI without a host, so peer to peer is left to the two-corrald test.)"""
    ours = corrald_beside_libvirtd
    os.chmod(tmp_path, 0o755)
    disks = [str(tmp_path / f"disk{n}.qcow2") for n in range(3)]
    for disk in disks:
        run("qemu-img", "create", "-q", "-f", "qcow2", disk, "64M")
    files = [str(tmp_path / f"{n}.log") for n in ("lv", "corral", "lv2")]
    name = f"lv-copier-{os.getpid()}"
    (tmp_path / "g.xml").write_text(migrating_guest_xml(name, files[0], disk=disks[0]))
    run("virsh", "-c", libvirtd, "create", str(tmp_path / "g.xml"))
    try:
        wait_for_count(files[0], 10)
        dest = destination_xml(libvirtd, name, files[1], tmp_path, "to-corral")
        text = open(dest).read()
        open(dest, "w").write(text.replace(disks[0], disks[1]))
        run("virsh", "-c", libvirtd, "migrate", "--live", "--copy-storage-all", name, ours.uri, "--xml", dest)
        assert run("virsh", "-c", ours.uri, "domstate", "--reason", name).stdout.strip() == "running (migrated)"
        wait_for_count(files[1], counts(files[0])[-1] + 10)
        back = destination_xml(ours.uri, name, files[2], tmp_path, "to-libvirtd")
        text = open(back).read()
        open(back, "w").write(text.replace(disks[1], disks[2]))
        run("virsh", "-c", ours.uri, "migrate", "--live", "--copy-storage-all", name, libvirtd, "--xml", back)
        arrived = counts(files[1])[-1]
        wait_for_count(files[2], arrived + 10)
        assert_unbroken(*files)
        run("virsh", "-c", libvirtd, "destroy", name)
        written = disk_counts(disks[2])
        assert written == list(range(len(written))) and written[-1] >= arrived + 5, (written[-10:], arrived)
    finally:
        run("virsh", "-c", libvirtd, "destroy", name, check=False)
        run("virsh", "-c", ours.uri, "destroy", name, check=False)


def test_corral_migrate_with_progress(pair, tmp_path):
    from conftest import binary
    a, b = pair
    first, second, third = (str(tmp_path / f"{n}.log") for n in ("a", "b", "c"))
    (tmp_path / "g.xml").write_text(migrating_guest_xml("cli", first))
    run("virsh", "-c", a.uri, "create", str(tmp_path / "g.xml"))
    wait_for_count(first, 5)
    dest = destination_xml(a.uri, "cli", second, tmp_path, "cli")
    result = netns(NS_A, binary("corral"), "-c", a.tls, "migrate", "--live", "--verbose", "cli", b.tls, "--xml", dest)
    assert "migrate: 100%" in result.stderr and "Domain 'cli' migrated to" in result.stdout
    wait_for_count(second, counts(first)[-1] + 5)
    back = destination_xml(b.uri, "cli", third, tmp_path, "cli-back")
    netns(NS_B, binary("corral"), "-c", b.tls, "migrate", "--live", "--p2p", "--tunnelled", "cli", a.tls, "--xml", back)
    assert run("virsh", "-c", a.uri, "domstate", "--reason", "cli").stdout.strip() == "running (migrated)"
    wait_for_count(third, counts(second)[-1] + 5)
    assert_unbroken(first, second, third)
    run("virsh", "-c", a.uri, "destroy", "cli")


def test_a_client_that_goes_away_mid_migration_leaves_nothing_waiting(daemon, tmp_path):
    """A client-managed migration's client dies after Prepare: the destination's waiting QEMU
    goes with its connection, as libvirtd's does."""
    client = RawClient(daemon.socket)
    client.open()
    xml = migrating_guest_xml("orphan", str(tmp_path / "o.log"))
    params = struct.pack(">I", 1) + typed_string("destination_xml", xml)
    header, payload = client.call(REMOTE, 303, params + struct.pack(">I", 0) + struct.pack(">I", 1))  # LIVE
    assert header["status"] == 0, parse_error(payload)
    assert run("virsh", "-c", daemon.uri, "domstate", "--reason", "orphan").stdout.strip() == "paused (migrating)"
    assert "Incoming migration" in run("virsh", "-c", daemon.uri, "domjobinfo", "orphan").stdout
    client.close()
    wait_for(lambda: "orphan" not in run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout, timeout=20, what="the abandoned guest to go")
    assert "incoming migration abandoned" in daemon.log_text()
    assert daemon.alive()
