"""virtiofs shares on real guests: corrald starts virtiofsd (the host's, found from its vhost-user
descriptor, or the one <binary path> names) on a socket it listens on before QEMU starts; the
guest mounts the share, reads the host's file and writes its own; the settings of <binary>
reach virtiofsd; virtiofsd ends with the guest, also after a daemon restart; and a share
whose directory is missing, or a QEMU that fails, leaves nothing running."""
import os
import time

from conftest import run
from guest import domain_xml, wait_for

SHARED_MEMORY = "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"


def share(directory, tag, binary=""):
    return f"""<filesystem type='mount'>
      <driver type='virtiofs'/>{binary}
      <source dir='{directory}'/>
      <target dir='{tag}'/>
    </filesystem>"""


def parent_pid(pid):
    """The parent of `pid`, or None once it has gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def virtiofsd_processes(source):
    """(pid, argv) of each virtiofsd serving `source` (with the namespace sandbox, virtiofsd runs
    in a child of its own; that child is not counted)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if words and words[0].endswith("virtiofsd") and any(w.startswith(f"source={source}") for w in words):
            found.append((int(entry), words))
    pids = {pid for pid, _ in found}
    return [(pid, words) for pid, words in found if parent_pid(pid) not in pids]


def define_and_start(daemon, tmp_path, name, devices, cmdline_extra=""):
    serial = str(tmp_path / f"{name}.log")
    xml = domain_xml(name, serial, extra=SHARED_MEMORY, devices=devices)
    xml = xml.replace("panic=-1</cmdline>", f"panic=-1 {cmdline_extra}</cmdline>")
    (tmp_path / f"{name}.xml").write_text(xml)
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))
    return serial, run("virsh", "-c", daemon.uri, "start", name, check=False)


def serial_text(serial):
    return open(serial, errors="replace").read() if os.path.exists(serial) else ""


def test_guest_reads_and_writes_a_share_and_virtiofsd_ends_with_it(daemon, tmp_path):
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "hello.txt").write_text("hello from the host\n")
    run_dir = os.path.join(daemon.dir, "run", "domains", "sharing")
    try:
        serial, started = define_and_start(daemon, tmp_path, "sharing", share(exported, "hostshare"), "corral.virtiofs=hostshare")
        assert started.returncode == 0, started.stderr
        # Started by the daemon from the host's descriptor, with the socket QEMU uses.
        [(pid, argv)] = virtiofsd_processes(exported)
        assert argv[0] == "/usr/lib/qemu/virtiofsd"
        assert argv[1].startswith("--fd=") and argv[2:] == ["-o", f"source={exported}"]
        assert os.path.exists(os.path.join(run_dir, "fs0-fs.sock"))
        wait_for(lambda: "CORRAL-VIRTIOFS-WROTE" in serial_text(serial) or "CORRAL-VIRTIOFS-FAILED" in serial_text(serial),
                 timeout=90, what="the guest to use its share")
        text = serial_text(serial)
        assert "CORRAL-VIRTIOFS-READ hello from the host" in text, text
        assert (exported / "from-guest.txt").read_text() == "written by the guest\n"
        # virtiofsd's own output goes to its log beside QEMU's.
        assert "--fd=" in open(os.path.join(run_dir, "fs0-virtiofsd.log")).read()
        # A daemon killed and started again still ends the share's virtiofsd with the guest.
        daemon.restart(kill=True)
        run("virsh", "-c", daemon.uri, "destroy", "sharing")
        wait_for(lambda: not virtiofsd_processes(exported), timeout=10, what="virtiofsd to end")
        assert not os.path.exists(os.path.join(run_dir, "fs0-fs.sock"))
        assert not os.path.exists(os.path.join(run_dir, "fs0-fs.pid"))
        # And a second run serves the share again.
        started = run("virsh", "-c", daemon.uri, "start", "sharing", check=False)
        assert started.returncode == 0, started.stderr
        assert len(virtiofsd_processes(exported)) == 1
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "sharing", check=False)
    wait_for(lambda: not virtiofsd_processes(exported), timeout=10, what="virtiofsd to end")


def test_binary_settings_reach_virtiofsd(daemon, tmp_path):
    exported = tmp_path / "with,comma"
    exported.mkdir()
    (exported / "hello.txt").write_text("settings\n")
    binary = """
      <binary path='/usr/lib/qemu/virtiofsd' xattr='on'>
        <cache mode='none'/><sandbox mode='chroot'/><lock posix='off' flock='on'/><thread_pool size='4'/>
      </binary>"""
    try:
        serial, started = define_and_start(daemon, tmp_path, "tuned", share(exported, "tuned", binary), "corral.virtiofs=tuned")
        assert started.returncode == 0, started.stderr
        [(_, argv)] = virtiofsd_processes(str(exported).replace(",", "\\,"))
        # The comma in the directory is escaped for FUSE's option parser.
        escaped = str(exported).replace(",", "\\,")
        assert argv[2:] == ["-o", f"source={escaped},cache=none,sandbox=chroot,xattr,flock,no_posix_lock", "--thread-pool-size=4"]
        wait_for(lambda: "CORRAL-VIRTIOFS-" in serial_text(serial), timeout=90, what="the guest to use its share")
        assert "CORRAL-VIRTIOFS-READ settings" in serial_text(serial)
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "tuned", check=False)


def test_missing_directory_and_failing_qemu_leave_nothing_running(daemon, tmp_path):
    missing = tmp_path / "missing"
    _, started = define_and_start(daemon, tmp_path, "nodir", share(missing, "gone"))
    assert started.returncode != 0
    assert f"the virtiofs export directory '{missing}' does not exist" in started.stderr
    assert "shut off" in run("virsh", "-c", daemon.uri, "domstate", "nodir").stdout

    # A QEMU that refuses its command line: the virtiofsd started for it is stopped.
    exported = tmp_path / "exported"
    exported.mkdir()
    serial = str(tmp_path / "broken.log")
    xml = domain_xml("broken", serial, extra=SHARED_MEMORY, devices=share(exported, "broken"),
                     namespace="<qemu:commandline><qemu:arg value='-no-such-option'/></qemu:commandline>")
    (tmp_path / "broken.xml").write_text(xml)
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "broken.xml"))
    started = run("virsh", "-c", daemon.uri, "start", "broken", check=False)
    assert started.returncode != 0 and "no-such-option" in started.stderr
    wait_for(lambda: not virtiofsd_processes(exported), timeout=10, what="virtiofsd to be stopped")
    run_dir = os.path.join(daemon.dir, "run", "domains", "broken")
    assert not [f for f in os.listdir(run_dir) if f.endswith("-fs.sock") or f.endswith("-fs.pid")]
    assert daemon.alive()
