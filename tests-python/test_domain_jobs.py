"""One owner per domain, with jobs (issue 10): clients racing define, undefine, start, destroy
and dumpxml on the same names never get two QEMUs for one guest, an orphaned QEMU, a definition
on disk that is not a persistent domain, or a call longer than the job timeout."""
import os
import random
import threading
import time

import libvirt

from guest import definition_files, domain_xml, wait_for

NAMES = [f"storm{i}" for i in range(4)]
JOB_TIMEOUT = 30


def qemus_of(daemon):
    """{guest name: [pids]} of the QEMU processes this daemon started (their argv names its run dir)."""
    found = {}
    run_dir = os.path.join(daemon.dir, "run")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"qemu-system-x86_64") or not any(run_dir.encode() in a for a in argv):
            continue
        name = argv[argv.index(b"-name") + 1].decode().split(",")[0].removeprefix("guest=")
        found.setdefault(name, []).append(int(pid))
    return found


def state_of(daemon):
    conn = libvirt.open(daemon.uri)
    try:
        active = sorted(d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
        persistent = sorted(d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT))
    finally:
        conn.close()
    # The files follow the answers a moment later (the daemon's journal holds them first).
    try:
        wait_for(lambda: [f[:-4] for f in definition_files(os.path.join(daemon.dir, "state"))] == persistent, 5, "the definitions' files")
    except AssertionError:
        pass
    on_disk = [f[:-4] for f in definition_files(os.path.join(daemon.dir, "state"))]
    return active, persistent, on_disk


def check_consistent(daemon):
    active, persistent, on_disk = state_of(daemon)
    qemus = qemus_of(daemon)
    assert all(len(pids) == 1 for pids in qemus.values()), f"more than one QEMU for a guest: {qemus}"
    assert sorted(qemus) == active, f"QEMUs {qemus} but running domains {active}"
    assert on_disk == persistent, f"definitions on disk {on_disk} but persistent domains {persistent}"
    return active, persistent


def test_racing_clients_keep_one_qemu_per_guest(daemon, tmp_path):
    xml = {name: domain_xml(name, str(tmp_path / f"{name}.log")) for name in NAMES}
    deadline = time.time() + 20
    durations, unexpected, done = [], [], []
    lock = threading.Lock()

    def client(seed):
        rng = random.Random(seed)
        conn = libvirt.open(daemon.uri)
        calls = 0
        while time.time() < deadline:
            name, op = rng.choice(NAMES), rng.choice(["define", "define", "undefine", "start", "start", "destroy", "dumpxml"])
            started = time.time()
            try:
                if op == "define":
                    conn.defineXML(xml[name])
                else:
                    dom = conn.lookupByName(name)
                    {"undefine": dom.undefine, "start": dom.create, "destroy": dom.destroy, "dumpxml": lambda: dom.XMLDesc(0)}[op]()
            except libvirt.libvirtError as e:
                # The expected refusals of a race: gone, already running, not running, taken.
                message = str(e)
                if not any(words in message for words in ["no domain with matching", "already running", "not running",
                                                          "already exists with uuid", "cannot undefine transient",
                                                          "already defined with uuid", "Domain not found"]):
                    with lock:
                        unexpected.append(f"{op} {name}: {message}")
            with lock:
                durations.append(time.time() - started)
            calls += 1
        conn.close()
        with lock:
            done.append(calls)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOB_TIMEOUT + 60)
    assert len(done) == 8, "a client hung"
    assert daemon.alive()
    assert not unexpected, unexpected[:10]
    assert sum(done) > 100 and max(durations) < JOB_TIMEOUT + 5, (sum(done), max(durations))
    time.sleep(1)  # guests whose QEMU is exiting finish their clean-up
    active, persistent = check_consistent(daemon)

    # A daemon killed and started again finds the same state.
    daemon.restart(kill=True)
    assert check_consistent(daemon) == (active, persistent)

    conn = libvirt.open(daemon.uri)
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        dom.destroy()
    conn.close()
    assert qemus_of(daemon) == {}


def test_define_over_a_running_domain_is_the_next_boot(daemon, tmp_path):
    conn = libvirt.open(daemon.uri)
    dom = conn.defineXML(domain_xml("upd", str(tmp_path / "s.log")))
    dom.create()
    assert dom.isUpdated() == 0
    changed = domain_xml("upd", str(tmp_path / "s.log")).replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>96</memory>")
    conn.defineXML(changed.replace("<name>upd</name>", f"<name>upd</name><uuid>{dom.UUIDString()}</uuid>"))
    assert dom.isUpdated() == 1
    assert "<memory unit='KiB'>131072</memory>" in dom.XMLDesc(0)
    assert "<memory unit='KiB'>98304</memory>" in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    # Undefining it while it runs makes it transient: it keeps running and goes when it stops.
    dom.undefine()
    assert dom.isActive() and not dom.isPersistent()
    dom.destroy()
    assert "upd" not in [d.name() for d in conn.listAllDomains()]
    conn.close()


def test_create_over_an_inactive_persistent_domain_runs_that_definition_once(daemon, tmp_path):
    """libvirt's rule (libvirt-tck 081-unique-id-create): the same name and UUID as an inactive
    persistent domain starts it with the given XML for this run; while it runs, a second create
    is refused; once stopped, it is the persistent definition again."""
    conn = libvirt.open(daemon.uri)
    persistent = domain_xml("twice", str(tmp_path / "s.log"))
    dom = conn.defineXML(persistent)
    uuid = dom.UUIDString()
    live = persistent.replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>96</memory>")
    live = live.replace("<name>twice</name>", f"<name>twice</name><uuid>{uuid}</uuid>")
    created = conn.createXML(live, 0)
    assert created.UUIDString() == uuid and created.isActive() and created.isPersistent()
    assert "<memory unit='KiB'>98304</memory>" in created.XMLDesc(0)
    assert "<memory unit='KiB'>131072</memory>" in created.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        conn.createXML(live, 0)
        raise AssertionError("a second create of a running domain succeeded")
    except libvirt.libvirtError as error:
        assert error.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
        assert "domain 'twice' is already active" in str(error)
    created.destroy()
    again = conn.lookupByName("twice")
    assert not again.isActive() and again.isPersistent()
    assert "<memory unit='KiB'>131072</memory>" in again.XMLDesc(0)
    again.undefine()
    conn.close()
